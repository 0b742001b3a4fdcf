import type { ServerDuplexStream } from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import { CLOSE_REASONS, type CloseReason } from '../../../shared/close-reason';
import type { OpenSinkRequest, OpenSinkResponse } from '../../../shared/gen/tether/v1/sink';
import { DeliveryQueue, type Outbound, type QueueLimits, type QueuedDelivery } from './delivery-queue';
import type { SocketState } from '../tracking/socket-owner';
import type { Subscription, SubscriptionOwner } from '../subscriptions/subscription';

export type SinkCall = ServerDuplexStream<OpenSinkRequest, Outbound>;
export type SinkSubscription = Subscription<Sink>;

/** What a sink needs from the provider when it closes. */
export interface SinkHooks {
  /** Return the subscriptions to the registry. */
  release(subs: SinkSubscription[]): void;
  /** Tear down the connection under a stream that can no longer be ended politely. */
  forceRelease(peer: string): void;
  /** Record and announce the reclaim. */
  closed(sink: Sink, reason: CloseReason, subscriptionCount: number, detectedAt: number): void;
}

export interface SinkIdentity {
  readonly id: string;
  readonly consumerName: string;
  readonly peer: string;
  readonly socket: SocketState | undefined;
}

/**
 * One consumer's sink: its subscriptions, its bounded outbound queue and its stream. Every way a sink
 * ends goes through `close(reason)`, once.
 */
export class Sink implements SubscriptionOwner {
  closed = false;
  closeReason: CloseReason | undefined;
  readonly subscriptions = new Map<string, SinkSubscription>();
  readonly openedAt: number;
  /** Last sign of life from the consumer: a message, a drain, or bytes read on its socket. */
  lastActivity: number;
  lastWriteAt: number;
  lastBytesRead = -1;
  /** When the stream last refused a write and is waiting for 'drain'; null when it flows. */
  blockedSince: number | null = null;
  private flushScheduled = false;
  private readonly queue: DeliveryQueue;

  constructor(
    readonly identity: SinkIdentity,
    private readonly call: SinkCall,
    limits: QueueLimits,
    private readonly hooks: SinkHooks,
    now = Date.now(),
  ) {
    this.queue = new DeliveryQueue(limits);
    this.openedAt = now;
    this.lastActivity = now;
    this.lastWriteAt = now;
  }

  get id(): string {
    return this.identity.id;
  }

  get queueDepth(): number {
    return this.queue.depth;
  }

  get queueBytes(): number {
    return this.queue.bytes;
  }

  touch(now = Date.now()): void {
    this.lastActivity = now;
  }

  /** Queues an event; a full queue closes the sink as a slow consumer. */
  deliver(delivery: QueuedDelivery): void {
    this.enqueue(delivery);
  }

  /** Queues a control message in order with the events. */
  send(control: OpenSinkResponse): void {
    this.enqueue(control);
  }

  private enqueue(item: QueuedDelivery | OpenSinkResponse): void {
    if (this.closed) return;
    if (!this.queue.push(item)) {
      this.close('slow-consumer');
      return;
    }
    this.scheduleFlush();
  }

  /**
   * The one way out. Order: mark closed, stop listening, snapshot the subscriptions, end the stream,
   * release the subscriptions, record and notify. Safe to call any number of times.
   */
  close(reason: CloseReason, detectedAt = Date.now(), message?: string): void {
    if (this.closed) return;
    this.closed = true;
    this.closeReason = reason;
    const wasBlocked = this.blockedSince !== null;
    this.call.off('drain', this.onDrain);
    const subs = [...this.subscriptions.values()];
    this.subscriptions.clear();
    this.queue.clear();
    this.endStream(reason, wasBlocked, message);
    this.hooks.release(subs);
    this.hooks.closed(this, reason, subs.length, detectedAt);
  }

  private endStream(reason: CloseReason, wasBlocked: boolean, message: string | undefined): void {
    switch (reason) {
      case 'crashed':
      case 'keepalive-timeout':
      case 'connection-lost':
        return; // the transport is already gone
      case 'client-closed':
        if (!this.call.cancelled) this.call.end();
        return;
      case 'slow-consumer':
        // A stream stuck on flow control cannot be ended politely; only its connection can be released.
        this.hooks.forceRelease(this.identity.peer);
        return;
      case 'protocol-error':
        this.call.emit('error', { code: status.FAILED_PRECONDITION, details: message ?? 'sink protocol violated' });
        return;
      case 'evicted':
      case 'shutdown':
        if (wasBlocked) {
          this.hooks.forceRelease(this.identity.peer);
          return;
        }
        this.call.write({
          control: {
            kind: {
              $case: 'closing',
              value: { reason, message: message ?? CLOSE_REASONS[reason].description, reconnect: CLOSE_REASONS[reason].reconnect },
            },
          },
        });
        this.call.end();
        return;
    }
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.blockedSince !== null) return;
    this.flushScheduled = true;
    // Deferring to the next turn lets a burst of events leave as one batched message.
    setImmediate(this.flush);
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    while (!this.closed && this.blockedSince === null) {
      const out = this.queue.take();
      if (!out) return;
      this.lastWriteAt = Date.now();
      if (!this.call.write(out)) {
        this.blockedSince = this.lastWriteAt;
        this.call.once('drain', this.onDrain);
      }
    }
  };

  private readonly onDrain = (): void => {
    this.blockedSince = null;
    this.touch();
    this.flush();
  };
}
