import type { RetainedEvent } from '../events/event-history';
import { attributesMatch } from '../subscriptions/subscription';
import { SubscriptionIndex } from '../subscriptions/subscription-index';
import type { SinkSubscription } from './sink';

/** What a replay reads: the retained log, by sequence. The memory history is one; a durable log another. */
export interface ReplaySource {
  readonly epoch: string;
  readonly headSequence: number;
  /** The oldest sequence still retained, or headSequence + 1 when nothing is. */
  firstRetained(): number;
  /** A reader of retained events from `from` on, oldest first. */
  reader(from: number): LogReader;
  /** Resolves true once this replica's head has reached `position`, false after `timeoutMs`. */
  waitForHead(position: number, timeoutMs: number): Promise<boolean>;
}

/**
 * Reads the log a little at a time. `next` returns what is at hand now; an older part of a durable log
 * is fetched into a bounded read-ahead buffer meanwhile (`pending`), and `whenReady` says when to ask again.
 */
export interface LogReader {
  /** The next retained event at or after the reader's position, or undefined if none is at hand now. */
  next(): RetainedEvent | undefined;
  /** True while events the reader needs are being fetched. */
  readonly pending: boolean;
  /** Calls `fn` once when a fetch has finished (at once when nothing is pending). */
  whenReady(fn: () => void): void;
  close(): void;
}

/**
 * A resume in progress for some of a sink's subscriptions: a position in the log, read a little at a
 * time as the sink's stream drains. It holds a sequence number, never events, so it pins nothing; when
 * retention overtakes it, the step reports a gap and the cursor goes on from the first retained event.
 * While it runs, live events for its subscriptions are left to it (they are in the log too), so the
 * seam has no gap and no duplicate; it is done the moment it reaches the head, in the same turn.
 */
export class ReplayCursor {
  private readonly index = new SubscriptionIndex();
  private readonly ids = new Set<string>();
  private reader: LogReader | undefined;

  constructor(
    subs: readonly SinkSubscription[],
    private next: number,
  ) {
    for (const sub of subs) {
      this.index.add(sub);
      this.ids.add(sub.id);
    }
  }

  get position(): number {
    return this.next - 1;
  }

  get subscriptionIds(): string[] {
    return [...this.ids];
  }

  covers(id: string): boolean {
    return this.ids.has(id);
  }

  /** True while the log is fetching what the cursor needs next: the sink waits for `whenReady`. */
  get pending(): boolean {
    return this.reader?.pending ?? false;
  }

  whenReady(fn: () => void): void {
    if (this.reader) this.reader.whenReady(fn);
    else fn();
  }

  close(): void {
    this.reader?.close();
    this.reader = undefined;
  }

  /** An unsubscribe during the replay. */
  drop(sub: SinkSubscription): void {
    if (this.ids.delete(sub.id)) this.index.remove(sub);
  }

  /**
   * Emits matching events from the cursor on, until `maxEmits` were emitted or `maxScan` read. Whenever
   * retention has moved past the cursor (before the step, or while it reads: age is checked at every read),
   * `gap` is called with the first sequence it goes on from, before anything after it is emitted.
   * Returns true when the cursor has passed the head or has no subscriptions left.
   */
  step(
    source: ReplaySource,
    maxEmits: number,
    maxScan: number,
    emit: (event: RetainedEvent, ids: string[]) => void,
    gap: (after: number, firstAvailable: number) => void,
  ): boolean {
    const first = source.firstRetained();
    if (first > this.next) {
      gap(this.next - 1, first);
      this.next = first;
      this.close();
    }
    if (this.ids.size === 0) {
      this.next = source.headSequence + 1;
      this.close();
      return true;
    }
    let emitted = 0;
    let scanned = 0;
    this.reader ??= source.reader(this.next);
    while (emitted < maxEmits && scanned < maxScan) {
      const event = this.reader.next();
      if (!event) break;
      if (event.sequence > this.next) gap(this.next - 1, event.sequence);
      scanned++;
      this.next = event.sequence + 1;
      const ids: string[] = [];
      this.index.match(event.topic, event.tokens, (sub) => {
        if (attributesMatch(sub.attributes, event)) ids.push(sub.id);
      });
      if (ids.length > 0) {
        emit(event, ids);
        emitted++;
      }
    }
    const done = !this.reader.pending && this.next > source.headSequence;
    if (done) this.close();
    return done;
  }
}
