/**
 * Wildcard patterns as sets of topics, for allow-lists. Tokens are split on '.'; '*' stands for exactly
 * one token and '>' for one or more trailing tokens (it is always last). Containment is not matching:
 * `orders.>` is not within `orders.*` (it also covers `orders.eu.created`), while `orders.*` is within
 * `orders.>` and `*.eu` is within `*.*`.
 */

/** True when the concrete topic is matched by the pattern. */
export function topicMatches(pattern: readonly string[], topic: readonly string[]): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i];
    if (p === '>') return topic.length > i;
    if (i >= topic.length) return false;
    if (p !== '*' && p !== topic[i]) return false;
  }
  return pattern.length === topic.length;
}

/**
 * True when every topic that `inner` matches is also matched by `outer`. Walks both token by token:
 * a '>' in `outer` takes whatever `inner` has left (at least one token); a '>' in `inner` can only be
 * covered by a '>' in `outer`; a '*' in `outer` covers a '*' or a literal; a literal covers only itself.
 */
export function patternContains(outer: readonly string[], inner: readonly string[]): boolean {
  for (let i = 0; ; i++) {
    const o = outer[i];
    const n = inner[i];
    if (o === '>') return n !== undefined;
    if (o === undefined || n === undefined) return o === n;
    if (n === '>') return false;
    if (o === '*') continue;
    if (n !== o) return false;
  }
}

/** A list of allowed patterns, split once. */
export class PatternList {
  private readonly entries: readonly (readonly string[])[];

  constructor(readonly patterns: readonly string[]) {
    this.entries = patterns.map((p) => p.split('.'));
  }

  get isEmpty(): boolean {
    return this.entries.length === 0;
  }

  /** Some entry matches the topic. */
  allowsTopic(topic: readonly string[]): boolean {
    return this.entries.some((e) => topicMatches(e, topic));
  }

  /** Some single entry contains the whole pattern (several entries together do not count). */
  containsPattern(pattern: readonly string[]): boolean {
    return this.entries.some((e) => patternContains(e, pattern));
  }
}
