import { status } from '@grpc/grpc-js';
import { CLOSE_REASONS, type CloseReason } from '../../../shared/close-reason';
import { OpenSinkResponse, type ResumeGap } from '../../../shared/gen/tether/v1/sink';
import { truncateBytes } from '../../../shared/text-bounds';
import type { Scheduler } from '../scheduler';
import type { Identity } from '../security/identity';
import type { Subscription, SubscriptionOwner } from '../subscriptions/subscription';
import { OutboundQueue, type QueueLimits, type QueuedDelivery, BATCH_OVERHEAD } from './outbound-queue';
import type { ReplayCursor, ReplaySource } from './replay-cursor';
import type { SinkStream } from './sink-stream';
import { deliveryBodySize, framedSize, stringFieldSize } from './wire-size';

export type SinkSubscription = Subscription<Sink>;

/**
 * open: accepts subscriptions and events. closing: its stream ended and the reason is being classified
 * (at most the classification window): it accepts and delivers nothing but still owns its subscriptions.
 * closed: owns nothing.
 */
export type SinkState = 'open' | 'closing' | 'closed';

/** What a sink needs from the provider: the registry it registers in, and who records its reclaim. */
export interface SinkHooks {
  add(sub: SinkSubscription): void;
  remove(sub: SinkSubscription): void;
  /** All of a closed sink's subscriptions at once. */
  retire(subs: SinkSubscription[]): void;
  closed(sink: Sink, reason: CloseReason, subscriptionCount: number, detectedAt: number): void;
}

export interface SinkIdentity {
  readonly id: string;
  readonly consumerName: string;
  readonly peer: string;
  /** Who opened it: the subject, its allow-lists and until when its credentials hold. */
  readonly caller: Identity;
}

export interface SinkLimits extends QueueLimits {
  /** The largest message this sink may be sent: the consumer's receive limit. */
  readonly maxMessageBytes: number;
  /** Control replies queued before the sink stops reading requests. */
  readonly maxControlReplies: number;
  /** Retained events a replay reads per turn, so a long resume never stalls the provider. */
  readonly replayScanPerTurn: number;
}

export interface CloseDetail {
  readonly code?: status;
  readonly message?: string;
}

/**
 * One consumer's sink: its subscriptions, its bounded outbound queue and its stream. A subscription is
 * registered only through `register`, which refuses unless the sink is open, and every way a sink ends
 * goes through `close(reason)` once, releasing all it owns whatever state its stream is in.
 */
export class Sink implements SubscriptionOwner {
  private currentState: SinkState = 'open';
  closeReason: CloseReason | undefined;
  private readonly subs = new Map<string, SinkSubscription>();
  readonly openedAt: number;
  /** Last sign of life from the consumer: a message, a drain, or bytes read on its socket. */
  lastActivity: number;
  lastWriteAt: number;
  lastBytesRead = -1;
  /** When the stream last refused a write and is waiting for 'drain'; null when it flows. */
  blockedSince: number | null = null;
  private flushScheduled = false;
  private requestsPaused = false;
  private readonly queue: OutboundQueue;
  private readonly cursors: ReplayCursor[] = [];

  constructor(
    readonly identity: SinkIdentity,
    private readonly stream: SinkStream,
    private readonly limits: SinkLimits,
    private readonly hooks: SinkHooks,
    private readonly scheduler: Scheduler,
    private readonly replaySource: ReplaySource,
  ) {
    this.queue = new OutboundQueue(limits);
    this.openedAt = scheduler.now();
    this.lastActivity = this.openedAt;
    this.lastWriteAt = this.openedAt;
  }

  get id(): string {
    return this.identity.id;
  }

  get state(): SinkState {
    return this.currentState;
  }

  /** True once the sink is no longer open: the router and the index skip it. */
  get closed(): boolean {
    return this.currentState !== 'open';
  }

  get subscriptionCount(): number {
    return this.subs.size;
  }

  get maxMessageBytes(): number {
    return this.limits.maxMessageBytes;
  }

  subscription(id: string): SinkSubscription | undefined {
    return this.subs.get(id);
  }

  subscriptions(): IterableIterator<SinkSubscription> {
    return this.subs.values();
  }

  get queueDepth(): number {
    return this.queue.depth;
  }

  get queueBytes(): number {
    return this.queue.bytes;
  }

  get replaying(): boolean {
    return this.cursors.length > 0;
  }

  touch(now = this.scheduler.now()): void {
    this.lastActivity = now;
  }

  /** Registers a subscription built for this sink; false (and nothing registered) unless the sink is open. */
  register(sub: SinkSubscription): boolean {
    if (this.currentState !== 'open' || sub.owner !== this || this.subs.has(sub.id)) return false;
    this.subs.set(sub.id, sub);
    this.hooks.add(sub);
    return true;
  }

  unregister(id: string): boolean {
    const sub = this.subs.get(id);
    if (!sub || this.currentState !== 'open') return false;
    this.subs.delete(id);
    for (const cursor of this.cursors) cursor.drop(sub);
    this.hooks.remove(sub);
    return true;
  }

  /**
   * Queues a live event for the subscriptions it matched. Those still being replayed are skipped: their
   * cursor reads this event from the log. A full queue closes the sink as a slow consumer.
   */
  deliver(eventBytes: Uint8Array, ids: readonly string[]): void {
    if (this.currentState !== 'open') return;
    let live = ids;
    if (this.cursors.length > 0) {
      live = ids.filter((id) => !this.cursors.some((c) => c.covers(id)));
      if (live.length === 0) return;
    }
    const size = deliveryBodySize(eventBytes.length, live);
    // The usual case, one delivery naming every id, without the array a split makes.
    const queued = this.fits(size) ? this.queue.pushLive({ eventBytes, subscriptionIds: live, size, replay: false }) : this.split(eventBytes, live).every((d) => this.queue.pushLive(d));
    if (!queued) {
      this.close('slow-consumer', this.scheduler.now(), { message: 'the outbound queue overflowed' });
      return;
    }
    this.scheduleFlush();
  }

  /** Queues a control reply in order with the events; too many waiting pauses the request stream. */
  reply(control: OpenSinkResponse): void {
    if (this.currentState !== 'open') return;
    this.queue.pushControl({ control, bytes: OpenSinkResponse.encode(control).finish() });
    if (this.queue.controls >= this.limits.maxControlReplies && !this.requestsPaused) {
      this.requestsPaused = true;
      this.stream.pauseRequests();
    }
    this.scheduleFlush();
  }

  /** Starts a resume for some subscriptions; it reads the log as the stream drains. */
  replay(cursor: ReplayCursor): void {
    if (this.currentState !== 'open') return;
    this.cursors.push(cursor);
    this.scheduleFlush();
  }

  /** The stream ended; the reason is not known yet. Nothing more is accepted or delivered. */
  beginClosing(): void {
    if (this.currentState !== 'open') return;
    this.currentState = 'closing';
    this.stream.offDrain(this.onDrain);
    this.queue.clear();
    this.dropCursors();
  }

  /**
   * The one way out. Order: mark closed, stop listening, snapshot the subscriptions, end the stream,
   * release the subscriptions, record and notify. Safe to call any number of times, in any state.
   */
  close(reason: CloseReason, detectedAt = this.scheduler.now(), detail: CloseDetail = {}): void {
    if (this.currentState === 'closed') return;
    const wasBlocked = this.blockedSince !== null;
    this.currentState = 'closed';
    this.closeReason = reason;
    this.stream.offDrain(this.onDrain);
    const subs = [...this.subs.values()];
    this.subs.clear();
    this.queue.clear();
    this.dropCursors();
    this.endStream(reason, wasBlocked, detail);
    this.hooks.retire(subs);
    this.hooks.closed(this, reason, subs.length, detectedAt);
  }

  /** A cursor may hold a reader of a durable log: release it. */
  private dropCursors(): void {
    for (const cursor of this.cursors) cursor.close();
    this.cursors.length = 0;
  }

  private endStream(reason: CloseReason, wasBlocked: boolean, detail: CloseDetail): void {
    switch (reason) {
      case 'crashed':
      case 'keepalive-timeout':
      case 'connection-lost':
        return; // the transport is already gone
      case 'client-closed':
        if (wasBlocked) this.stream.reset();
        else this.stream.finish(status.OK, '');
        return;
      case 'slow-consumer':
      case 'protocol-error':
      case 'evicted':
      case 'shutdown':
      case 'replica-lost':
      case 'credentials-expired':
      case 'revoked': {
        // A stream stuck on flow control cannot take a goodbye: reset just that stream.
        if (wasBlocked) {
          this.stream.reset();
          return;
        }
        const message = detail.message ?? CLOSE_REASONS[reason].description;
        const closing: OpenSinkResponse = { kind: { $case: 'closing', value: { reason, message, reconnect: CLOSE_REASONS[reason].reconnect } } };
        this.stream.write({ control: closing, bytes: OpenSinkResponse.encode(closing).finish() });
        this.stream.finish(detail.code ?? FINAL_STATUS[reason], message);
        return;
      }
      default:
        return assertNever(reason);
    }
  }

  /** One delivery, or several naming subsets of the ids when one would exceed the message limit. */
  private split(eventBytes: Uint8Array, ids: readonly string[]): QueuedDelivery[] {
    const size = deliveryBodySize(eventBytes.length, ids);
    const budget = this.limits.maxMessageBytes - BATCH_OVERHEAD;
    if (this.fits(size)) return [{ eventBytes, subscriptionIds: ids, size, replay: false }];
    const out: QueuedDelivery[] = [];
    const base = framedSize(eventBytes.length);
    let chunk: string[] = [];
    let chunkSize = base;
    for (const id of ids) {
      const idSize = stringFieldSize(id);
      if (chunk.length > 0 && framedSize(chunkSize + idSize) > budget) {
        out.push({ eventBytes, subscriptionIds: chunk, size: chunkSize, replay: false });
        chunk = [];
        chunkSize = base;
      }
      chunk.push(id);
      chunkSize += idSize;
    }
    out.push({ eventBytes, subscriptionIds: chunk, size: chunkSize, replay: false });
    return out;
  }

  /** Whether a delivery of this body size fits one message of the consumer's receive limit. */
  private fits(deliverySize: number): boolean {
    return framedSize(deliverySize) <= this.limits.maxMessageBytes - BATCH_OVERHEAD;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.blockedSince !== null || this.currentState !== 'open') return;
    this.flushScheduled = true;
    // Live events leave once the code that routed them is done (one message for a whole published batch,
    // no extra event-loop turn for a lone event); a backlog batches by itself while the stream is blocked.
    // A replay reads the log in steps, and between steps yields to I/O.
    if (this.cursors.length > 0) this.scheduler.defer(this.flush);
    else this.scheduler.soon(this.flush);
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    while (this.currentState === 'open' && this.blockedSince === null) {
      if (this.cursors.length > 0 && this.queue.replays < this.limits.batchMaxEvents) this.stepReplay();
      const out = this.queue.take(this.limits.maxMessageBytes);
      if (!out) {
        // A replay that scanned its budget without a match goes on next turn, never in a tight loop;
        // one waiting for the log to fetch goes on when the fetch is done.
        const cursor = this.cursors[0];
        if (cursor?.pending) cursor.whenReady(this.onReplayReady);
        else if (cursor) this.scheduleFlush();
        return;
      }
      if (this.requestsPaused && this.queue.controls * 2 < this.limits.maxControlReplies) {
        this.requestsPaused = false;
        this.stream.resumeRequests();
      }
      this.lastWriteAt = this.scheduler.now();
      if (!this.stream.write(out)) {
        this.blockedSince = this.lastWriteAt;
        this.stream.onceDrain(this.onDrain);
      }
    }
  };

  private stepReplay(): void {
    const cursor = this.cursors[0];
    const done = cursor.step(
      this.replaySource,
      this.limits.batchMaxEvents,
      this.limits.replayScanPerTurn,
      (event, ids) => {
        for (const d of this.split(event.bytes, ids)) this.queue.pushReplay(d);
      },
      (after, first) => this.reportGap(cursor.subscriptionIds, after, first, 'history no longer reaches back to the requested sequence'),
    );
    if (done) this.cursors.shift();
  }

  /** An explicit gap for some subscriptions, split if its id list would exceed the message limit. */
  reportGap(ids: readonly string[], afterSequence: number | string, firstAvailable: number, reason: string, requestedEpoch = ''): void {
    const epoch = this.replaySource.epoch;
    // Echoes are bounded: an epoch is a short id, and a longer one cannot have been this log's anyway.
    requestedEpoch = truncateBytes(requestedEpoch, MAX_EPOCH_ECHO_BYTES);
    const base: ResumeGap = {
      subscriptionIds: [],
      requestedEpoch,
      requestedAfterSequence: String(afterSequence),
      epoch: '',
      firstAvailableSequence: String(firstAvailable),
      reason,
    };
    for (const chunk of chunkIds(ids, this.limits.maxMessageBytes - 1024)) {
      this.reply({ kind: { $case: 'gap', value: { ...base, subscriptionIds: chunk, epoch, requestedEpoch: requestedEpoch || epoch } } });
    }
  }

  /** An in-band heartbeat, only to a sink with nothing queued or blocked, so a stuck sink never gains one. */
  heartbeat(): void {
    if (this.currentState !== 'open' || this.blockedSince !== null || this.queue.depth > 0) return;
    this.reply({ kind: { $case: 'heartbeat', value: { headSequence: String(this.replaySource.headSequence) } } });
  }

  /**
   * The log skipped positions this replica will never see (a shared log's retention moved past its
   * follower): every live subscription hears of it. Those being replayed find the jump themselves.
   */
  logGap(firstMissing: number, firstAvailable: number): void {
    if (this.currentState !== 'open') return;
    const ids = [...this.subs.keys()].filter((id) => !this.cursors.some((c) => c.covers(id)));
    if (ids.length > 0) this.reportGap(ids, firstMissing - 1, firstAvailable, 'the shared log no longer holds events this replica had not yet read');
  }

  private readonly onReplayReady = (): void => {
    if (this.currentState === 'open') this.scheduleFlush();
  };

  private readonly onDrain = (): void => {
    this.blockedSince = null;
    this.touch();
    this.flush();
  };
}

const MAX_EPOCH_ECHO_BYTES = 64;

/** The status a politely ended stream gets, by reason. */
const FINAL_STATUS: Record<'slow-consumer' | 'protocol-error' | 'evicted' | 'shutdown' | 'replica-lost' | 'credentials-expired' | 'revoked', status> = {
  'replica-lost': status.UNAVAILABLE,
  'slow-consumer': status.RESOURCE_EXHAUSTED,
  'protocol-error': status.FAILED_PRECONDITION,
  evicted: status.OK,
  shutdown: status.OK,
  'credentials-expired': status.UNAUTHENTICATED,
  revoked: status.UNAUTHENTICATED,
};

function assertNever(value: never): never {
  throw new Error(`unhandled close reason ${String(value)}`);
}

/** Splits ids into runs whose encoded size stays within `budget` bytes. */
export function chunkIds(ids: readonly string[], budget: number): string[][] {
  const out: string[][] = [];
  let chunk: string[] = [];
  let size = 0;
  for (const id of ids) {
    const n = stringFieldSize(id);
    if (chunk.length > 0 && size + n > budget) {
      out.push(chunk);
      chunk = [];
      size = 0;
    }
    chunk.push(id);
    size += n;
  }
  if (chunk.length > 0 || out.length === 0) out.push(chunk);
  return out;
}
