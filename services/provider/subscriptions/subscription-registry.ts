import { SubscriptionIndex } from './subscription-index';
import type { Subscription } from './subscription';

/**
 * The live subscriptions of all sinks. Retiring a closed sink's subscriptions is O(1) for matching (the
 * index skips subscriptions whose owner is closed) and the index memory is returned in chunks, one per
 * event-loop turn, so reclaiming 100k subscriptions never stalls delivery to everyone else.
 */
export class SubscriptionRegistry {
  private readonly index = new SubscriptionIndex();
  private live = 0;
  private readonly purgeQueue: Subscription[][] = [];
  private purgeScheduled = false;
  private purgeWaiters: Array<() => void> = [];

  constructor(private readonly purgeChunk: number) {}

  /** Subscriptions of open sinks. */
  get liveCount(): number {
    return this.live;
  }

  /** Entries still in the index, live or awaiting purge. */
  get indexedCount(): number {
    return this.index.size;
  }

  add(sub: Subscription): void {
    this.index.add(sub);
    this.live++;
  }

  remove(sub: Subscription): void {
    if (this.index.remove(sub)) this.live--;
  }

  /** All of a closed owner's subscriptions at once. */
  retire(subs: Subscription[]): void {
    this.live -= subs.length;
    if (subs.length <= this.purgeChunk && this.purgeQueue.length === 0) {
      for (const sub of subs) this.index.remove(sub);
      return;
    }
    this.purgeQueue.push(subs);
    this.schedulePurge();
  }

  match(topic: string, tokens: readonly string[], visit: (sub: Subscription) => void): void {
    this.index.match(topic, tokens, visit);
  }

  /** Resolves when every retired subscription has left the index. */
  whenPurged(): Promise<void> {
    if (this.purgeQueue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.purgeWaiters.push(resolve));
  }

  private schedulePurge(): void {
    if (this.purgeScheduled) return;
    this.purgeScheduled = true;
    setImmediate(() => this.purgeSome());
  }

  private purgeSome(): void {
    this.purgeScheduled = false;
    let budget = this.purgeChunk;
    while (budget > 0 && this.purgeQueue.length > 0) {
      const subs = this.purgeQueue[0];
      const n = Math.min(budget, subs.length);
      for (let i = 0; i < n; i++) {
        const sub = subs.pop() as Subscription;
        this.index.remove(sub);
      }
      budget -= n;
      if (subs.length === 0) this.purgeQueue.shift();
    }
    if (this.purgeQueue.length > 0) {
      this.schedulePurge();
      return;
    }
    const waiters = this.purgeWaiters;
    this.purgeWaiters = [];
    for (const w of waiters) w();
  }
}
