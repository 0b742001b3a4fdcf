import fc from 'fast-check';
import { SubscriptionIndex } from '../../services/provider/subscriptions/subscription-index';
import { suffixMatches } from '../../services/provider/subscriptions/pattern-suffix';
import type { Subscription } from '../../services/provider/subscriptions/subscription';

// The path-compressed trie must match exactly what a plain scan of every live pattern matches, after
// every add and remove, and must give back every node once its subscriptions are gone.
const owner = { closed: false };
const TOKENS = ['a', 'b', 'ab'];

/** NATS matching, the slow obvious way. */
function naiveMatch(pattern: string, topic: readonly string[]): boolean {
  const p = pattern.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return topic.length > i;
    if (i >= topic.length || (p[i] !== '*' && p[i] !== topic[i])) return false;
  }
  return p.length === topic.length;
}

function allTopics(depth: number): string[][] {
  const out: string[][] = [];
  const grow = (prefix: string[]) => {
    if (prefix.length > 0) out.push(prefix);
    if (prefix.length < depth) for (const t of TOKENS) grow([...prefix, t]);
  };
  grow([]);
  return out;
}
const TOPICS = allTopics(4);

const patternArb = fc
  .tuple(fc.array(fc.constantFrom(...TOKENS, '*'), { minLength: 0, maxLength: 4 }), fc.boolean())
  .filter(([tokens, tail]) => tokens.length > 0 || tail)
  .map(([tokens, tail]) => [...tokens, ...(tail ? ['>'] : [])].join('.'));

const command = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('add' as const), pattern: patternArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('remove-absent' as const), pattern: patternArb }) },
);

function check(index: SubscriptionIndex, live: Subscription[]): void {
  expect(index.size).toBe(live.length);
  for (const topic of TOPICS) {
    const got: string[] = [];
    index.match(topic.join('.'), topic, (s) => got.push(s.id));
    const want = live.filter((s) => naiveMatch(s.pattern, topic)).map((s) => s.id);
    expect(got.sort()).toEqual(want.sort());
  }
}

describe('subscription index (path-compressed token trie)', () => {
  test('matches what a scan of the live patterns matches, after every step', () => {
    fc.assert(
      fc.property(fc.array(command, { maxLength: 60 }), (commands) => {
        const index = new SubscriptionIndex();
        let live: Subscription[] = [];
        let next = 0;
        for (const c of commands) {
          if (c.kind === 'add') {
            const sub = { id: `s${next++}`, owner, pattern: c.pattern, attributes: null };
            index.add(sub);
            live.push(sub);
          } else if (c.kind === 'remove' && live.length > 0) {
            const sub = live[c.pick % live.length];
            expect(index.remove(sub)).toBe(true);
            live = live.filter((s) => s !== sub);
          } else if (c.kind === 'remove-absent') {
            const stranger = { id: 'x', owner, pattern: c.pattern, attributes: null };
            expect(index.remove(stranger)).toBe(false);
          }
          check(index, live);
        }
        for (const sub of live) expect(index.remove(sub)).toBe(true);
        check(index, []);
        // Nothing left behind: no exact entry, and the trie's root holds no child, leaf or bucket.
        expect(index.isEmpty).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  // A leaf keeps no tokens: the rest of its pattern is read from the string, including wildcards.
  test.each([
    ['a.b.c', ['a', 'b', 'c'], 1, true],
    ['a.b.c', ['a', 'b', 'cc'], 1, false],
    ['a.b.c', ['a', 'b'], 1, false],
    ['a.b.c', ['a', 'b', 'c', 'd'], 1, false],
    ['a.b', ['a', 'b'], 2, true],
    ['a.b', ['a', 'b', 'c'], 2, false],
    ['a.*.c', ['a', 'zz', 'c'], 1, true],
    ['a.>', ['a', 'b', 'c'], 1, true],
    ['a.>', ['a'], 1, false],
    ['a.b.>', ['a', 'b'], 2, false],
  ] as const)('suffix of %s from token %#', (pattern, topic, from, want) => {
    expect(suffixMatches(pattern, topic, from)).toBe(want);
  });
});
