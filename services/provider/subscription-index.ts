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

/** A trie node: one per distinct pattern prefix. Fields are allocated only when used. */
class Node {
  children: Map<string, Node> | undefined;
  star: Node | undefined;
  /** Patterns that end exactly here. */
  subs: Bucket;
  /** Patterns that end here with '>': they match any one or more further tokens. */
  tail: Bucket;

  isEmpty(): boolean {
    return !this.children?.size && !this.star && this.subs === undefined && this.tail === undefined;
  }
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
    for (let i = 0; i < last; i++) node = step(node, tokens[i]);
    if (tokens[last] === '>') {
      node.tail = bucketAdd(node.tail, sub);
    } else {
      node = step(node, tokens[last]);
      node.subs = bucketAdd(node.subs, sub);
    }
    this.count++;
  }

  /** Removes a subscription and prunes nodes left empty. */
  remove(sub: Subscription, tokens: readonly string[]): boolean {
    const path: Node[] = [this.root];
    let node: Node | undefined = this.root;
    const last = tokens.length - 1;
    const isTail = tokens[last] === '>';
    const depth = isTail ? last : tokens.length;
    for (let i = 0; i < depth && node; i++) {
      node = tokens[i] === '*' ? node.star : node.children?.get(tokens[i]);
      if (node) path.push(node);
    }
    if (!node) return false;
    const rest = bucketDelete(isTail ? node.tail : node.subs, sub);
    if (rest === null) return false;
    if (isTail) node.tail = rest;
    else node.subs = rest;
    this.count--;
    for (let i = path.length - 1; i > 0 && path[i].isEmpty(); i--) {
      const parent = path[i - 1];
      const token = tokens[i - 1];
      if (token === '*') parent.star = undefined;
      else parent.children?.delete(token);
    }
    return true;
  }

  /** Calls `visit` for every subscription whose pattern matches the topic tokens. */
  match(tokens: readonly string[], visit: (sub: Subscription) => void): void {
    matchFrom(this.root, tokens, 0, visit);
  }
}

function step(node: Node, token: string): Node {
  if (token === '*') return (node.star ??= new Node());
  const children = (node.children ??= new Map());
  let child = children.get(token);
  if (!child) {
    child = new Node();
    children.set(token, child);
  }
  return child;
}

function matchFrom(node: Node, tokens: readonly string[], i: number, visit: (sub: Subscription) => void): void {
  if (i === tokens.length) {
    bucketVisit(node.subs, visit);
    return;
  }
  bucketVisit(node.tail, visit);
  const child = node.children?.get(tokens[i]);
  if (child) matchFrom(child, tokens, i + 1, visit);
  if (node.star) matchFrom(node.star, tokens, i + 1, visit);
}
