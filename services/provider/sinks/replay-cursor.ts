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
  /** Retained events with sequence ≥ from, oldest first. */
  eventsFrom(from: number): Iterable<RetainedEvent>;
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

  constructor(
    subs: readonly SinkSubscription[],
    private next: number,
  ) {
    for (const sub of subs) {
      this.index.add(sub, sub.pattern.split('.'));
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

  /** An unsubscribe during the replay. */
  drop(sub: SinkSubscription): void {
    if (this.ids.delete(sub.id)) this.index.remove(sub, sub.pattern.split('.'));
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
    }
    if (this.ids.size === 0) {
      this.next = source.headSequence + 1;
      return true;
    }
    let emitted = 0;
    let scanned = 0;
    for (const event of source.eventsFrom(this.next)) {
      if (emitted >= maxEmits || scanned >= maxScan) break;
      if (event.sequence > this.next) gap(this.next - 1, event.sequence);
      scanned++;
      this.next = event.sequence + 1;
      const ids: string[] = [];
      this.index.match(event.tokens, (sub) => {
        if (attributesMatch(sub.attributes, event)) ids.push(sub.id);
      });
      if (ids.length > 0) {
        emit(event, ids);
        emitted++;
      }
    }
    return this.next > source.headSequence;
  }
}
