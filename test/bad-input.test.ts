import { status } from '@grpc/grpc-js';
import { ProviderHarness } from './helpers/provider-harness';
import { SinkTestClient, event, publish, publisher } from './helpers/sink-test-client';
import { waitFor } from './helpers/wait';

// Issue 2, test 8: every malformed or hostile request gets a clear status or in-band error naming what
// was wrong; the provider keeps serving others and nothing of the offending sink leaks.
describe('bad input', () => {
  let h: ProviderHarness;
  let bystander: SinkTestClient;

  beforeAll(async () => {
    h = await ProviderHarness.start({ maxSubscriptionsPerSink: 3, maxEventBytes: 2_048, maxPatternDepth: 4, maxPatternLength: 40, maxAttributes: 2, maxSinks: 5, maxPublishBatch: 10, openTimeoutMs: 300 });
    bystander = new SinkTestClient(h.address).open('bystander').subscribe([{ subscriptionId: 'all', pattern: '>' }]);
    await bystander.waitFor('ack');
  });

  afterAll(async () => {
    // The provider still serves the well-behaved consumer after all of it.
    const pub = publisher(h.address);
    await publish(pub, [event('still.alive')]);
    await bystander.waitFor('events');
    expect(bystander.error).toBeUndefined();
    pub.close();
    bystander.close();
    await h.expectEmpty();
    await h.stop();
  });

  async function refusedSubscription(spec: { subscriptionId: string; pattern: string; attributes?: Record<string, string> }) {
    const c = new SinkTestClient(h.address).open('bad-sub').subscribe([spec]);
    const [err] = await c.waitRefusals();
    expect(c.error).toBeUndefined(); // in-band: the sink stays open
    c.close();
    return err;
  }

  test.each([
    ['empty pattern', { subscriptionId: 'e', pattern: '' }, status.INVALID_ARGUMENT, /pattern is empty/],
    ['empty token', { subscriptionId: 'e', pattern: 'a..b' }, status.INVALID_ARGUMENT, /invalid token/],
    ['> not last', { subscriptionId: 'e', pattern: 'a.>.b' }, status.INVALID_ARGUMENT, /must be the last/],
    ['too deep', { subscriptionId: 'e', pattern: 'a.b.c.d.e' }, status.INVALID_ARGUMENT, /5 tokens; the limit is 4/],
    ['too long', { subscriptionId: 'e', pattern: 'x'.repeat(41) }, status.INVALID_ARGUMENT, /41 characters/],
    ['bad characters', { subscriptionId: 'e', pattern: 'a b.c' }, status.INVALID_ARGUMENT, /invalid token/],
    ['too many attributes', { subscriptionId: 'e', pattern: 'a', attributes: { a: '1', b: '2', c: '3' } }, status.INVALID_ARGUMENT, /3 attribute matches/],
    ['empty id', { subscriptionId: '', pattern: 'a' }, status.INVALID_ARGUMENT, /subscription_id is empty/],
  ])('%s → in-band %s', async (_name, spec, code, message) => {
    const err = await refusedSubscription(spec);
    expect(err.code).toBe(code);
    expect(err.message).toMatch(message);
  });

  test('duplicate id → ALREADY_EXISTS; over the per-sink limit → RESOURCE_EXHAUSTED; valid ones still added', async () => {
    const c = new SinkTestClient(h.address).open('dupes').subscribe([
      { subscriptionId: 'a', pattern: 'x' },
      { subscriptionId: 'a', pattern: 'y' },
      { subscriptionId: 'b', pattern: 'y' },
      { subscriptionId: 'c', pattern: 'z' },
      { subscriptionId: 'd', pattern: 'w' },
    ]);
    const [ack] = await c.waitFor('ack');
    const errors = ack.errors;
    expect(errors.map((e) => [e.subscriptionId, e.code])).toEqual([
      ['a', status.ALREADY_EXISTS],
      ['d', status.RESOURCE_EXHAUSTED],
    ]);
    expect(ack.subscriptionIds).toEqual(['a', 'b', 'c']);
    c.close();
  });

  test('removing an unknown subscription → NOT_FOUND in the ack', async () => {
    const c = new SinkTestClient(h.address).open('unknown').unsubscribe(['nope']);
    const [err] = await c.waitRefusals();
    expect(err).toMatchObject({ subscriptionId: 'nope', code: status.NOT_FOUND });
    c.close();
  });

  test('a control message before open → FAILED_PRECONDITION status, nothing allocated', async () => {
    await waitFor('only the bystander left', () => h.tracker.liveSinks === 1);
    const c = new SinkTestClient(h.address).subscribe([{ subscriptionId: 'a', pattern: 'x' }]);
    const err = await c.waitError();
    expect(err.code).toBe(status.FAILED_PRECONDITION);
    expect(err.details).toMatch(/send open before/);
    expect(h.tracker.liveSinks).toBe(1);
    c.close();
  });

  test('open twice → FAILED_PRECONDITION and the sink is reclaimed as protocol-error', async () => {
    const reclaim = h.nextReclaim('twice');
    const c = new SinkTestClient(h.address).open('twice').subscribe([{ subscriptionId: 'a', pattern: 'x' }]).open('twice');
    const err = await c.waitError();
    expect(err.code).toBe(status.FAILED_PRECONDITION);
    const record = await reclaim;
    expect(record.reason).toBe('protocol-error');
    expect(record.subscriptionCount).toBe(1);
  });

  test('a stream half-closed before open is finished with OK, nothing allocated', async () => {
    const c = new SinkTestClient(h.address);
    c.call.end();
    await waitFor('the provider ended the stream', () => c.ended);
    expect(c.error).toBeUndefined();
    c.close();
  });

  test('an empty request on an open sink → in-band INVALID_ARGUMENT, the sink stays', async () => {
    const c = new SinkTestClient(h.address).open('empty');
    await c.waitFor('opened');
    c.call.write({});
    const [err] = await c.waitFor('error');
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(c.error).toBeUndefined();
    c.close();
  });

  test('an empty or overlong consumer name → INVALID_ARGUMENT', async () => {
    for (const name of ['', 'n'.repeat(200)]) {
      const c = new SinkTestClient(h.address).open(name);
      expect((await c.waitError()).code).toBe(status.INVALID_ARGUMENT);
      c.close();
    }
  });

  test('a stream that never opens is ended with DEADLINE_EXCEEDED', async () => {
    const c = new SinkTestClient(h.address);
    const err = await c.waitError(3_000);
    expect(err.code).toBe(status.DEADLINE_EXCEEDED);
    c.close();
  });

  test('past the sink limit → RESOURCE_EXHAUSTED', async () => {
    const clients = Array.from({ length: 6 }, (_, i) => new SinkTestClient(h.address).open(`many-${i}`));
    await Promise.all(clients.map((c) => Promise.race([c.waitFor('opened'), c.waitError()])));
    const refused = clients.filter((c) => c.error);
    expect(refused.length).toBeGreaterThanOrEqual(1);
    expect(refused[0].error?.code).toBe(status.RESOURCE_EXHAUSTED);
    for (const c of clients) c.close();
  });

  test.each([
    ['an oversized event', [event('a.b', { data: Buffer.alloc(4_096) })], /bytes; the limit is 2048/],
    ['an empty topic', [event('')], /event topic is empty/],
    ['a wildcard topic', [event('a.*')], /invalid token/],
    ['a preset sequence', [event('a.b', { sequence: '5' })], /sequence is assigned by the provider/],
    ['too many extensions', [event('a.b', { extensions: { a: '1', b: '2', c: '3' } })], /3 extension attributes/],
    ['an empty batch', [], /at least one event/],
    ['an oversized batch', Array.from({ length: 11 }, () => event('a.b')), /11 events; the limit is 10/],
  ])('publishing %s → INVALID_ARGUMENT, nothing published', async (_name, events, message) => {
    const pub = publisher(h.address);
    const head = h.provider.router.headSequence;
    await expect(publish(pub, events)).rejects.toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(message) });
    expect(h.provider.router.headSequence).toBe(head);
    pub.close();
  });

  test('evicting an unknown sink → NOT_FOUND', () => {
    expect(() => h.tracker.evict('no-such-sink', '')).toThrow(/no open sink/);
  });
});

test('a request larger than TETHER_MAX_MESSAGE_BYTES is refused with RESOURCE_EXHAUSTED, and the provider serves on', async () => {
  const { ProviderHarness: Harness } = await import('./helpers/provider-harness');
  const h = await Harness.start({ maxMessageBytes: 64 * 1024, maxEventBytes: 16 * 1024 });
  const pub = publisher(h.address);
  try {
    const big = Array.from({ length: 10 }, () => event('a.b', { data: Buffer.alloc(10 * 1024) }));
    await expect(publish(pub, big)).rejects.toMatchObject({ code: status.RESOURCE_EXHAUSTED });
    await expect(publish(pub, [event('a.b')])).resolves.toMatchObject({ sequences: ['1'] });
  } finally {
    pub.close();
    await h.stop();
  }
});
