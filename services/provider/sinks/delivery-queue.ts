import type { OpenSinkResponse } from '../../../shared/gen/tether/v1/sink';

/** An event bound for one sink: its encoded bytes (shared by every sink) and the sink's matching subscriptions. */
export interface QueuedDelivery {
  readonly eventBytes: Uint8Array;
  readonly subscriptionIds: string[];
}

/** What the sink writes: a batch of deliveries, or a control message in order with them. */
export type Outbound = { readonly batch: readonly QueuedDelivery[] } | { readonly control: OpenSinkResponse };

type Item = QueuedDelivery | OpenSinkResponse;

export interface QueueLimits {
  readonly maxEvents: number;
  readonly maxBytes: number;
  readonly batchMaxEvents: number;
  readonly batchMaxBytes: number;
}

function isDelivery(item: Item): item is QueuedDelivery {
  return (item as QueuedDelivery).eventBytes !== undefined;
}

function deliveryBytes(d: QueuedDelivery): number {
  return d.eventBytes.length + 16 * d.subscriptionIds.length;
}

/**
 * One sink's outbound queue, bounded in deliveries and bytes. `push` refuses instead of growing: the
 * caller closes the sink as a slow consumer. Control messages are few and small; they count against
 * the same bounds so a flood of them is bounded too.
 */
export class DeliveryQueue {
  private items: Item[] = [];
  private head = 0;
  private queuedBytes = 0;

  constructor(private readonly limits: QueueLimits) {}

  get depth(): number {
    return this.items.length - this.head;
  }

  get bytes(): number {
    return this.queuedBytes;
  }

  /** False when the item would exceed a bound; nothing is queued then. */
  push(item: Item): boolean {
    const size = isDelivery(item) ? deliveryBytes(item) : 64;
    if (this.depth + 1 > this.limits.maxEvents || this.queuedBytes + size > this.limits.maxBytes) return false;
    this.items.push(item);
    this.queuedBytes += size;
    return true;
  }

  /** The next message to write: a run of deliveries up to the batch bounds, or one control message. */
  take(): Outbound | undefined {
    if (this.depth === 0) return undefined;
    const first = this.items[this.head];
    if (!isDelivery(first)) {
      this.advance(64);
      return { control: first };
    }
    const batch: QueuedDelivery[] = [];
    let bytes = 0;
    while (this.depth > 0 && batch.length < this.limits.batchMaxEvents) {
      const item = this.items[this.head];
      if (!isDelivery(item)) break;
      const size = deliveryBytes(item);
      if (batch.length > 0 && bytes + size > this.limits.batchMaxBytes) break;
      batch.push(item);
      bytes += size;
      this.advance(size);
    }
    return { batch };
  }

  clear(): void {
    this.items = [];
    this.head = 0;
    this.queuedBytes = 0;
  }

  private advance(size: number): void {
    this.items[this.head] = undefined as unknown as Item;
    this.head++;
    this.queuedBytes -= size;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
