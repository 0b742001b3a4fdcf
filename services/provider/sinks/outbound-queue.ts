import type { OpenSinkResponse } from '../../../shared/gen/tether/v1/sink';
import { framedSize } from './wire-size';

/** An event bound for one sink: its encoded bytes (shared by every sink) and the sink's matching subscriptions. */
export interface QueuedDelivery {
  readonly eventBytes: Uint8Array;
  readonly subscriptionIds: readonly string[];
  /** Its real size inside an EventBatch (tag, length and body). */
  readonly size: number;
  /** Replayed from the log (not counted against the live bounds) rather than live. */
  replay: boolean;
}

/** A control reply, encoded once when queued so its size is exact. */
export interface EncodedControl {
  readonly control: OpenSinkResponse;
  readonly bytes: Uint8Array;
}

/** What the sink writes: a batch of deliveries, or a control message in order with them. */
export type Outbound = { readonly batch: readonly QueuedDelivery[] } | EncodedControl;

// A delivery is queued as itself (no wrapper object per event and sink: this is the hot path).
type Item = QueuedDelivery | EncodedControl;

export interface QueueLimits {
  /** Live deliveries queued; past it the sink is a slow consumer. */
  readonly maxEvents: number;
  /** Bytes of live deliveries queued. */
  readonly maxBytes: number;
  readonly batchMaxEvents: number;
  readonly batchMaxBytes: number;
}

/** The EventBatch wrapper around a batch: OpenSinkResponse tag plus a length of at most 5 bytes. */
export const BATCH_OVERHEAD = 6;

/**
 * One sink's outbound queue, in write order. Live deliveries are bounded in count and bytes: `pushLive`
 * refuses rather than grows, and the caller closes the sink as a slow consumer. Replayed deliveries are
 * pulled in only when the queue is short, so they never count against that bound. Control replies are
 * counted apart: their bound is enforced by pausing the request stream, never by closing the sink.
 */
export class OutboundQueue {
  private items: Item[] = [];
  private head = 0;
  private liveCount = 0;
  private liveBytes = 0;
  private controlCount = 0;
  private replayCount = 0;

  constructor(private readonly limits: QueueLimits) {}

  get depth(): number {
    return this.items.length - this.head;
  }

  /** Bytes of queued deliveries (live and replayed). */
  get bytes(): number {
    return this.liveBytes;
  }

  get controls(): number {
    return this.controlCount;
  }

  get replays(): number {
    return this.replayCount;
  }

  /** False when the delivery would exceed a live bound; nothing is queued then. */
  pushLive(delivery: QueuedDelivery): boolean {
    if (this.liveCount + 1 > this.limits.maxEvents || this.liveBytes + delivery.size > this.limits.maxBytes) return false;
    delivery.replay = false;
    this.items.push(delivery);
    this.liveCount++;
    this.liveBytes += delivery.size;
    return true;
  }

  pushReplay(delivery: QueuedDelivery): void {
    delivery.replay = true;
    this.items.push(delivery);
    this.replayCount++;
  }

  pushControl(control: EncodedControl): void {
    this.items.push(control);
    this.controlCount++;
  }

  /**
   * The next message to write: one control message, or a run of deliveries within the batch bounds and
   * `maxMessageBytes`. A lone delivery may exceed batchMaxBytes (an event near the event limit) but
   * never `maxMessageBytes`: the sink splits deliveries that would.
   */
  take(maxMessageBytes: number): Outbound | undefined {
    if (this.depth === 0) return undefined;
    const first = this.items[this.head];
    if ('control' in first) {
      this.advance();
      this.controlCount--;
      return first;
    }
    const budget = Math.min(this.limits.batchMaxBytes, maxMessageBytes) - BATCH_OVERHEAD;
    const batch: QueuedDelivery[] = [];
    let bytes = 0;
    while (this.depth > 0 && batch.length < this.limits.batchMaxEvents) {
      const item = this.items[this.head];
      if ('control' in item) break;
      const size = framedSize(item.size);
      if (batch.length > 0 && bytes + size > budget) break;
      batch.push(item);
      bytes += size;
      this.advance();
      if (item.replay) this.replayCount--;
      else {
        this.liveCount--;
        this.liveBytes -= item.size;
      }
    }
    return { batch };
  }

  clear(): void {
    this.items = [];
    this.head = 0;
    this.liveCount = 0;
    this.liveBytes = 0;
    this.controlCount = 0;
    this.replayCount = 0;
  }

  private advance(): void {
    this.items[this.head] = undefined as unknown as Item;
    this.head++;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
