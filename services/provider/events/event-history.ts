import type { EventAttributes } from '../subscriptions/subscription';
import { LazyRetainedEvent } from './lazy-retained-event';

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

/** An event's bytes read back for matching: sequence and topic now, attributes when a filter asks; `bytes` kept as given. */
export function retainedFromBytes(bytes: Uint8Array, storedAt: number): RetainedEvent {
  return new LazyRetainedEvent(bytes, storedAt);
}

/**
 * Bytes per slab: below malloc's mmap threshold (128 KiB), so a dropped slab's memory goes back to the
 * allocator and the next slab reuses it. 1 MiB slabs were each a fresh mmap whose pages faulted in on
 * first write: the history's copy cost 1.25 µs per event in a 200k-event profile, most of it page faults.
 */
const SLAB_BYTES = 64 * 1024;
const MIN_SLOTS = 1024;

/**
 * The recent events, bounded by count, bytes and age, for consumers that resume after a break.
 *
 * Kept so that the garbage collector does not see them one by one: each event's encoded bytes are copied
 * into large slabs (outside the JS heap), and its slab, offset, length and time go into typed arrays. No
 * object per retained event survives a scavenge, so a long history costs no GC time while it is only
 * appended to; a resume decodes the events it reads (`retainedFromBytes`), which is the rare path.
 * A slab is dropped once its last event leaves, so memory stays within the byte limit plus two slabs.
 * Slabs are never rewritten, so bytes handed to a reader stay valid for as long as it holds them.
 *
 * Sequences are contiguous, so a sequence maps to its slot by subtraction. Age is enforced whenever the
 * history is appended to or read, and by a periodic `evictExpired`, so an expired event is never served.
 */
export class EventHistory {
  private slabs: Buffer[] = [];
  /** Slab number of slabs[0]; slab numbers only grow. */
  private slabBase = 0;
  /** Bytes used in the newest slab. */
  private slabUsed = 0;
  // Slots [head, tail) of the typed arrays hold the retained events, oldest first.
  private slabOf = new Int32Array(0);
  private offsetOf = new Int32Array(0);
  private lengthOf = new Int32Array(0);
  private storedAtOf = new Float64Array(0);
  private head = 0;
  private tail = 0;
  private firstSeq = 0;
  private totalBytes = 0;

  constructor(
    private readonly limits: HistoryLimits,
    private readonly now: () => number = Date.now,
    /** Slab size; tests make it small to cross slab boundaries often. */
    private readonly slabBytes = SLAB_BYTES,
  ) {}

  get bytes(): number {
    return this.totalBytes;
  }

  get size(): number {
    return this.tail - this.head;
  }

  /** The oldest retained sequence, or undefined when nothing is retained. */
  get firstSequence(): number | undefined {
    this.evictExpired(this.now());
    return this.size > 0 ? this.firstSeq : undefined;
  }

  /** The newest retained sequence, or undefined when nothing is retained. */
  get lastSequence(): number | undefined {
    return this.size > 0 ? this.firstSeq + this.size - 1 : undefined;
  }

  /** Copies the event's bytes in; nothing of `event` itself is kept. */
  append(event: RetainedEvent): void {
    const { historyMaxEvents, historyMaxBytes, historyMaxAgeMs } = this.limits;
    if (historyMaxEvents === 0 || historyMaxAgeMs === 0) return;
    const length = event.bytes.length;
    // Contiguous sequences, always: a jump (which the logs clear for anyway) starts afresh.
    if (this.size > 0 && event.sequence !== this.firstSeq + this.size) this.clear();
    if (length > historyMaxBytes) {
      this.clear();
      return;
    }
    while (this.size >= historyMaxEvents || this.totalBytes + length > historyMaxBytes) this.dropOldest();
    if (this.size === 0) this.firstSeq = event.sequence;
    // The newest slab if the bytes fit, else a new one (its own, for an event larger than a slab).
    let newest = this.slabs[this.slabs.length - 1];
    if (!newest || this.slabUsed + length > newest.length) {
      newest = Buffer.allocUnsafe(Math.max(this.slabBytes, length));
      this.slabs.push(newest);
      this.slabUsed = 0;
    }
    const offset = this.slabUsed;
    newest.set(event.bytes, offset);
    this.slabUsed += length;
    if (this.tail === this.slabOf.length) this.makeRoom();
    this.slabOf[this.tail] = this.slabBase + this.slabs.length - 1;
    this.offsetOf[this.tail] = offset;
    this.lengthOf[this.tail] = length;
    this.storedAtOf[this.tail] = event.storedAt;
    this.tail++;
    this.totalBytes += length;
    this.evictExpired(event.storedAt);
  }

  /** Drops everything, e.g. before a jump in sequences, so retained sequences stay contiguous. */
  clear(): void {
    // A later append starts a fresh slab, never one a reader may still hold bytes of.
    this.slabs = [];
    this.slabUsed = 0;
    this.head = 0;
    this.tail = 0;
    this.totalBytes = 0;
  }

  evictExpired(now: number): void {
    const oldest = now - this.limits.historyMaxAgeMs;
    while (this.size > 0 && this.storedAtOf[this.head] < oldest) this.dropOldest();
  }

  /**
   * The oldest retained event with sequence ≥ from, decoded for matching. Each call re-checks the
   * limits, so a slow reader never gets an event the history has dropped.
   */
  at(from: number): RetainedEvent | undefined {
    const first = this.firstSequence;
    if (first === undefined) return undefined;
    const i = this.head + Math.max(0, from - first);
    if (i >= this.tail) return undefined;
    const slab = this.slabs[this.slabOf[i] - this.slabBase];
    const offset = this.offsetOf[i];
    return retainedFromBytes(slab.subarray(offset, offset + this.lengthOf[i]), this.storedAtOf[i]);
  }

  private dropOldest(): void {
    this.totalBytes -= this.lengthOf[this.head];
    this.head++;
    this.firstSeq++;
    // A slab no retained event uses any more is released (the newest stays: appends go on into it).
    const oldestSlab = this.size > 0 ? this.slabOf[this.head] : this.slabBase + this.slabs.length - 1;
    while (this.slabBase < oldestSlab && this.slabs.length > 1) {
      this.slabs.shift();
      this.slabBase++;
    }
  }

  /** Room for one more slot: compact when the dead prefix is at least half, else double. */
  private makeRoom(): void {
    const live = this.size;
    if (this.head > 0 && this.head * 2 >= this.slabOf.length) {
      this.slabOf.copyWithin(0, this.head, this.tail);
      this.offsetOf.copyWithin(0, this.head, this.tail);
      this.lengthOf.copyWithin(0, this.head, this.tail);
      this.storedAtOf.copyWithin(0, this.head, this.tail);
    } else {
      const capacity = Math.max(MIN_SLOTS, this.slabOf.length * 2);
      this.slabOf = grow(this.slabOf, new Int32Array(capacity), this.head, this.tail);
      this.offsetOf = grow(this.offsetOf, new Int32Array(capacity), this.head, this.tail);
      this.lengthOf = grow(this.lengthOf, new Int32Array(capacity), this.head, this.tail);
      this.storedAtOf = grow(this.storedAtOf, new Float64Array(capacity), this.head, this.tail);
    }
    this.head = 0;
    this.tail = live;
  }
}

function grow<T extends Int32Array | Float64Array>(from: T, to: T, head: number, tail: number): T {
  to.set(from.subarray(head, tail) as never);
  return to;
}
