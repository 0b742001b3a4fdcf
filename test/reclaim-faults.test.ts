import { ConsumerProcess } from './helpers/consumer-process';
import { LOG_KINDS, ProviderHarness, TEST_TIMINGS } from './helpers/provider-harness';
import { SilentProxy } from './helpers/silent-proxy';
import { event, publish, publisher } from './helpers/sink-test-client';
import { waitFor, within } from './helpers/wait';

// Issue 2, tests 1–5: the real consumer service in its own process, broken for real.
const SUBS = 1_000;
const KEEPALIVE_BOUND_MS = TEST_TIMINGS.keepaliveTimeMs! + TEST_TIMINGS.keepaliveTimeoutMs!;
const MARGIN_MS = 600; // classify window + sweep + scheduling on a loaded 2-core machine

function consumerEnv(h: ProviderHarness | string, name: string, extra: Record<string, string> = {}) {
  const address = typeof h === 'string' ? h : h.address;
  return {
    TETHER_PROVIDER_ADDRESS: address,
    CONSUMER_NAME: name,
    CONSUMER_SUBSCRIPTIONS: `s=fault.{1..${SUBS}}.event`,
    CONSUMER_IDLE_TIMEOUT_MS: '2000',
    CONSUMER_BACKOFF_INITIAL_MS: '50',
    CONSUMER_BACKOFF_MAX_MS: '500',
    ...extra,
  };
}

describe.each(LOG_KINDS)('connection tracker reclaims every subscription of a broken sink (%s log)', (kind) => {
  let h: ProviderHarness;
  let consumer: ConsumerProcess | undefined;
  let proxy: SilentProxy | undefined;

  beforeEach(async () => {
    h = await ProviderHarness.start({}, { kind });
  });

  afterEach(async () => {
    if (consumer) await consumer.kill();
    consumer = undefined;
    if (proxy) await proxy.stop();
    proxy = undefined;
    await h.expectEmpty();
    await h.stop();
  });

  test('kill -9: all 1,000 subscriptions reclaimed at once, reason crashed', async () => {
    consumer = new ConsumerProcess(consumerEnv(h, 'killed'));
    await consumer.waitSubscribed();
    expect(h.tracker.liveSubscriptions).toBe(SUBS);
    const reclaim = h.nextReclaim('killed');
    const killedAt = Date.now();
    consumer.signal('SIGKILL');
    const record = await within('reclaim after kill -9', reclaim, 1_000);
    expect(record.reason).toBe('crashed');
    expect(record.subscriptionCount).toBe(SUBS);
    expect(record.detectedAt - killedAt).toBeLessThan(1_000);
    expect(h.tracker.liveSinks).toBe(0);
    expect(h.tracker.liveSubscriptions).toBe(0);
  });

  test('SIGSTOP: reclaimed by keepalive within time + timeout; after SIGCONT it reconnects and re-subscribes', async () => {
    consumer = new ConsumerProcess(consumerEnv(h, 'hung'));
    await consumer.waitSubscribed();
    const reclaim = h.nextReclaim('hung');
    const stoppedAt = Date.now();
    consumer.signal('SIGSTOP');
    const record = await within('reclaim of a hung consumer', reclaim, KEEPALIVE_BOUND_MS + MARGIN_MS + 2_000);
    expect(record.reason).toBe('keepalive-timeout');
    expect(record.subscriptionCount).toBe(SUBS);
    expect(record.detectedAt - stoppedAt).toBeLessThanOrEqual(KEEPALIVE_BOUND_MS + MARGIN_MS);
    expect(h.tracker.liveSubscriptions).toBe(0);

    consumer.signal('SIGCONT');
    await consumer.waitSubscribed(15_000, 2);
    await waitFor('re-subscribed on the provider', () => h.tracker.liveSubscriptions === SUBS);
    expect(h.tracker.liveSinks).toBe(1);
  });

  test('silent network (proxy stops forwarding, no FIN/RST): reclaimed within the keepalive bound', async () => {
    proxy = new SilentProxy(h.provider.port);
    await proxy.start();
    consumer = new ConsumerProcess(consumerEnv(`127.0.0.1:${proxy.port}`, 'silenced'));
    await consumer.waitSubscribed();
    const reclaim = h.nextReclaim('silenced');
    const silencedAt = Date.now();
    proxy.silence();
    const record = await within('reclaim of a silent channel', reclaim, KEEPALIVE_BOUND_MS + MARGIN_MS + 2_000);
    expect(record.reason).toBe('keepalive-timeout');
    expect(record.subscriptionCount).toBe(SUBS);
    expect(record.detectedAt - silencedAt).toBeLessThanOrEqual(KEEPALIVE_BOUND_MS + MARGIN_MS);
    proxy.heal();
  });

  test('a consumer that stops reading is closed as slow-consumer, its transport released, memory bounded', async () => {
    await h.stop();
    const queueMaxBytes = 2 * 1024 * 1024;
    h = await ProviderHarness.start({ sinkQueueMaxEvents: 4_000, sinkQueueMaxBytes: queueMaxBytes, historyMaxEvents: 1_000, historyMaxBytes: 1024 * 1024 }, { kind });
    consumer = new ConsumerProcess(
      consumerEnv(h, 'stalled', { CONSUMER_SUBSCRIPTIONS: 'all=fault.>', CONSUMER_HANDLER_DELAY_MS: '600000', CONSUMER_QUEUE_MAX: '5' }),
    );
    await consumer.waitSubscribed();
    const reclaim = h.nextReclaim('stalled');
    let closed = false;
    void reclaim.then(() => (closed = true));
    const pub = publisher(h.address);
    const payload = Buffer.alloc(4096, 1);
    const heapBefore = process.memoryUsage().heapUsed;
    let maxQueued = 0;
    // Bounded: at most 400 batches of 50 × 4 KiB (80 MB offered), stopping as soon as the sink is closed.
    for (let i = 0; i < 400 && !closed; i++) {
      await publish(pub, Array.from({ length: 50 }, () => event('fault.1.event', { data: payload })));
      for (const s of h.tracker.list()) maxQueued = Math.max(maxQueued, s.queueBytes);
    }
    const record = await within('slow-consumer close', reclaim, 10_000);
    expect(record.reason).toBe('slow-consumer');
    expect(maxQueued).toBeLessThanOrEqual(queueMaxBytes);
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(100 * 1024 * 1024);
    // The stuck stream's connection was destroyed: the live consumer notices and comes back on a new one.
    await consumer.waitSubscribed(15_000, 2);
    pub.close();
  });

  test('clean stop (consumer cancels its sink on SIGTERM): reason client-closed', async () => {
    consumer = new ConsumerProcess(consumerEnv(h, 'polite'));
    await consumer.waitSubscribed();
    const reclaim = h.nextReclaim('polite');
    consumer.signal('SIGTERM');
    const record = await within('reclaim after a clean stop', reclaim, 5_000);
    expect(record.reason).toBe('client-closed');
    expect(record.subscriptionCount).toBe(SUBS);
    expect(await consumer.exited).toBe(0);
  });
});
