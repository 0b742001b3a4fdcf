import type { Subscription } from './subscription';
import { type Bucket, bucketAdd, bucketDelete, bucketVisit } from './bucket';
import { suffixMatches } from './pattern-suffix';

/**
 * A trie node: one per pattern prefix that two or more subscriptions pass through. A prefix that only
 * one subscription passes through gets no node: that subscription sits in the child slot where the
 * paths part (a leaf), and the rest of its pattern is compared against the topic's remaining tokens
 * straight from its pattern string. Most patterns are unique, so most subscriptions cost one Map entry.
 */
class Node {
  children: Map<string, Child> | undefined;
  star: Child | undefined;
  /** Patterns that end exactly here. */
  subs: Bucket;
  /** Patterns that end here with '>': they match any one or more further tokens. */
  tail: Bucket;

  isEmpty(): boolean {
    return !this.children?.size && this.star === undefined && this.subs === undefined && this.tail === undefined;
  }

  /**
   * The one subscription this node holds, when it holds exactly one and nothing else: the node can then
   * be replaced by that subscription as a leaf in its parent's slot.
   */
  lone(): Subscription | undefined {
    const slots = (this.children?.size ?? 0) + (this.star === undefined ? 0 : 1) + (this.subs === undefined ? 0 : 1) + (this.tail === undefined ? 0 : 1);
    if (slots !== 1) return undefined;
    const only = this.subs ?? this.tail ?? this.star ?? (this.children?.values().next().value as Child);
    return only instanceof Node || only instanceof Set ? undefined : only;
  }
}

/** A child slot: a Node, or a leaf (the one subscription whose pattern passes through that slot). */
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

/** Places `sub` (pattern `tokens`) at depth `depth` below `node`, pushing leaves down where paths meet. */
function insert(node: Node, sub: Subscription, tokens: readonly string[], depth: number): void {
  for (let i = depth; ; i++) {
    if (i === tokens.length) {
      node.subs = bucketAdd(node.subs, sub);
      return;
    }
    const token = tokens[i];
    if (token === '>') {
      node.tail = bucketAdd(node.tail, sub);
      return;
    }
    const child = getChild(node, token);
    if (child === undefined) {
      setChild(node, token, sub);
      return;
    }
    if (child instanceof Node) {
      node = child;
      continue;
    }
    // Another subscription's leaf: both pass through here, so the slot becomes a node holding both.
    const next = new Node();
    setChild(node, token, next);
    insert(next, child, child.pattern.split('.'), i + 1);
    node = next;
  }
}

/**
 * A token trie over NATS-style patterns, as NATS and MQTT brokers index subscriptions: matching a topic
 * costs O(topic depth × wildcard branches + matches), independent of how many subscriptions exist.
 */
export class PatternTrie {
  private readonly root = new Node();

  get isEmpty(): boolean {
    return this.root.isEmpty();
  }

  add(sub: Subscription, tokens: readonly string[]): void {
    insert(this.root, sub, tokens, 0);
  }

  /** Removes a subscription, prunes nodes left empty and folds nodes left with one subscription back into leaves. */
  remove(sub: Subscription, tokens: readonly string[]): boolean {
    const path: Node[] = [];
    let node = this.root;
    for (let i = 0; ; i++) {
      if (i === tokens.length || tokens[i] === '>') {
        const bucket = i === tokens.length ? node.subs : node.tail;
        const rest = bucketDelete(bucket, sub);
        if (rest === null) return false;
        if (i === tokens.length) node.subs = rest;
        else node.tail = rest;
        break;
      }
      const child = getChild(node, tokens[i]);
      if (child === sub) {
        deleteChild(node, tokens[i]);
        break;
      }
      if (!(child instanceof Node)) return false;
      path.push(node);
      node = child;
    }
    // Walk back up: an empty node leaves its parent's slot; a node with one subscription becomes a leaf.
    for (let d = path.length; d > 0; d--) {
      const parent = path[d - 1];
      const token = tokens[d - 1];
      if (node.isEmpty()) deleteChild(parent, token);
      else {
        const lone = node.lone();
        if (lone === undefined) break;
        setChild(parent, token, lone);
      }
      node = parent;
    }
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
  else if (suffixMatches(child.pattern, tokens, next)) visit(child);
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
