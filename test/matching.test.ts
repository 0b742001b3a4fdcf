import { Event } from '../shared/gen/tether/v1/event';
import { SubscriptionIndex } from '../services/provider/subscriptions/subscription-index';
import type { Subscription } from '../services/provider/subscriptions/subscription';
import { ProviderHarness } from './helpers/provider-harness';
import { SinkTestClient, event, publish, publisher } from './helpers/sink-test-client';

// Issue 2, test 7: wildcard and attribute matching; one delivery per event per sink naming every match.
const owner = { closed: false };
const sub = (id: string, pattern: string): Subscription => ({ id, owner, pattern, attributes: null });

function matches(index: SubscriptionIndex, topic: string): string[] {
  const ids: string[] = [];
  index.match(topic, topic.split('.'), (s) => ids.push(s.id));
  return ids.sort();
}

describe('subscription index (token trie)', () => {
  const patterns: Record<string, string> = {
    exact: 'orders.eu.created',
    star: 'orders.*.created',
    tail: 'orders.>',
    root: '>',
    twoStars: '*.*.created',
    midTail: 'orders.eu.>',
    other: 'payments.*',
  };
  const index = new SubscriptionIndex();
  for (const [id, p] of Object.entries(patterns)) index.add(sub(id, p));

  test.each([
    ['orders.eu.created', ['exact', 'midTail', 'root', 'star', 'tail', 'twoStars']],
    ['orders.us.created', ['root', 'star', 'tail', 'twoStars']],
    ['orders', ['root']],
    ['orders.eu', ['root', 'tail']],
    ['orders.eu.created.v2', ['midTail', 'root', 'tail']],
    ['payments.card', ['other', 'root']],
    ['payments.card.failed', ['root']],
  ])('%s matches %j', (topic, expected) => {
    expect(matches(index, topic)).toEqual(expected);
  });

  test('agrees with a linear reference matcher over random patterns, topics and removals', () => {
    let seed = 42;
    const rand = (n: number) => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) % n);
    const token = () => ['a', 'b', 'c', 'd'][rand(4)];
    const randomPattern = () => {
      const depth = 1 + rand(4);
      const parts = Array.from({ length: depth }, () => (rand(5) === 0 ? '*' : token()));
      if (rand(6) === 0) parts[depth - 1] = '>';
      return parts.join('.');
    };
    const reference = (pattern: string, topic: string) => {
      const p = pattern.split('.');
      const t = topic.split('.');
      for (let i = 0; i < p.length; i++) {
        if (p[i] === '>') return t.length > i;
        if (i >= t.length || (p[i] !== '*' && p[i] !== t[i])) return false;
      }
      return p.length === t.length;
    };
    const idx = new SubscriptionIndex();
    const live = new Set<Subscription>();
    for (let round = 0; round < 3_000; round++) {
      if (live.size > 0 && rand(3) === 0) {
        const victim = [...live][rand(live.size)];
        expect(idx.remove(victim)).toBe(true);
        live.delete(victim);
      } else {
        const s = sub(`s${round}`, randomPattern());
        idx.add(s);
        live.add(s);
      }
      if (round % 50 === 0) {
        for (let k = 0; k < 20; k++) {
          const topic = Array.from({ length: 1 + rand(5) }, token).join('.');
          const expected = [...live].filter((s) => reference(s.pattern, topic)).map((s) => s.id).sort();
          expect(matches(idx, topic)).toEqual(expected);
        }
      }
    }
    expect(idx.size).toBe(live.size);
    for (const s of live) expect(idx.remove(s)).toBe(true);
    expect(idx.size).toBe(0);
    expect(matches(idx, 'a.b.c')).toEqual([]);
  });

  test('removal prunes the trie and stops matching; removing twice is a no-op', () => {
    const idx = new SubscriptionIndex();
    const a = sub('a', 'x.*.z');
    const b = sub('b', 'x.>');
    idx.add(a);
    idx.add(b);
    expect(matches(idx, 'x.y.z')).toEqual(['a', 'b']);
    expect(idx.remove(a)).toBe(true);
    expect(idx.remove(a)).toBe(false);
    expect(matches(idx, 'x.y.z')).toEqual(['b']);
    idx.remove(b);
    expect(idx.size).toBe(0);
    expect(matches(idx, 'x.y.z')).toEqual([]);
  });
});

describe('delivery over a sink', () => {
  let h: ProviderHarness;
  beforeAll(async () => {
    h = await ProviderHarness.start();
  });
  afterAll(async () => {
    await h.expectEmpty();
    await h.stop();
  });

  test('an event matching several subscriptions of one sink is delivered once, naming each', async () => {
    const a = new SinkTestClient(h.address).open('multi').subscribe([
      { subscriptionId: 'all-orders', pattern: 'orders.>' },
      { subscriptionId: 'created', pattern: 'orders.*.created' },
      { subscriptionId: 'eu-only', pattern: 'orders.eu.created' },
      { subscriptionId: 'payments', pattern: 'payments.>' },
      { subscriptionId: 'gold', pattern: 'orders.>', attributes: { tier: 'gold', type: 'order.created' } },
    ]);
    const b = new SinkTestClient(h.address).open('other').subscribe([{ subscriptionId: 'x', pattern: 'orders.*.*' }]);
    await Promise.all([a.waitFor('ack'), b.waitFor('ack')]);
    const pub = publisher(h.address);
    const res = await publish(pub, [
      event('orders.eu.created', { type: 'order.created', extensions: { tier: 'gold' } }),
      event('orders.us.created', { type: 'order.created', extensions: { tier: 'silver' } }),
      event('payments.card.failed'),
      event('inventory.low'),
    ]);
    expect(res.sequences).toHaveLength(4);
    const got = await a.waitDeliveries(3);
    const byTopic = Object.fromEntries(got.map((d) => [d.event?.topic, [...d.subscriptionIds].sort()]));
    expect(byTopic).toEqual({
      'orders.eu.created': ['all-orders', 'created', 'eu-only', 'gold'],
      'orders.us.created': ['all-orders', 'created'],
      'payments.card.failed': ['payments'],
    });
    expect(got.map((d) => Number(d.event?.sequence))).toEqual([1, 2, 3].map((i) => Number(res.sequences[i - 1])));
    expect(got[0].event?.data).toEqual(Buffer.from('orders.eu.created'));
    const other = await b.waitDeliveries(2);
    expect(other.map((d) => d.event?.topic)).toEqual(['orders.eu.created', 'orders.us.created']);
    // Nothing more arrives for the unmatched event.
    await publish(pub, [event('orders.eu.created')]);
    await a.waitDeliveries(4);
    expect(a.deliveries()).toHaveLength(4);
    pub.close();
    a.close();
    b.close();
  });

  test('unsubscribe stops delivery for that subscription only', async () => {
    const c = new SinkTestClient(h.address).open('unsub').subscribe([
      { subscriptionId: 'a', pattern: 'u.>' },
      { subscriptionId: 'b', pattern: 'u.*' },
    ]);
    await c.waitFor('ack');
    c.unsubscribe(['a']);
    await c.waitFor('ack', 2);
    const pub = publisher(h.address);
    await publish(pub, [event('u.1')]);
    const [d] = await c.waitDeliveries(1);
    expect(d.subscriptionIds).toEqual(['b']);
    expect(h.tracker.liveSubscriptions).toBe(1);
    pub.close();
    c.close();
  });

  test('the spliced wire encoding equals the generated encoder', async () => {
    const { encodeBatch } = await import('../services/provider/sinks/sink-wire');
    const { OpenSinkResponse } = await import('../shared/gen/tether/v1/sink');
    const ev = event('w.x', { sequence: '7', id: 'id-1', extensions: { k: 'v' } });
    const bytes = Event.encode(ev).finish();
    const big = Event.encode(event('w.y', { sequence: '8', data: Buffer.alloc(70_000, 3) })).finish();
    const { deliveryBodySize } = await import('../services/provider/sinks/wire-size');
    const delivery = (eventBytes: Uint8Array, subscriptionIds: string[]) => ({ eventBytes, subscriptionIds, size: deliveryBodySize(eventBytes.length, subscriptionIds), replay: false });
    const batch = [delivery(bytes, ['s1', 'sübscription-ünicode', 'a'.repeat(127) + 'ü', 'b'.repeat(200)]), delivery(big, Array.from({ length: 200 }, (_, i) => `id-${i}`))];
    const spliced = encodeBatch(batch);
    const generated = OpenSinkResponse.encode({
      kind: { $case: 'events', value: { deliveries: batch.map((d) => ({ event: Event.decode(d.eventBytes), subscriptionIds: d.subscriptionIds })) } },
    }).finish();
    expect(Buffer.compare(spliced, Buffer.from(generated))).toBe(0);
    expect(OpenSinkResponse.decode(spliced).kind).toMatchObject({ $case: 'events', value: { deliveries: [{ event: ev }, { subscriptionIds: batch[1].subscriptionIds }] } });
  });
});
