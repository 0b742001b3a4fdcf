import { monitorEventLoopDelay } from 'node:perf_hooks';

const EVERY_MS = 1_000;
const KEEP = 3_600;

export interface StallSample {
  readonly at: number;
  /** Longest event-loop delay in the provider process over the last interval (from its /metrics), ms. */
  readonly providerMs: number;
  /** The same for this soak process, which hosts the proxies, the publisher and the raw clients. */
  readonly soakMs: number;
}

/**
 * Samples, once a second, how long the provider's event loop and the soak's own were blocked. A stall
 * longer than the keepalive timeout lets keepalive kill healthy connections (see GRPC-NOTES.md), so
 * every unexpected reclaim is reported with the stalls seen around it.
 */
export class StallMonitor {
  readonly samples: StallSample[] = [];
  private readonly own = monitorEventLoopDelay({ resolution: 10 });
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(
    private readonly metricsUrl: string,
    private readonly thresholdMs: number,
    private readonly onStall: (sample: StallSample) => void,
  ) {}

  start(): void {
    this.own.enable();
    this.timer = setInterval(() => void this.sample(), EVERY_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.own.disable();
  }

  max(which: 'providerMs' | 'soakMs'): number {
    return this.samples.reduce((m, s) => Math.max(m, s[which]), 0);
  }

  /** Summary figures: the worst stalls, and how many one-second samples had one longer than `ms`. */
  figures(ms: number) {
    return {
      maxProviderStallMs: this.max('providerMs'),
      maxSoakStallMs: this.max('soakMs'),
      providerStalls: this.samples.filter((s) => s.providerMs > ms).length,
      soakStalls: this.samples.filter((s) => s.soakMs > ms).length,
    };
  }

  /** The worst stalls in the `windowMs` before `at`, as text for a violation message. */
  around(at: number, windowMs = 3_000): string {
    const near = this.samples.filter((s) => s.at <= at + EVERY_MS && s.at >= at - windowMs);
    const p = Math.max(0, ...near.map((s) => s.providerMs));
    const o = Math.max(0, ...near.map((s) => s.soakMs));
    return `worst event-loop stall in the ${windowMs / 1000} s before: provider ${p.toFixed(0)} ms, soak ${o.toFixed(0)} ms`;
  }

  private async sample(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const soakMs = this.own.max / 1e6;
      this.own.reset();
      const text = await fetch(this.metricsUrl, { signal: AbortSignal.timeout(5_000) }).then((r) => r.text());
      const providerMs = Number(/^tether_provider_nodejs_eventloop_lag_max_seconds(?:\{[^}]*\})? ([0-9.e+-]+)$/m.exec(text)?.[1] ?? 0) * 1000;
      if (this.samples.length >= KEEP) this.samples.shift();
      const sample = { at: Date.now(), providerMs, soakMs };
      this.samples.push(sample);
      if (providerMs > this.thresholdMs || soakMs > this.thresholdMs) this.onStall(sample);
    } catch {
      // A missed sample is only a missed sample; the provider being unreachable shows up elsewhere.
    } finally {
      this.busy = false;
    }
  }
}
