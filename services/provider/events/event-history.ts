import type { EventAttributes } from '../subscriptions/subscription';

/** A published event as the provider keeps it: attributes to match on, and its encoded bytes. */
export interface RetainedEvent extends EventAttributes {
  readonly sequence: number;
  readonly topic: string;
  readonly tokens: readonly string[];
  readonly bytes: Uint8Array;
  readonly storedAt: number;
}

export interface HistoryLimits {
  readonly historyMaxEvents: number;
  readonly historyMaxBytes: number;
  readonly historyMaxAgeMs: number;
}

/**
 * The recent events, bounded by count, bytes and age, for consumers that resume after a break.
 * Sequences are contiguous, so a sequence maps to its slot by subtraction. Age is enforced whenever the
 * history is appended to or read, and by a periodic `evictExpired`, so an expired event is never served.
 */
export class EventHistory {
  private events: RetainedEvent[] = [];
  private head = 0;
  private totalBytes = 0;

  constructor(
    private readonly limits: HistoryLimits,
    private readonly now: () => number = Date.now,
  ) {}

  get bytes(): number {
    return this.totalBytes;
  }

  get size(): number {
    return this.events.length - this.head;
  }

  /** The oldest retained sequence, or undefined when nothing is retained. */
  get firstSequence(): number | undefined {
    this.evictExpired(this.now());
    return this.size > 0 ? this.events[this.head].sequence : undefined;
  }

  append(event: RetainedEvent): void {
    if (this.limits.historyMaxEvents === 0 || this.limits.historyMaxAgeMs === 0) return;
    this.events.push(event);
    this.totalBytes += event.bytes.length;
    while (this.size > this.limits.historyMaxEvents || this.totalBytes > this.limits.historyMaxBytes) this.dropOldest();
    this.evictExpired(event.storedAt);
  }

  /** Drops everything, e.g. before a jump in sequences, so retained sequences stay contiguous. */
  clear(): void {
    this.events = [];
    this.head = 0;
    this.totalBytes = 0;
  }

  evictExpired(now: number): void {
    const oldest = now - this.limits.historyMaxAgeMs;
    while (this.size > 0 && this.events[this.head].storedAt < oldest) this.dropOldest();
  }

  /**
   * The oldest retained event with sequence ≥ from. Each call re-checks the limits, so a slow reader
   * never gets an event the history has dropped.
   */
  at(from: number): RetainedEvent | undefined {
    const first = this.firstSequence;
    if (first === undefined) return undefined;
    const i = this.head + Math.max(0, from - first);
    return i < this.events.length ? this.events[i] : undefined;
  }

  /** The newest retained sequence, or undefined when nothing is retained. */
  get lastSequence(): number | undefined {
    return this.size > 0 ? this.events[this.events.length - 1].sequence : undefined;
  }

  private dropOldest(): void {
    const event = this.events[this.head];
    this.events[this.head] = undefined as unknown as RetainedEvent;
    this.head++;
    this.totalBytes -= event.bytes.length;
    // Compact once the dead prefix dominates, so the array never grows without bound.
    if (this.head > 1024 && this.head * 2 > this.events.length) {
      this.events = this.events.slice(this.head);
      this.head = 0;
    }
  }
}
