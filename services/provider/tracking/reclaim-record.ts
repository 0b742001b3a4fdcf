import type { CloseReason } from '../../../shared/close-reason';

/** One reclaimed sink, as logged, counted and streamed to operators. */
export interface Reclaim {
  readonly sinkId: string;
  /** The authenticated subject that opened the sink; empty without authentication. */
  readonly subject: string;
  readonly consumerName: string;
  readonly peer: string;
  readonly subscriptionCount: number;
  readonly reason: CloseReason;
  readonly detectedAt: number;
  /** From the last sign of life to detection. */
  readonly sinceLastActivityMs: number;
  readonly sinkAgeMs: number;
  /** The replica that held the sink. */
  readonly replicaId: string;
}

/** A fixed-size window of recent detection latencies, for the p50/p99 summary. */
export class LatencyWindow {
  private readonly samples: number[] = [];
  private next = 0;
  private total = 0;

  constructor(private readonly capacity: number) {}

  add(ms: number): void {
    this.total++;
    if (this.samples.length < this.capacity) this.samples.push(ms);
    else this.samples[this.next] = ms;
    this.next = (this.next + 1) % this.capacity;
  }

  summary(): { count: number; p50: number; p99: number; max: number } {
    const sorted = [...this.samples].sort((a, b) => a - b);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
    return { count: this.total, p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? 0 };
  }
}
