import { randomUUID } from 'node:crypto';
import type { EventHistory, RetainedEvent } from '../events/event-history';
import type { LogReader } from '../sinks/replay-cursor';
import type { EventLog, LogListener, PreparedBatch } from './event-log';

/**
 * The embedded log: positions assigned in this process, recent events in a bounded in-memory history.
 * Everything is synchronous, so publishing costs what it did before the seam. The epoch changes on every
 * start, because nothing survives the process.
 */
export class MemoryEventLog implements EventLog {
  readonly kind = 'memory';
  readonly epoch = randomUUID();
  readonly writable = true;
  private nextSequence = 1;
  private listener: LogListener | undefined;

  constructor(private readonly history: EventHistory) {}

  get headSequence(): number {
    return this.nextSequence - 1;
  }

  get cachedEvents(): number {
    return this.history.size;
  }

  firstRetained(): number {
    return this.history.firstSequence ?? this.nextSequence;
  }

  reader(from: number): LogReader {
    return new MemoryReader(this.history, from);
  }

  follow(listener: LogListener): void {
    this.listener = listener;
  }

  /** Encodes first (a bad event throws before anything is committed), then retains and hands on. */
  append(batch: PreparedBatch): number {
    const first = this.nextSequence;
    const events = batch.encode(first);
    this.nextSequence += events.length;
    for (const event of events) this.history.append(event);
    this.listener?.events(events);
    return first;
  }

  onWritableChange(): void {
    // Always writable.
  }

  /** Every position up to the head exists the moment it is assigned: nothing to wait for. */
  waitForHead(position: number): Promise<boolean> {
    return Promise.resolve(position <= this.headSequence);
  }

  evictExpired(now: number): void {
    this.history.evictExpired(now);
  }

  async start(): Promise<void> {}

  async stop(): Promise<void> {}
}

/** Reads the in-memory history by position: everything is at hand, nothing is ever pending. */
export class MemoryReader implements LogReader {
  readonly pending = false;

  constructor(
    private readonly history: EventHistory,
    private position: number,
  ) {}

  next(): RetainedEvent | undefined {
    const event = this.history.at(this.position);
    if (event) this.position = event.sequence + 1;
    return event;
  }

  whenReady(fn: () => void): void {
    fn();
  }

  close(): void {}
}
