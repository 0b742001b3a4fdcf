import type { ReclaimRecord, WatchReclaimsResponse } from '../../shared/gen/tether/v1/tracker';
import type { Findings } from './findings';
import type { TrackerClient } from './tracker-client';

export interface SeenReclaim {
  readonly record: ReclaimRecord;
  readonly receivedAt: number;
  /** The provider's detection time, in ms since the epoch. */
  readonly detectedAt: number;
  /** The fault kind it was attributed to. */
  readonly kind: string;
}

interface Expectation {
  readonly kind: string;
  readonly reasons: ReadonlySet<string>;
  until: number;
}

const MAX_KEPT = 100_000;
const MAX_REOPENS = 5;
const CONTEXT_DELAY_MS = 1_500;

/**
 * Follows WatchReclaims for the whole run. Every reclaim must belong to a fault the soak is injecting
 * on that consumer (by name) and carry a reason that fault allows; anything else, such as a healthy
 * neighbour's sink closing, is a violation.
 */
export class ReclaimLog {
  readonly seen: SeenReclaim[] = [];
  maxSinceLastActivityMs = 0;
  private readonly expectations = new Map<string, Expectation>();
  private readonly waiters = new Set<{ match: (r: SeenReclaim) => boolean; resolve: (r: SeenReclaim | undefined) => void }>();
  private stream: ReturnType<TrackerClient['watchReclaims']> | undefined;
  private stopped = false;
  /** Times the watch stream broke (each is a violation: records may have been missed). */
  breaks = 0;

  /** `context(at)` describes the conditions around a moment (event-loop stalls), for unexpected reclaims. */
  constructor(
    private readonly tracker: TrackerClient,
    private readonly findings: Findings,
    private readonly context: (at: number) => string = () => '',
  ) {}

  start(): void {
    const stream = this.tracker.watchReclaims();
    this.stream = stream;
    stream.on('data', (m: WatchReclaimsResponse) => m.record && this.onRecord(m.record));
    stream.on('error', (err: Error) => this.onBroken(stream, err.message));
    stream.on('end', () => this.onBroken(stream, 'stream ended'));
  }

  stop(): void {
    this.stopped = true;
    this.stream?.cancel();
    for (const w of this.waiters) w.resolve(undefined);
    this.waiters.clear();
  }

  /** From now on, reclaims of `name` with one of `reasons` belong to a fault of `kind`, until `end`. */
  expect(name: string, kind: string, reasons: readonly string[]): { end(graceMs?: number): void } {
    const e: Expectation = { kind, reasons: new Set(reasons), until: Number.POSITIVE_INFINITY };
    this.expectations.set(name, e);
    return {
      end: (graceMs = 5_000) => {
        if (this.expectations.get(name) === e) e.until = Date.now() + graceMs;
      },
    };
  }

  /** The reclaim of one sink id: already seen, or the next one within `timeoutMs`. */
  reclaimOf(sinkId: string, timeoutMs: number): Promise<SeenReclaim | undefined> {
    const match = (r: SeenReclaim) => r.record.sinkId === sinkId;
    const already = this.seen.find(match);
    if (already) return Promise.resolve(already);
    return new Promise((resolve) => {
      const waiter = { match, resolve: (r: SeenReclaim | undefined) => done(r) };
      const timer = setTimeout(() => done(undefined), timeoutMs);
      timer.unref();
      const done = (r: SeenReclaim | undefined) => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
        resolve(r);
      };
      this.waiters.add(waiter);
    });
  }

  reclaimedSinkIds(): Set<string> {
    return new Set(this.seen.map((s) => s.record.sinkId));
  }

  private onRecord(record: ReclaimRecord): void {
    const now = Date.now();
    const e = this.expectations.get(record.consumerName);
    let kind = 'unexpected';
    if (!e || now > e.until) {
      const what = `sink ${record.sinkId} of "${record.consumerName}" (${record.subscriptionCount} subscriptions) reclaimed as ${record.reason} (${record.sinceLastActivityMs.toFixed(0)} ms since its last activity) with no fault in progress on it`;
      // Reported a moment later, so the stall samples of the interval that led to it are in.
      setTimeout(() => this.findings.violate('unexpected reclaim', `${what}; ${this.context(now)}`), CONTEXT_DELAY_MS);
    } else if (!e.reasons.has(record.reason)) {
      this.findings.violate('reclaim reason', `${e.kind} on "${record.consumerName}" was reclaimed as ${record.reason}; expected ${[...e.reasons].join(' or ')}`);
      kind = e.kind;
    } else kind = e.kind;
    const seen = { record, receivedAt: now, detectedAt: Date.parse(record.detectedAt), kind };
    if (this.seen.length < MAX_KEPT) this.seen.push(seen);
    this.maxSinceLastActivityMs = Math.max(this.maxSinceLastActivityMs, record.sinceLastActivityMs);
    for (const w of [...this.waiters]) if (w.match(seen)) w.resolve(seen);
  }

  private onBroken(stream: NonNullable<ReclaimLog['stream']>, why: string): void {
    if (this.stopped || stream !== this.stream) return;
    this.stream = undefined;
    const at = Date.now();
    setTimeout(() => this.findings.violate('watch-reclaims', `the WatchReclaims stream broke (${why}); records may have been missed; ${this.context(at)}`), CONTEXT_DELAY_MS);
    if (this.breaks++ < MAX_REOPENS) this.start();
  }
}
