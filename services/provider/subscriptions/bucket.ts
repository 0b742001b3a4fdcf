import type { Subscription } from './subscription';

/**
 * Subscriptions with one exact pattern, or ending at one trie node. Most patterns are unique, so a lone
 * subscription is stored as itself and a Set is made only for the second: this halves the index's
 * memory per subscription.
 */
export type Bucket = Subscription | Set<Subscription> | undefined;

export function bucketAdd(bucket: Bucket, sub: Subscription): Bucket {
  if (bucket === undefined) return sub;
  if (bucket instanceof Set) return bucket.add(sub);
  return new Set([bucket, sub]);
}

/** Returns the bucket without `sub`, or null when `sub` was not in it. */
export function bucketDelete(bucket: Bucket, sub: Subscription): Bucket | null {
  if (bucket === sub) return undefined;
  if (!(bucket instanceof Set) || !bucket.delete(sub)) return null;
  return bucket.size === 1 ? (bucket.values().next().value as Subscription) : bucket;
}

export function bucketVisit(bucket: Bucket, visit: (sub: Subscription) => void): void {
  if (bucket === undefined) return;
  if (bucket instanceof Set) for (const sub of bucket) visit(sub);
  else visit(bucket);
}
