import type { Subscription } from './subscription';

/**
 * Subscriptions ending at one trie node. Most patterns are unique, so a lone subscription is stored
 * as itself and a Set is made only for the second: this halves the index's memory per subscription.
 */
type Bucket = Subscription | Set<Subscription> | undefined;

function bucketAdd(bucket: Bucket, sub: Subscription): Bucket {
  if (bucket === undefined) return sub;
  if (bucket instanceof Set) return bucket.add(sub);
  return new Set([bucket, sub]);
}

/** Returns the bucket without `sub`, or null when `sub` was not in it. */
function bucketDelete(bucket: Bucket, sub: Subscription): Bucket | null {
  if (bucket === sub) return undefined;
  if (!(bucket instanceof Set) || !bucket.delete(sub)) return null;
  return bucket.size === 1 ? (bucket.values().next().value as Subscription) : bucket;
}

function bucketVisit(bucket: Bucket, visit: (sub: Subscription) => void): void {
  if (bucket === undefined) return;
  if (bucket instanceof Set) for (const sub of bucket) visit(sub);
  else visit(bucket);
}

/**
 * A trie node: one per distinct pattern prefix that something passes through. A prefix that is only the
 * end of one exact pattern is not given a node at all: its subscription sits in the parent's child slot
 * (a leaf), which saves a node for the common case of unique exact patterns.
 */
class Node {
  children: Map<string, Child> | undefined;
  star: Child | undefined;
  /** Patterns that end exactly here. */
  subs: Bucket;
  /** Patterns that end here with '>': they match any one or more further tokens. */
  tail: Bucket;

  isEmpty(): boolean {
    return !this.children?.size && !this.star && this.subs === undefined && this.tail === undefined;
  }
}

/** A child slot: a Node, or a leaf (the one exact-match subscription ending there). */
type Child = Node | Subscription;

function getChild(node: Node, token: string): Child | undefined {
  return token === '*' ? node.star : node.children?.get(token);
}

function setChild(node: Node, token: string, child: Child): void {
  if (token === '*') node.star = child;
  else (node.children ??= new Map()).set(token, child);
}

function deleteChild(node: Node, token: string): void {
  if (token === '*') node.star = undefined;
  else node.children?.delete(token);
}

/** The child node for `token`, created, or upgraded from a leaf, so a longer pattern can pass through. */
function descend(node: Node, token: string): Node {
  const child = getChild(node, token);
  if (child instanceof Node) return child;
  const next = new Node();
  if (child !== undefined) next.subs = child;
  setChild(node, token, next);
  return next;
}

/**
 * A token trie over NATS-style patterns, as NATS and MQTT brokers index subscriptions: matching a topic
 * costs O(topic depth × wildcard branches + matches), independent of how many subscriptions exist.
 */
export class SubscriptionIndex {
  private readonly root = new Node();
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(sub: Subscription, tokens: readonly string[]): void {
    let node = this.root;
    const last = tokens.length - 1;
    for (let i = 0; i < last; i++) node = descend(node, tokens[i]);
    const token = tokens[last];
    if (token === '>') {
      node.tail = bucketAdd(node.tail, sub);
    } else {
      const child = getChild(node, token);
      if (child === undefined) setChild(node, token, sub);
      else if (child instanceof Node) child.subs = bucketAdd(child.subs, sub);
      else {
        const next = new Node();
        next.subs = bucketAdd(child, sub);
        setChild(node, token, next);
      }
    }
    this.count++;
  }

  /** Removes a subscription and prunes nodes left empty. */
  remove(sub: Subscription, tokens: readonly string[]): boolean {
    const path: Node[] = [this.root];
    const last = tokens.length - 1;
    const isTail = tokens[last] === '>';
    let node = this.root;
    for (let i = 0; i < last; i++) {
      const child = getChild(node, tokens[i]);
      if (!(child instanceof Node)) return false;
      node = child;
      path.push(node);
    }
    if (isTail) {
      const rest = bucketDelete(node.tail, sub);
      if (rest === null) return false;
      node.tail = rest;
    } else {
      const child = getChild(node, tokens[last]);
      if (child === sub) deleteChild(node, tokens[last]);
      else if (child instanceof Node) {
        const rest = bucketDelete(child.subs, sub);
        if (rest === null) return false;
        child.subs = rest;
        if (child.isEmpty()) deleteChild(node, tokens[last]);
      } else return false;
    }
    this.count--;
    for (let i = path.length - 1; i > 0 && path[i].isEmpty(); i--) deleteChild(path[i - 1], tokens[i - 1]);
    return true;
  }

  /** Calls `visit` for every subscription whose pattern matches the topic tokens. */
  match(tokens: readonly string[], visit: (sub: Subscription) => void): void {
    matchFrom(this.root, tokens, 0, visit);
  }
}

function matchChild(child: Child | undefined, tokens: readonly string[], next: number, visit: (sub: Subscription) => void): void {
  if (child === undefined) return;
  if (child instanceof Node) matchFrom(child, tokens, next, visit);
  else if (next === tokens.length) visit(child);
}

function matchFrom(node: Node, tokens: readonly string[], i: number, visit: (sub: Subscription) => void): void {
  if (i === tokens.length) {
    bucketVisit(node.subs, visit);
    return;
  }
  bucketVisit(node.tail, visit);
  matchChild(node.children?.get(tokens[i]), tokens, i + 1, visit);
  matchChild(node.star, tokens, i + 1, visit);
}
