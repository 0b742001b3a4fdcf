import { credentials, status } from '@grpc/grpc-js';
import { consumerConfigFromEnv, consumerHost } from '../services/consumer/consumer-config';
import { listenHost, providerConfig, providerConfigFromEnv } from '../services/provider/provider-config';
import { ProviderHarness } from './helpers/provider-harness';
import { SecurityFixtures } from './helpers/security-fixtures';
import { health, publishWith, publisherClient, settle, trackerClient } from './helpers/secure-clients';
import { SinkTestClient, event } from './helpers/sink-test-client';

// Issue 10: every call authenticated and authorized on the server, over TLS.
let fx: SecurityFixtures;
beforeAll(() => {
  fx = new SecurityFixtures();
});
afterAll(() => fx.cleanup());

async function auditCount(h: ProviderHarness, event: string, subject: string): Promise<number> {
  const text = await h.provider.metrics.registry.metrics();
  const m = new RegExp(`tether_audit_events_total\\{event="${event}",subject="${subject.replace(/[()]/g, '\\$&')}"\\} (\\d+)`).exec(text);
  return m ? Number(m[1]) : 0;
}

describe('authentication with TLS and bearer tokens', () => {
  let h: ProviderHarness;
  beforeAll(async () => {
    h = await ProviderHarness.start(fx.providerConfig());
  });
  afterAll(async () => {
    await h.expectEmpty();
    await h.stop();
  });

  test('no credentials: UNAUTHENTICATED on every call but health; plaintext gets nowhere', async () => {
    const tls = fx.channel();
    const pub = publisherClient(h.address, tls);
    expect((await publishWith(pub, [event('a.b')])).err?.code).toBe(status.UNAUTHENTICATED);
    const tracker = trackerClient(h.address, tls);
    const list = await settle((md, o, cb) => tracker.listSinks({ local: false }, md, o, cb));
    expect(list.err?.code).toBe(status.UNAUTHENTICATED);
    expect(list.err?.details).toMatch(/no credentials/);
    const sink = new SinkTestClient(h.address, tls).open('x');
    expect((await sink.waitError()).code).toBe(status.UNAUTHENTICATED);
    sink.close();
    expect(await health(h.address, tls)).toBe('SERVING');
    expect(await health(h.address, credentials.createInsecure())).toMatch(/^ERROR:14/);
    expect(await auditCount(h, 'authentication-failed', '(unverified)')).toBeGreaterThanOrEqual(3);
    pub.close();
    tracker.close();
  });

  test.each([
    ['expired', { expiresInS: -5 }, /expired/],
    ['forged (right kid, wrong HS256 secret)', { forge: true }, /signature/],
    ['forged EdDSA (right kid, another key)', { forge: true, kid: 'ed' }, /signature/],
    ['signed with a key the JWKS does not hold', { kid: 'nobody' }, /key id/],
    ['for another audience', { aud: 'someone-else' }, /aud/],
    ['from another issuer', { iss: 'mallory' }, /iss/],
    ['valid for longer than the lifetime limit', { expiresInS: 3 * 86_400 }, /limit/],
    ['with an unknown role', { roles: ['root'] }, /roles/],
  ])('a token %s is UNAUTHENTICATED', async (_what, claims, message) => {
    const token = await fx.token({ sub: 'pub', roles: ['publisher'], publish: ['>'], ...claims });
    const pub = publisherClient(h.address, fx.channel({ token }));
    const { err } = await publishWith(pub, [event('a.b')]);
    expect(err?.code).toBe(status.UNAUTHENTICATED);
    expect(err?.details).toMatch(message);
    pub.close();
  });

  test('HS256 and EdDSA tokens are both accepted', async () => {
    for (const kid of ['hs', 'ed']) {
      const pub = publisherClient(h.address, fx.channel({ token: await fx.token({ sub: `pub-${kid}`, roles: ['publisher'], publish: ['a.>'], kid }) }));
      expect((await publishWith(pub, [event('a.b')])).err).toBeUndefined();
      pub.close();
    }
  });

  test('the wrong role: PERMISSION_DENIED, audited with the subject', async () => {
    const consumerToken = await fx.token({ sub: 'reader', roles: ['consumer'], subscribe: ['>'] });
    const tracker = trackerClient(h.address, fx.channel({ token: consumerToken }));
    const { err } = await settle((md, o, cb) => tracker.getTotals({ local: false }, md, o, cb));
    expect(err?.code).toBe(status.PERMISSION_DENIED);
    expect(err?.details).toMatch(/reader lacks the operator role/);
    // Every other tracker call needs the operator role too.
    const others = await Promise.all([
      settle((md, o, cb) => tracker.listSinks({ local: false }, md, o, cb)),
      settle((md, o, cb) => tracker.listSubscriptions({ sinkId: 'x' }, md, o, cb)),
      settle((md, o, cb) => tracker.evictSink({ sinkId: 'x', message: '' }, md, o, cb)),
      settle((md, o, cb) => tracker.revokeSubject({ subject: 'x', message: '' }, md, o, cb)),
    ]);
    for (const r of others) expect(r.err?.code).toBe(status.PERMISSION_DENIED);
    const watch = tracker.watchReclaims({ local: false });
    const watchErr = await new Promise<{ code?: number }>((resolve) => watch.on('error', resolve));
    expect(watchErr.code).toBe(status.PERMISSION_DENIED);
    const pub = publisherClient(h.address, fx.channel({ token: consumerToken }));
    expect((await publishWith(pub, [event('a.b')])).err?.code).toBe(status.PERMISSION_DENIED);
    const publisherToken = await fx.token({ sub: 'writer', roles: ['publisher'], publish: ['>'] });
    const sink = new SinkTestClient(h.address, fx.channel({ token: publisherToken })).open('writer');
    expect((await sink.waitError()).code).toBe(status.PERMISSION_DENIED);
    sink.close();
    expect(await auditCount(h, 'denied', 'reader')).toBe(7); // six tracker calls and one publish, each audited
    tracker.close();
    pub.close();
  });

  test('a publish outside the allow-list is PERMISSION_DENIED naming the topic, and the whole batch is rejected', async () => {
    const token = await fx.token({ sub: 'orders-svc', roles: ['publisher'], publish: ['orders.>'] });
    const pub = publisherClient(h.address, fx.channel({ token }));
    const head = h.provider.router.headSequence;
    const { err } = await publishWith(pub, [event('orders.eu.created'), event('payments.card.failed'), event('orders.us.created')]);
    expect(err?.code).toBe(status.PERMISSION_DENIED);
    expect(err?.details).toMatch(/"payments\.card\.failed"/);
    expect(h.provider.router.headSequence).toBe(head);
    expect((await publishWith(pub, [event('orders.eu.created')])).res?.sequences).toEqual([String(head + 1)]);
    pub.close();
  });

  test('a subscription must lie within ONE allowed pattern: refusals are in-band and the sink stays open', async () => {
    const token = await fx.token({ sub: 'narrow', roles: ['consumer'], subscribe: ['orders.*', 'a.*', 'a.*.>'] });
    const sink = new SinkTestClient(h.address, fx.channel({ token })).open('narrow');
    sink.subscribe([
      { subscriptionId: 'ok-exact', pattern: 'orders.eu' },
      { subscriptionId: 'too-wide', pattern: 'orders.>' },
      { subscriptionId: 'only-by-two', pattern: 'a.>' }, // a.* and a.*.> together cover it; neither alone does
      { subscriptionId: 'ok-deep', pattern: 'a.b.c' },
    ]);
    const [ack] = await sink.waitFor('ack');
    expect(ack.subscriptionIds.sort()).toEqual(['ok-deep', 'ok-exact']);
    expect(ack.errors.map((e) => [e.subscriptionId, e.code])).toEqual([
      ['too-wide', status.PERMISSION_DENIED],
      ['only-by-two', status.PERMISSION_DENIED],
    ]);
    const pub = publisherClient(h.address, fx.channel({ token: await fx.token({ sub: 'p', roles: ['publisher'], publish: ['>'] }) }));
    await publishWith(pub, [event('orders.eu')]);
    await sink.waitDeliveries(1);
    expect(await auditCount(h, 'denied', 'narrow')).toBe(1); // one line per request, however many specs
    sink.close();
    pub.close();
  });

  test('impersonation: a consumer name must be the subject or the subject, "/" and a suffix; listings show the subject', async () => {
    const token = await fx.token({ sub: 'alice', roles: ['consumer'], subscribe: ['>'] });
    for (const name of ['bob', 'alice-2', 'alice/', 'bob/alice']) {
      const sink = new SinkTestClient(h.address, fx.channel({ token })).open(name);
      const err = await sink.waitError();
      expect(err.code).toBe(status.PERMISSION_DENIED);
      sink.close();
    }
    const a = new SinkTestClient(h.address, fx.channel({ token })).open('alice');
    const b = new SinkTestClient(h.address, fx.channel({ token })).open('alice/worker-2');
    await Promise.all([a.waitFor('opened'), b.waitFor('opened')]);
    const tracker = trackerClient(h.address, fx.channel({ token: await fx.token({ sub: 'ops', roles: ['operator'] }) }));
    const { res } = await settle<{ sinks: Array<{ consumerName: string; subject: string }> }>((md, o, cb) => tracker.listSinks({ local: false }, md, o, cb));
    expect(res?.sinks.map((s) => [s.consumerName, s.subject]).sort()).toEqual([
      ['alice', 'alice'],
      ['alice/worker-2', 'alice'],
    ]);
    a.close();
    b.close();
    tracker.close();
  });
});

describe('mTLS: client certificates required and verified', () => {
  let h: ProviderHarness;
  beforeAll(async () => {
    h = await ProviderHarness.start(fx.providerConfig({ mtls: true }));
  });
  afterAll(async () => {
    await h.expectEmpty();
    await h.stop();
  });

  test('a certificate from another CA, an expired one and none at all are refused at the handshake, each audited', async () => {
    const before = await auditCount(h, 'tls-rejected', '(unverified)');
    expect(await health(h.address, fx.channel({ cert: fx.clientCert('cert-consumer', { otherCa: true }) }))).toMatch(/^ERROR:14/);
    expect(await health(h.address, fx.channel({ cert: fx.clientCert('cert-consumer', { expired: true }) }))).toMatch(/^ERROR:14/);
    expect(await health(h.address, fx.channel())).toMatch(/^ERROR:14/);
    expect(await auditCount(h, 'tls-rejected', '(unverified)')).toBeGreaterThanOrEqual(before + 3);
    expect(await health(h.address, fx.channel({ cert: fx.clientCert('cert-consumer') }))).toBe('SERVING');
  });

  test('a verified certificate maps to its identity; one missing from the mapping is UNAUTHENTICATED; a token over mTLS still works', async () => {
    const cert = fx.clientCert('cert-consumer');
    const sink = new SinkTestClient(h.address, fx.channel({ cert })).open('cert-consumer');
    sink.subscribe([{ subscriptionId: 'mine', pattern: 'certs.>' }, { subscriptionId: 'not-mine', pattern: 'orders.>' }]);
    const [ack] = await sink.waitFor('ack');
    expect(ack.subscriptionIds).toEqual(['mine']);
    expect(ack.errors[0].code).toBe(status.PERMISSION_DENIED);
    const pub = publisherClient(h.address, fx.channel({ cert }));
    expect((await publishWith(pub, [event('certs.one')])).err).toBeUndefined();
    await sink.waitDeliveries(1);

    const stranger = publisherClient(h.address, fx.channel({ cert: fx.clientCert('stranger') }));
    const { err } = await publishWith(stranger, [event('certs.one')]);
    expect(err?.code).toBe(status.UNAUTHENTICATED);
    expect(err?.details).toMatch(/"stranger" is not in the certificate mapping/);

    const ops = trackerClient(h.address, fx.channel({ cert: fx.clientCert('stranger'), token: await fx.token({ sub: 'ops', roles: ['operator'] }) }));
    expect((await settle((md, o, cb) => ops.getTotals({ local: false }, md, o, cb))).err).toBeUndefined();
    sink.close();
    pub.close();
    stranger.close();
    ops.close();
  });
});

describe('safe defaults', () => {
  test('without authentication: loopback by default; a public address refuses to start with one line unless allowed', () => {
    expect(listenHost(providerConfig({}))).toBe('127.0.0.1');
    expect(() => providerConfigFromEnv({ TETHER_HOST: '0.0.0.0' })).toThrow(/^invalid configuration: TETHER_HOST=0\.0\.0\.0 would let anyone[^\n]*$/);
    expect(listenHost(providerConfigFromEnv({ TETHER_HOST: '0.0.0.0', TETHER_ALLOW_UNAUTHENTICATED: '1' }))).toBe('0.0.0.0');
    expect(listenHost(providerConfigFromEnv({ TETHER_HOST: '127.0.0.1' }))).toBe('127.0.0.1');
  });

  test('tokens go over TLS only; mTLS without a mapping gives no roles: both refused at start', () => {
    expect(() => providerConfig({ authJwksFile: fx.jwksFile })).toThrow(/tokens go over TLS only/);
    expect(() => providerConfig({ tlsCertFile: fx.server.cert, tlsKeyFile: fx.server.key, tlsClientCaFile: fx.ca.cert })).toThrow(/no roles/);
    expect(listenHost(providerConfig(fx.providerConfig()))).toBe('0.0.0.0');
  });

  test("the consumer's /status and /metrics: loopback without credentials, refused on a public address", () => {
    expect(consumerHost(consumerConfigFromEnv({}))).toBe('127.0.0.1');
    expect(() => consumerConfigFromEnv({ CONSUMER_HOST: '0.0.0.0' })).toThrow(/CONSUMER_HOST=0\.0\.0\.0/);
    expect(consumerHost(consumerConfigFromEnv({ TETHER_CA_FILE: fx.ca.cert, TETHER_TOKEN_FILE: fx.jwksFile }))).toBe('0.0.0.0');
  });
});
