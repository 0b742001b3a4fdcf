import fc from 'fast-check';
import { patternContains, topicMatches } from '../services/provider/security/pattern-containment';

// Issue 10: a subscription must lie wholly within one allowed pattern. Containment, not matching.
const split = (p: string) => p.split('.');
const contains = (outer: string, inner: string) => patternContains(split(outer), split(inner));

describe('pattern containment', () => {
  test.each([
    // [allowed, requested, contained]
    ['orders.>', 'orders.>', true],
    ['orders.>', 'orders.*', true],
    ['orders.>', 'orders.eu.created', true],
    ['orders.>', 'orders.*.created', true],
    ['orders.>', 'orders', false], // '>' needs at least one more token
    ['orders.*', 'orders.>', false], // orders.> also covers orders.eu.created
    ['orders.*', 'orders.eu', true],
    ['orders.*', 'orders.*', true],
    ['orders.*', 'orders.eu.created', false],
    ['*.eu', '*.eu', true],
    ['*.*', '*.eu', true],
    ['*.eu', '*.*', false],
    ['*.*', 'orders.>', false],
    ['>', '>', true],
    ['>', 'a', true],
    ['>', '*.*.*', true],
    ['*', '>', false],
    ['a.b', 'a.b', true],
    ['a.b', 'a.c', false],
    ['a.b', 'a.*', false],
    ['a.*.c', 'a.b.c', true],
    ['a.*.c', 'a.*.>', false],
    ['a.*.>', 'a.*.c', true],
    ['a.*.>', 'a.b.c.d', true],
    ['a.b.>', 'a.*.c', false],
  ])('%s contains %s: %s', (allowed, requested, expected) => {
    expect(contains(allowed, requested)).toBe(expected);
  });

  // Brute force: every topic over a small alphabet, up to one token longer than either pattern. The
  // alphabet has a token no pattern uses ('z'), so '*' is never mistaken for a literal.
  const LITERALS = ['a', 'b'];
  const ALPHABET = [...LITERALS, 'z'];
  function topicsUpTo(depth: number): string[][] {
    const out: string[][] = [];
    let level: string[][] = [[]];
    for (let d = 1; d <= depth; d++) {
      level = level.flatMap((t) => ALPHABET.map((x) => [...t, x]));
      out.push(...level);
    }
    return out;
  }
  const TOPICS = topicsUpTo(6);
  function referenceContains(outer: string[], inner: string[]): boolean {
    return TOPICS.every((t) => !topicMatches(inner, t) || topicMatches(outer, t));
  }
  const pattern = fc
    .tuple(fc.array(fc.constantFrom(...LITERALS, '*'), { minLength: 0, maxLength: 4 }), fc.boolean())
    .map(([tokens, tail]) => (tail || tokens.length === 0 ? [...tokens, '>'] : tokens));

  test('agrees with a brute-force reference over every topic of a small alphabet', () => {
    fc.assert(
      fc.property(pattern, pattern, (outer, inner) => {
        expect(patternContains(outer, inner)).toBe(referenceContains(outer, inner));
      }),
      { numRuns: 3_000 },
    );
  });

  test('the reference itself: topicMatches agrees with the table above on concrete topics', () => {
    expect(topicMatches(split('orders.>'), split('orders.eu'))).toBe(true);
    expect(topicMatches(split('orders.>'), split('orders'))).toBe(false);
    expect(topicMatches(split('orders.*'), split('orders.eu.x'))).toBe(false);
  });
});
