import type { Consumer, JetStreamClient } from '@nats-io/jetstream';
import type { Logger } from '../../../shared/logger';
import type { RetainedEvent } from '../events/event-history';
import type { LogReader } from '../sinks/replay-cursor';
import { decodeBody, readPosition } from './batch-codec';

/** What a reader needs from the JetStream log. */
export interface JetStreamReads {
  readonly js: JetStreamClient;
  readonly stream: string;
  readonly log: Logger;
  readonly headSequence: number;
  /** Stream sequence of the last message this replica applied: everything up to it exists or was removed. */
  readonly followedSeq: number;
  readonly readAhead: number;
  /** The event at `position` from the replica's recent cache, if the cache reaches back that far. */
  cached(position: number): RetainedEvent | undefined;
  /** The stream sequence of the message holding `position` (or the first one after it). */
  seqFor(position: number): Promise<number>;
  /** A slot among the bounded concurrent readers; resolves with its release. */
  acquireSlot(): Promise<() => void>;
}

const RETRY_MS = 250;

/**
 * A resume's read of the shared log. Recent positions come from the replica's cache at once; older ones
 * from JetStream, a few messages at a time (`readAhead`) through one ephemeral ordered consumer, fetched
 * only when the sink has taken what was fetched before: the sink's flow control paces the read.
 */
export class JetStreamReader implements LogReader {
  private buffer: RetainedEvent[] = [];
  private at = 0;
  private fetching = false;
  private closed = false;
  private consumer: Consumer | undefined;
  /** The stream sequence the consumer delivers next. */
  private nextSeq = 0;
  private release: (() => void) | undefined;
  private readonly ready = new Set<() => void>();

  constructor(
    private readonly source: JetStreamReads,
    private position: number,
  ) {}

  get pending(): boolean {
    return this.fetching;
  }

  next(): RetainedEvent | undefined {
    const cached = this.source.cached(this.position);
    if (cached) {
      this.dropStream();
      this.position = cached.sequence + 1;
      return cached;
    }
    while (this.at < this.buffer.length && this.buffer[this.at].sequence < this.position) this.at++;
    if (this.at < this.buffer.length) {
      const event = this.buffer[this.at++];
      this.position = event.sequence + 1;
      return event;
    }
    if (this.position <= this.source.headSequence) this.fill();
    return undefined;
  }

  whenReady(fn: () => void): void {
    if (!this.fetching) fn();
    else this.ready.add(fn);
  }

  close(): void {
    this.closed = true;
    this.dropStream();
    this.ready.clear();
  }

  private fill(): void {
    if (this.fetching || this.closed) return;
    this.fetching = true;
    this.fetch().then(
      () => this.settle(0),
      (err: unknown) => {
        this.source.log.warn({ err: (err as Error).message, position: this.position }, 'replay read from the stream failed; retrying');
        this.dropStream();
        this.settle(RETRY_MS);
      },
    );
  }

  private settle(delayMs: number): void {
    const done = () => {
      this.fetching = false;
      const fns = [...this.ready];
      this.ready.clear();
      for (const fn of fns) fn();
    };
    if (delayMs > 0) setTimeout(done, delayMs).unref();
    else done();
  }

  private async fetch(): Promise<void> {
    if (!this.consumer) {
      this.release ??= await this.source.acquireSlot();
      if (this.closed) return this.dropStream();
      this.nextSeq = await this.source.seqFor(this.position);
      this.consumer = await this.source.js.consumers.get(this.source.stream, { opt_start_seq: this.nextSeq });
    }
    // Ask only for messages known to exist, so a fetch never waits for its expiry at the end.
    const want = Math.max(1, Math.min(this.source.readAhead, this.source.followedSeq - this.nextSeq + 1));
    const messages = await this.consumer.fetch({ max_messages: want, expires: 2_000 });
    const events: RetainedEvent[] = [];
    const now = Date.now();
    let got = 0;
    for await (const m of messages) {
      got++;
      this.nextSeq = m.seq + 1;
      const pos = readPosition(m.headers);
      if (pos && pos.first + pos.count > this.position) events.push(...decodeBody(m.data, now));
      if (got >= want) break;
    }
    if (this.closed) return this.dropStream();
    this.buffer = events;
    this.at = 0;
  }

  private dropStream(): void {
    const consumer = this.consumer;
    this.consumer = undefined;
    this.buffer = [];
    this.at = 0;
    if (consumer) consumer.delete().catch(() => undefined);
    this.release?.();
    this.release = undefined;
  }
}
