import type { Subscription } from './subscription';
import { type Bucket, bucketAdd, bucketDelete, bucketVisit } from './bucket';
import { PatternTrie } from './pattern-trie';

/** Wildcards are whole tokens and no other token may hold '*' or '>' (parsePattern), so this is exact. */
function isExact(pattern: string): boolean {
  return !pattern.includes('*') && !pattern.includes('>');
}

/**
 * All subscriptions, by pattern. Most patterns name one topic exactly: those sit in a Map keyed by the
 * pattern string the subscription already holds, so they cost one entry and a topic finds them with one
 * lookup of its own string. Only wildcard patterns go into the token trie, which stays small enough to
 * stay in cache. Adding or removing an exact pattern never splits it, so a big reclaim's purge allocates
 * nothing for most of its subscriptions.
 */
export class SubscriptionIndex {
  private readonly exact = new Map<string, Bucket>();
  private readonly wildcards = new PatternTrie();
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** True when nothing is left behind: no exact entry, no trie node. */
  get isEmpty(): boolean {
    return this.exact.size === 0 && this.wildcards.isEmpty;
  }

  add(sub: Subscription): void {
    if (isExact(sub.pattern)) this.exact.set(sub.pattern, bucketAdd(this.exact.get(sub.pattern), sub));
    else this.wildcards.add(sub, sub.pattern.split('.'));
    this.count++;
  }

  remove(sub: Subscription): boolean {
    if (isExact(sub.pattern)) {
      const rest = bucketDelete(this.exact.get(sub.pattern), sub);
      if (rest === null) return false;
      if (rest === undefined) this.exact.delete(sub.pattern);
      else this.exact.set(sub.pattern, rest);
    } else if (!this.wildcards.remove(sub, sub.pattern.split('.'))) return false;
    this.count--;
    return true;
  }

  /** Calls `visit` for every subscription whose pattern matches the topic (given whole and as tokens). */
  match(topic: string, tokens: readonly string[], visit: (sub: Subscription) => void): void {
    bucketVisit(this.exact.get(topic), visit);
    this.wildcards.match(tokens, visit);
  }
}
