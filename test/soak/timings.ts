/**
 * The provider settings the soak runs with, and the detection bounds they imply. Keepalive is short
 * (500 ms between pings) so hung and silent consumers are found in about 2 s; its timeout defaults to
 * 1500 ms rather than the tests' 500 ms because on a 2-core machine running two dozen consumers (and
 * whatever else) the provider's event loop was seen stalling 200–470 ms, and a ping timeout that does not
 * sit well above the worst stall kills healthy connections (README, "Keepalive defaults").
 */
export interface SoakTimings {
  readonly keepaliveTimeMs: number;
  readonly keepaliveTimeoutMs: number;
  readonly drainTimeoutMs: number;
  /** A hung consumer or a silent path is reclaimed within keepalive time + timeout (+ sweep and classification). */
  readonly keepaliveBoundMs: number;
  /** A killed consumer's FIN/RST is seen at once; the classification window is the only wait. */
  readonly crashBoundMs: number;
  /** Scheduling slack on a loaded 2-core machine. A reclaim later than bound + this is a violation. */
  readonly marginMs: number;
}

const SWEEP_MS = 50;
const CLASSIFY_WINDOW_MS = 100;
const HISTORY_SECONDS = 3;

export function soakTimings(keepaliveTimeoutMs: number): SoakTimings {
  const keepaliveTimeMs = 500;
  return {
    keepaliveTimeMs,
    keepaliveTimeoutMs,
    drainTimeoutMs: 1_000,
    keepaliveBoundMs: keepaliveTimeMs + keepaliveTimeoutMs + SWEEP_MS + CLASSIFY_WINDOW_MS,
    crashBoundMs: CLASSIFY_WINDOW_MS + SWEEP_MS,
    marginMs: 3_000,
  };
}

/** The provider's environment for these timings and a steady rate of `rate` events/s. */
export function providerEnv(t: SoakTimings, rate: number): Record<string, string> {
  return {
    TETHER_METRICS_PORT: '0', // scraped for the provider's event-loop delay
    TETHER_KEEPALIVE_TIME_MS: String(t.keepaliveTimeMs),
    TETHER_KEEPALIVE_TIMEOUT_MS: String(t.keepaliveTimeoutMs),
    TETHER_LIVENESS_SWEEP_MS: String(SWEEP_MS),
    TETHER_CLASSIFY_WINDOW_MS: String(CLASSIFY_WINDOW_MS),
    TETHER_SINK_DRAIN_TIMEOUT_MS: String(t.drainTimeoutMs),
    TETHER_SHUTDOWN_GRACE_MS: '1000',
    TETHER_HEARTBEAT_MS: '200',
    // About 3 s of history (and 8 MiB): a consumer away for 1.5–4 s sometimes resumes exactly, sometimes gets a ResumeGap.
    TETHER_HISTORY_MAX_EVENTS: String(Math.min(20_000, rate * HISTORY_SECONDS)),
    TETHER_HISTORY_MAX_BYTES: String(8 * 1024 * 1024),
    // Low enough that the flood client can run into it; consumers hold at most 500.
    TETHER_MAX_SUBSCRIPTIONS_PER_SINK: '1000',
  };
}
