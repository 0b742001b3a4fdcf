import * as path from 'node:path';
import { ConsumerProcess } from './helpers/consumer-process';
import { ProviderHarness, TEST_TIMINGS } from './helpers/provider-harness';
import { SecurityFixtures } from './helpers/security-fixtures';
import { PublishStreamProbe, publisherClient } from './helpers/secure-clients';
import { SilentProxy } from './helpers/silent-proxy';
import { event } from './helpers/sink-test-client';
import { waitFor, within } from './helpers/wait';

// Issue 10, point 1 and 8: the provider still owns every socket under TLS with tokens, so a crash, a hang
// and a silent network are told apart and reclaimed as in plaintext; and a consumer whose token expires
// re-reads its token file and resumes with no loss.
const SUBS = 1_000;
const KEEPALIVE_BOUND_MS = TEST_TIMINGS.keepaliveTimeMs! + TEST_TIMINGS.keepaliveTimeoutMs!;
const MARGIN_MS = 600;

let fx: SecurityFixtures;
beforeAll(() => {
  fx = new SecurityFixtures();
});
afterAll(() => fx.cleanup());

describe('reclaim under TLS with bearer tokens', () => {
  let h: ProviderHarness;
  let consumer: ConsumerProcess | undefined;
  let proxy: SilentProxy | undefined;

  beforeEach(async () => {
    h = await ProviderHarness.start(fx.providerConfig());
  });

  afterEach(async () => {
    if (consumer) await consumer.kill();
    consumer = undefined;
    if (proxy) await proxy.stop();
    proxy = undefined;
    await h.expectEmpty();
    await h.stop();
  });

  async function consumerEnv(name: string, address = h.address, expiresInS = 600, extra: Record<string, string> = {}) {
    const tokenFile = path.join(fx.dir, `${name}.token`);
    await fx.writeToken(tokenFile, { sub: name, roles: ['consumer'], subscribe: ['fault.>'], expiresInS });
    return {
      TETHER_PROVIDER_ADDRESS: address,
      TETHER_CA_FILE: fx.ca.cert,
      TETHER_TOKEN_FILE: tokenFile,
      CONSUMER_NAME: name,
      CONSUMER_SUBSCRIPTIONS: `s=fault.{1..${SUBS}}.event`,
      CONSUMER_IDLE_TIMEOUT_MS: '2000',
      CONSUMER_BACKOFF_INITIAL_MS: '50',
      CONSUMER_BACKOFF_MAX_MS: '500',
      ...extra,
    };
  }

  test('kill -9: all subscriptions reclaimed at once as crashed (the remote FIN is seen through TLS)', async () => {
    consumer = new ConsumerProcess(await consumerEnv('tls-killed'));
    await consumer.waitSubscribed();
    expect(h.tracker.liveSubscriptions).toBe(SUBS);
    expect(h.tracker.list()[0].identity.caller.subject).toBe('tls-killed');
    const reclaim = h.nextReclaim('tls-killed');
    const killedAt = Date.now();
    consumer.signal('SIGKILL');
    const record = await within('reclaim after kill -9', reclaim, 1_000);
    expect(record).toMatchObject({ reason: 'crashed', subject: 'tls-killed', subscriptionCount: SUBS });
    expect(record.detectedAt - killedAt).toBeLessThan(1_000);
  });

  test('SIGSTOP: reclaimed by keepalive within time + timeout (TLS bytes count as life until then)', async () => {
    consumer = new ConsumerProcess(await consumerEnv('tls-hung'));
    await consumer.waitSubscribed();
    const reclaim = h.nextReclaim('tls-hung');
    const stoppedAt = Date.now();
    consumer.signal('SIGSTOP');
    const record = await within('reclaim of a hung consumer', reclaim, KEEPALIVE_BOUND_MS + MARGIN_MS + 2_000);
    expect(record.reason).toBe('keepalive-timeout');
    expect(record.subscriptionCount).toBe(SUBS);
    expect(record.detectedAt - stoppedAt).toBeLessThanOrEqual(KEEPALIVE_BOUND_MS + MARGIN_MS);
    consumer.signal('SIGCONT');
    await consumer.waitSubscribed(15_000, 2);
    await waitFor('re-subscribed', () => h.tracker.liveSubscriptions === SUBS);
  });

  test('silent network (proxy stops forwarding TLS bytes, no FIN/RST): reclaimed within the keepalive bound', async () => {
    proxy = new SilentProxy(h.provider.port);
    await proxy.start();
    consumer = new ConsumerProcess(await consumerEnv('tls-silenced', `127.0.0.1:${proxy.port}`));
    await consumer.waitSubscribed();
    const reclaim = h.nextReclaim('tls-silenced');
    const silencedAt = Date.now();
    proxy.silence();
    const record = await within('reclaim of a silent channel', reclaim, KEEPALIVE_BOUND_MS + MARGIN_MS + 2_000);
    expect(record.reason).toBe('keepalive-timeout');
    expect(record.subscriptionCount).toBe(SUBS);
    expect(record.detectedAt - silencedAt).toBeLessThanOrEqual(KEEPALIVE_BOUND_MS + MARGIN_MS);
    proxy.heal();
  });

  test('a token that expires mid-stream closes the sink as credentials-expired; the consumer re-reads its token file and resumes with no loss', async () => {
    const env = await consumerEnv('renewing', h.address, 3, { CONSUMER_SUBSCRIPTIONS: 'one=fault.1.event' });
    consumer = new ConsumerProcess(env);
    await consumer.waitSubscribed();
    const reclaim = h.nextReclaim('renewing');
    const pubToken = await fx.token({ sub: 'steady-pub', roles: ['publisher'], publish: ['fault.>'] });
    const stream = new PublishStreamProbe(publisherClient(h.address, fx.channel({ token: pubToken })));
    let sent = 0;
    const timer = setInterval(() => stream.send(++sent, [event('fault.1.event')]), 20);
    try {
      // The operator of the consumer refreshes its token file before the old token runs out.
      await new Promise((r) => setTimeout(r, 500));
      await fx.writeToken(env.TETHER_TOKEN_FILE, { sub: 'renewing', roles: ['consumer'], subscribe: ['fault.>'], expiresInS: 600 });
      const record = await within('expiry reclaim', reclaim, 6_000);
      expect(record).toMatchObject({ reason: 'credentials-expired', subject: 'renewing' });
      await consumer.waitSubscribed(10_000, 2);
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      clearInterval(timer);
    }
    await waitFor('every batch answered', () => stream.answers.length === sent, 5_000);
    expect(stream.answers.every((a) => a.code === 0)).toBe(true);
    await waitFor('every event handled', async () => (await consumer!.status()).perSubscription.one === sent, 10_000, 50);
    const status = await consumer.status();
    expect(status.gapsReported).toBe(0);
    expect(status.outOfOrder).toBe(0);
    expect(status.connects).toBeGreaterThanOrEqual(2);
    stream.call.end();
  });
});
