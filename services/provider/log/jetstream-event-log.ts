import { type ConsumerMessages, type JetStreamClient, JetStreamApiCodes, JetStreamApiError, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { MsgHdrs } from '@nats-io/nats-core';
import { TetherError } from '../../../shared/errors';
import type { Logger } from '../../../shared/logger';
import type { EventHistory, RetainedEvent } from '../events/event-history';
import type { LogReader } from '../sinks/replay-cursor';
import { batchHeaders, decodeBody, encodeBody, readPosition } from './batch-codec';
import type { EventLog, LogListener, PreparedBatch } from './event-log';
import { JetStreamReader, type JetStreamReads } from './jetstream-reader';
import { StreamMeta, type StreamSettings } from './jetstream-stream';
import type { NatsLink, NatsLinkSettings } from './nats-link';

export interface JetStreamLogSettings extends NatsLinkSettings, StreamSettings {
  readonly maxPendingAppends: number;
  readonly replayReadAhead: number;
  readonly replayMaxReaders: number;
}


/** Room left in a NATS message for the batch's headers (position, count, message id, expected sequence). */
const BATCH_HEADER_ALLOWANCE = 1024;
/** Appends that lost the race for the stream's last sequence to another replica are retried this often. */
const MAX_APPEND_ATTEMPTS = 16;
/** How often the stream's first retained message is looked up (retention moves it). */
const FIRST_REFRESH_MS = 1_000;

interface LocalAppend {
  readonly first: number;
  readonly events: RetainedEvent[];
}

/**
 * The shared log: one JetStream stream, one message per published batch (see batch-codec.ts). Every
 * replica appends with JetStream's expected-last-sequence check, so positions stay dense and every
 * replica agrees on them, and follows the whole stream with one ordered consumer, handing each event to
 * the router once, in order. The replica keeps recent events in its bounded cache (the TETHER_HISTORY_*
 * settings) for resumes; older ones are read from the stream. The epoch names the stream (its name and
 * creation time), so it survives provider restarts.
 */
export class JetStreamEventLog implements EventLog, JetStreamReads {
  readonly kind = 'jetstream';
  epoch = '';
  js!: JetStreamClient;
  private meta!: StreamMeta;
  private listener: LogListener | undefined;
  private head = 0;
  followedSeq = 0;
  /** The last stream sequence and next position as this replica believes them, for appends. */
  private tail = { seq: 0, next: 1 };
  private tailGeneration = 0;
  private resyncing: Promise<void> | undefined;
  private firstPosition = 1;
  private firstSeq = 0;
  private inFlight = 0;
  private readonly local = new Map<number, LocalAppend>();
  private headWaiters: Array<{ position: number; resolve: (ok: boolean) => void }> = [];
  private following: ConsumerMessages | undefined;
  private followerGeneration = 0;
  private stopped = false;
  private refreshTimer: NodeJS.Timeout | undefined;
  private readers = 0;
  private slotWaiters: Array<() => void> = [];
  private readonly subject: string;

  constructor(
    private readonly settings: JetStreamLogSettings,
    private readonly link: NatsLink,
    private readonly cache: EventHistory,
    readonly log: Logger,
  ) {
    this.subject = `${settings.stream}.batches`;
  }

  get stream(): string {
    return this.settings.stream;
  }

  get readAhead(): number {
    return this.settings.replayReadAhead;
  }

  get headSequence(): number {
    return this.head;
  }

  get cachedEvents(): number {
    return this.cache.size;
  }

  get writable(): boolean {
    return this.link.connected && this.epoch !== '';
  }

  onWritableChange(fn: (writable: boolean) => void): void {
    this.link.onChange(() => fn(this.writable));
  }

  follow(listener: LogListener): void {
    this.listener = listener;
  }

  /** Creates the stream if this is the first replica, learns where it ends, and starts following it. */
  async start(): Promise<void> {
    const nc = await this.link.open();
    this.js = jetstream(nc, { timeout: this.settings.natsTimeoutMs });
    this.meta = new StreamMeta(await jetstreamManager(nc, { timeout: this.settings.natsTimeoutMs }), this.settings, this.subject, this.log);
    const info = await this.meta.ensure();
    this.epoch = `${this.settings.stream}@${info.created}`;
    await this.loadTail();
    this.head = this.tail.next - 1;
    this.followedSeq = this.tail.seq;
    await this.refreshFirst();
    await this.startFollower();
    this.link.onChange((up) => {
      // After an outage the ordered consumer may be gone with the server: follow anew from where we are.
      if (up && !this.stopped) void this.restartFollower('nats reconnected');
    });
    const refresh = () => {
      this.refreshTimer = setTimeout(() => {
        if (this.stopped) return;
        this.refreshFirst().catch(() => undefined).finally(refresh);
      }, FIRST_REFRESH_MS);
      this.refreshTimer.unref();
    };
    refresh();
    this.log.info({ stream: this.settings.stream, epoch: this.epoch, head: this.head, firstRetained: this.firstPosition }, 'following the shared event log');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.refreshTimer);
    for (const w of this.headWaiters.splice(0)) w.resolve(false);
    await this.following?.close().catch(() => undefined);
    await this.link.close();
  }

  firstRetained(): number {
    return Math.min(this.firstPosition, this.head + 1);
  }

  reader(from: number): LogReader {
    return new JetStreamReader(this, from);
  }

  cached(position: number): RetainedEvent | undefined {
    const first = this.cache.firstSequence;
    return first !== undefined && position >= first ? this.cache.at(position) : undefined;
  }

  evictExpired(now: number): void {
    this.cache.evictExpired(now);
  }

  waitForHead(position: number, timeoutMs: number): Promise<boolean> {
    if (position <= this.head) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = { position, resolve };
      this.headWaiters.push(waiter);
      setTimeout(() => {
        const i = this.headWaiters.indexOf(waiter);
        if (i >= 0) this.headWaiters.splice(i, 1);
        resolve(position <= this.head);
      }, timeoutMs).unref();
    });
  }

  /**
   * Answers once JetStream has stored the batch. Positions are reserved from this replica's view of the
   * stream's end, so several appends go out back to back; one that finds another replica got there first
   * is re-encoded at the new end and sent again. A retried idempotency key is answered with the positions
   * its first send got.
   */
  async append(batch: PreparedBatch): Promise<number> {
    if (!this.writable) throw TetherError.unavailable('the event log (NATS JetStream) is unreachable');
    if (this.inFlight >= this.settings.maxPendingAppends) {
      throw TetherError.unavailable(`${this.inFlight} batches are waiting for the event log; the limit is ${this.settings.maxPendingAppends}`);
    }
    this.inFlight++;
    try {
      for (let attempt = 1; ; attempt++) {
        if (this.resyncing) await this.resyncing;
        const generation = this.tailGeneration;
        const expect = this.tail.seq;
        const first = this.tail.next;
        const events = batch.encode(first);
        const body = encodeBody(events);
        // One batch is one JetStream message: a batch over NATS's message limit can never be stored, so it
        // is refused as the caller's to split (before any position is reserved), not retried as unavailable.
        const limit = (this.link.nc?.info?.max_payload ?? Infinity) - BATCH_HEADER_ALLOWANCE;
        if (body.length > limit) {
          throw TetherError.invalid(`the batch encodes to ${body.length} bytes; the event log (NATS JetStream) stores at most ${limit} bytes per batch: send fewer or smaller events per batch`);
        }
        this.tail = { seq: expect + 1, next: first + batch.count };
        this.local.set(expect + 1, { first, events });
        try {
          const ack = await this.js.publish(this.subject, body, {
            msgID: batch.idempotencyKey || undefined,
            expect: { lastSequence: expect },
            headers: batchHeaders(first, batch.count),
            timeout: this.settings.natsTimeoutMs,
          });
          if (!ack.duplicate) return first;
          // Stored before under this key: nothing new was appended, and our reservation was not used.
          this.local.delete(expect + 1);
          this.resync(generation);
          return await this.firstOf(ack.seq);
        } catch (err) {
          this.local.delete(expect + 1);
          this.resync(generation);
          if (err instanceof TetherError) throw err;
          const lostRace = err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamWrongLastSequence;
          if (!lostRace) throw TetherError.unavailable(`the event log did not store the batch: ${(err as Error).message}`);
          if (attempt >= MAX_APPEND_ATTEMPTS) throw TetherError.unavailable(`the event log stayed contended for ${attempt} attempts`);
        }
      }
    } finally {
      this.inFlight--;
    }
  }

  seqFor(position: number): Promise<number> {
    return this.meta.seqFor(position, this.firstSeq, this.followedSeq);
  }

  async acquireSlot(): Promise<() => void> {
    while (this.readers >= this.settings.replayMaxReaders) await new Promise<void>((r) => this.slotWaiters.push(r));
    this.readers++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.readers--;
      this.slotWaiters.shift()?.();
    };
  }

  /** Learns the stream's last sequence and the position after its last message. */
  private async loadTail(): Promise<void> {
    const lastSeq = (await this.meta.info()).state.last_seq;
    if (lastSeq === 0) {
      this.tail = { seq: 0, next: 1 };
      return;
    }
    const pos = await this.meta.positionOf(lastSeq);
    // An empty stream (everything aged out) keeps its last sequence but not the message: go on from
    // what this replica has seen, so positions never go back.
    this.tail = { seq: lastSeq, next: pos ? pos.first + pos.count : Math.max(this.tail.next, this.head + 1) };
  }

  /** After a failed or duplicate append the tail is unknown: one reload, shared by every append waiting. */
  private resync(generation: number): void {
    if (generation !== this.tailGeneration || this.resyncing) return;
    this.tailGeneration++;
    const attempt = async (): Promise<void> => {
      for (;;) {
        try {
          await this.loadTail();
          return;
        } catch {
          if (this.stopped) return;
          await new Promise((r) => setTimeout(r, 100).unref());
        }
      }
    };
    this.resyncing = attempt().finally(() => (this.resyncing = undefined));
  }

  private async firstOf(seq: number): Promise<number> {
    const pos = await this.meta.positionOf(seq);
    if (!pos) throw TetherError.unavailable(`the batch stored before under this idempotency key (message ${seq}) is no longer retained`);
    return pos.first;
  }

  private async refreshFirst(): Promise<void> {
    const info = await this.meta.info();
    if (`${this.settings.stream}@${info.created}` !== this.epoch) {
      this.log.error({ stream: this.settings.stream, epoch: this.epoch, created: info.created }, 'the stream was deleted and created anew: restart this replica to adopt the new epoch');
      return;
    }
    if (info.state.messages === 0) {
      this.firstSeq = info.state.last_seq + 1;
      this.firstPosition = this.head + 1;
      return;
    }
    if (info.state.first_seq === this.firstSeq) return;
    const pos = await this.meta.positionOf(info.state.first_seq);
    this.firstSeq = info.state.first_seq;
    if (pos) this.firstPosition = pos.first;
  }

  private async startFollower(): Promise<void> {
    const generation = ++this.followerGeneration;
    const consumer = await this.js.consumers.get(this.settings.stream, { opt_start_seq: this.followedSeq + 1 });
    if (generation !== this.followerGeneration || this.stopped) return;
    const messages = await consumer.consume({
      max_messages: 1_024,
      expires: 2_000,
      callback: (m) => {
        if (generation === this.followerGeneration) this.apply(m.seq, m.headers, m.data);
      },
    });
    this.following = messages;
    void messages.closed().then(
      (err) => {
        if (err && generation === this.followerGeneration) void this.restartFollower(`follower ended: ${String(err)}`);
      },
      () => undefined,
    );
  }

  private async restartFollower(why: string): Promise<void> {
    if (this.stopped) return;
    this.log.info({ why, from: this.followedSeq + 1 }, 'following the stream anew');
    const old = this.following;
    this.following = undefined;
    this.followerGeneration++;
    await old?.close().catch(() => undefined);
    for (let delay = 100; !this.stopped; delay = Math.min(delay * 2, 2_000)) {
      try {
        await this.startFollower();
        return;
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'could not follow the stream yet');
        await new Promise((r) => setTimeout(r, delay).unref());
      }
    }
  }

  /**
   * One stream message, in stream order: its events go to the cache and the router. A first position
   * beyond head + 1 means retention removed messages this replica had not read: an explicit gap.
   */
  private apply(seq: number, headers: MsgHdrs | undefined, body: Uint8Array): void {
    if (seq <= this.followedSeq) return;
    this.followedSeq = seq;
    const pos = readPosition(headers);
    if (!pos || pos.first + pos.count - 1 <= this.head) return; // not a Tether batch, or already applied
    const local = this.local.get(seq);
    this.local.delete(seq);
    let events = local && local.first === pos.first ? local.events : decodeBody(body, Date.now());
    if (pos.first > this.head + 1) {
      this.cache.clear(); // keeps the cache's positions contiguous
      this.listener?.gap(this.head + 1, pos.first);
    } else if (pos.first <= this.head) {
      events = events.filter((e) => e.sequence > this.head);
    }
    this.head = pos.first + pos.count - 1;
    if (this.tail.seq < seq) this.tail = { seq, next: this.head + 1 };
    for (const event of events) this.cache.append(event);
    this.listener?.events(events);
    if (this.headWaiters.length > 0) {
      const due = this.headWaiters.filter((w) => w.position <= this.head);
      this.headWaiters = this.headWaiters.filter((w) => w.position > this.head);
      for (const w of due) w.resolve(true);
    }
  }
}
