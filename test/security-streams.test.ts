import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as tls from 'node:tls';
import { status, type ServiceError } from '@grpc/grpc-js';
import { RETRY_PUSHBACK_KEY } from '../shared/errors';
import type { WatchReclaimsResponse } from '../shared/gen/tether/v1/tracker';
import { ProviderHarness } from './helpers/provider-harness';
import { SecurityFixtures } from './helpers/security-fixtures';
import { PublishStreamProbe, publishWith, publisherClient, settle, trackerClient } from './helpers/secure-clients';
import { SinkTestClient, event } from './helpers/sink-test-client';
import { deferred, waitFor, within } from './helpers/wait';

// Issue 10, point 4 and 5: credentials that end while streams are open, revocation, and quotas.
let fx: SecurityFixtures;
beforeAll(() => {
  fx = new SecurityFixtures();
});
afterAll(() => fx.cleanup());

function watchReclaims(address: string, token: string) {
  const client = trackerClient(address, fx.channel({ token }));
  const call = client.watchReclaims({ local: false });
  const records: NonNullable<WatchReclaimsResponse['record']>[] = [];
  const ended = deferred<ServiceError>();
  call.on('data', (m: WatchReclaimsResponse) => m.record && records.push(m.record));
  call.on('error', (e: ServiceError) => ended.resolve(e));
  return { client, call, records, ended: ended.promise };
}

describe('credentials that end while streams are open', () => {
  let h: ProviderHarness;
  beforeEach(async () => {
    h = await ProviderHarness.start(fx.providerConfig());
  });
  afterEach(async () => {
    await h.expectEmpty();
    await h.stop();
  });

  test('an expiring token closes its sink as credentials-expired and ends its PublishStream and WatchReclaims with UNAUTHENTICATED', async () => {
    const short = { expiresInS: 2 };
    const consumer = await fx.token({ sub: 'brief', roles: ['consumer'], subscribe: ['x.>'], ...short });
    const publisher = await fx.token({ sub: 'brief-pub', roles: ['publisher'], publish: ['x.>'], ...short });
    const operator = await fx.token({ sub: 'brief-ops', roles: ['operator'], ...short });
    const watcher = watchReclaims(h.address, operator);
    await waitFor('watcher attached', () => h.tracker.watcherCount === 2); // the harness's own watcher + this one
    const sink = new SinkTestClient(h.address, fx.channel({ token: consumer })).open('brief');
    sink.subscribe([{ subscriptionId: 'a', pattern: 'x.>' }, { subscriptionId: 'b', pattern: 'x.y' }]);
    await sink.waitFor('ack');
    const stream = new PublishStreamProbe(publisherClient(h.address, fx.channel({ token: publisher })));
    stream.send(1, [event('x.y')]);
    await waitFor('published', () => stream.answers.length === 1);
    await sink.waitDeliveries(1);

    const reclaim = h.nextReclaim('brief');
    const record = await within('expiry reclaim', reclaim, 5_000);
    expect(record).toMatchObject({ reason: 'credentials-expired', subject: 'brief', subscriptionCount: 2 });
    const err = await sink.waitError();
    expect(err.code).toBe(status.UNAUTHENTICATED);
    expect(sink.of('closing')[0]).toMatchObject({ reason: 'credentials-expired', reconnect: true });
    expect((await within('publish stream end', stream.end, 5_000))?.code).toBe(status.UNAUTHENTICATED);
    expect((await within('watcher end', watcher.ended, 5_000)).code).toBe(status.UNAUTHENTICATED);
    const text = await h.provider.metrics.registry.metrics();
    expect(text).toMatch(/tether_audit_events_total\{event="credentials-expired",subject="brief"\} 1/);
    sink.close();
    watcher.client.close();
  });

  test('revoking a subject closes all of its sinks as revoked at once, ends its streams, refuses its old tokens and spares everyone else', async () => {
    const victimToken = await fx.token({ sub: 'victim', roles: ['consumer', 'publisher'], subscribe: ['>'], publish: ['>'] });
    const bystanderToken = await fx.token({ sub: 'bystander', roles: ['consumer'], subscribe: ['>'] });
    const opsToken = await fx.token({ sub: 'ops', roles: ['operator'] });
    const sinks = ['victim/1', 'victim/2'].map((name) => {
      const s = new SinkTestClient(h.address, fx.channel({ token: victimToken })).open(name);
      s.subscribe([1, 2, 3].map((i) => ({ subscriptionId: `s${i}`, pattern: `v.${i}` })));
      return s;
    });
    const bystander = new SinkTestClient(h.address, fx.channel({ token: bystanderToken })).open('bystander');
    bystander.subscribe([{ subscriptionId: 'all', pattern: '>' }]);
    await Promise.all([...sinks, bystander].map((s) => s.waitFor('ack')));
    const stream = new PublishStreamProbe(publisherClient(h.address, fx.channel({ token: victimToken })));
    stream.send(1, [event('v.1')]);
    await waitFor('published', () => stream.answers.length === 1);
    const watcher = watchReclaims(h.address, opsToken);
    await waitFor('watcher attached', () => h.tracker.watcherCount === 2);

    const ops = trackerClient(h.address, fx.channel({ token: opsToken }));
    const { res, err } = await settle<{ closedSinks: number; reclaimedSubscriptions: number; endedStreams: number; revokedUntil: string }>((md, o, cb) =>
      ops.revokeSubject({ subject: 'victim', message: 'key leaked' }, md, o, cb),
    );
    expect(err).toBeUndefined();
    expect(res).toMatchObject({ closedSinks: 2, reclaimedSubscriptions: 6, endedStreams: 1 });
    expect(Date.parse(res?.revokedUntil ?? '')).toBeGreaterThan(Date.now());
    // Every subscription of the subject was reclaimed in that one call; the bystander kept its sink.
    expect(h.reclaimedBy('revoked').map((r) => [r.subject, r.subscriptionCount])).toEqual([
      ['victim', 3],
      ['victim', 3],
    ]);
    expect(h.tracker.liveSinks).toBe(1);
    expect(h.tracker.liveSubscriptions).toBe(1);
    for (const s of sinks) {
      expect((await s.waitError()).code).toBe(status.UNAUTHENTICATED);
      expect(s.of('closing')[0]).toMatchObject({ reason: 'revoked', message: 'key leaked' });
    }
    expect((await within('publish stream end', stream.end, 5_000))?.code).toBe(status.UNAUTHENTICATED);
    await waitFor('reclaims watched', () => watcher.records.length === 2);
    expect(watcher.records.map((r) => [r.subject, r.reason])).toEqual([
      ['victim', 'revoked'],
      ['victim', 'revoked'],
    ]);

    // Its tokens issued until now are refused; one issued afterwards is accepted.
    const pub = publisherClient(h.address, fx.channel({ token: victimToken }));
    const refused = await publishWith(pub, [event('v.1')]);
    expect(refused.err?.code).toBe(status.UNAUTHENTICATED);
    expect(refused.err?.details).toMatch(/revoked/);
    const reissued = publisherClient(h.address, fx.channel({ token: await fx.token({ sub: 'victim', roles: ['publisher'], publish: ['>'], issuedAtS: Math.floor(Date.now() / 1000) + 2 }) }));
    expect((await publishWith(reissued, [event('v.1')])).err).toBeUndefined();
    await bystander.waitDeliveries(2);
    for (const c of [...sinks, bystander]) c.close();
    for (const c of [pub, reissued, ops, watcher.client]) c.close();
  });
});

describe('a client certificate that expires while connected', () => {
  test('closes its sink as credentials-expired (mTLS does not end a connection whose certificate lapses; the provider does)', async () => {
    const h = await ProviderHarness.start(fx.providerConfig({ mtls: true }));
    const cert = fx.clientCert('cert-consumer', { notAfter: new Date(Date.now() + 3_000) });
    const sink = new SinkTestClient(h.address, fx.channel({ cert })).open('cert-consumer');
    sink.subscribe([{ subscriptionId: 'c', pattern: 'certs.>' }]);
    await sink.waitFor('ack');
    const record = await within('expiry reclaim', h.nextReclaim('cert-consumer'), 6_000);
    expect(record).toMatchObject({ reason: 'credentials-expired', subject: 'cert-consumer', subscriptionCount: 1 });
    expect((await sink.waitError()).code).toBe(status.UNAUTHENTICATED);
    sink.close();
    await h.expectEmpty();
    await h.stop();
  });
});

describe('quotas per identity', () => {
  let h: ProviderHarness;
  beforeAll(async () => {
    h = await ProviderHarness.start({ ...fx.providerConfig(), quotaSinks: 2, quotaSubscriptions: 5, quotaPublishEventsPerS: 20, quotaBurstMs: 1_000, quotaCountRetryMs: 750 });
  });
  afterAll(async () => {
    await h.expectEmpty();
    await h.stop();
  });

  test('sinks and subscriptions: RESOURCE_EXHAUSTED with a retry hint (trailer on the refused open, field in the ack)', async () => {
    const token = await fx.token({ sub: 'greedy', roles: ['consumer'], subscribe: ['>'] });
    const a = new SinkTestClient(h.address, fx.channel({ token })).open('greedy/a');
    a.subscribe([1, 2, 3, 4, 5, 6, 7].map((i) => ({ subscriptionId: `s${i}`, pattern: `q.${i}` })));
    const [ack] = await a.waitFor('ack');
    expect(ack.subscriptionIds).toHaveLength(5);
    expect(ack.errors.map((e) => [e.code, e.retryAfterMs])).toEqual([
      [status.RESOURCE_EXHAUSTED, 750],
      [status.RESOURCE_EXHAUSTED, 750],
    ]);
    const b = new SinkTestClient(h.address, fx.channel({ token })).open('greedy/b');
    await b.waitFor('opened');
    let trailer: string | undefined;
    const c = new SinkTestClient(h.address, fx.channel({ token }));
    c.call.on('status', (s) => (trailer = String(s.metadata.get(RETRY_PUSHBACK_KEY)[0])));
    c.open('greedy/c');
    expect((await c.waitError()).code).toBe(status.RESOURCE_EXHAUSTED);
    await waitFor('status trailers', () => trailer !== undefined);
    expect(trailer).toBe('750');
    // Closing a sink frees its place and its subscriptions.
    a.close();
    await waitFor('a reclaimed', () => h.tracker.liveSinks === 1);
    const d = new SinkTestClient(h.address, fx.channel({ token })).open('greedy/d');
    d.subscribe([{ subscriptionId: 'again', pattern: 'q.1' }]);
    expect((await d.waitFor('ack'))[0].subscriptionIds).toEqual(['again']);
    for (const s of [b, c, d]) s.close();
  });

  test('publish events/s: RESOURCE_EXHAUSTED with grpc-retry-pushback-ms, in-band retry_after_ms on a stream; a claim raises it; nobody else is slowed', async () => {
    const flooder = publisherClient(h.address, fx.channel({ token: await fx.token({ sub: 'flooder', roles: ['publisher'], publish: ['>'] }) }));
    const bystander = publisherClient(h.address, fx.channel({ token: await fx.token({ sub: 'steady', roles: ['publisher'], publish: ['>'] }) }));
    const batch = (n: number) => Array.from({ length: n }, () => event('q.flood'));
    expect((await publishWith(flooder, batch(20))).err).toBeUndefined();
    const refused = await publishWith(flooder, batch(5));
    expect(refused.err?.code).toBe(status.RESOURCE_EXHAUSTED);
    const pushback = Number(refused.err?.metadata.get(RETRY_PUSHBACK_KEY)[0]);
    expect(pushback).toBeGreaterThan(0);
    expect(pushback).toBeLessThanOrEqual(260);
    // The bystander's own quota is untouched by the flood.
    for (let i = 0; i < 4; i++) expect((await publishWith(bystander, batch(5))).err).toBeUndefined();
    const stream = new PublishStreamProbe(flooder);
    stream.send(1, batch(10));
    await waitFor('answer', () => stream.answers.length === 1);
    expect(stream.answers[0]).toMatchObject({ code: status.RESOURCE_EXHAUSTED });
    expect(stream.answers[0].retryAfterMs).toBeGreaterThan(0);
    // Waiting as told is enough.
    await new Promise((r) => setTimeout(r, stream.answers[0].retryAfterMs));
    stream.send(2, batch(10));
    await waitFor('second answer', () => stream.answers.length === 2);
    expect(stream.answers[1].code).toBe(status.OK);
    stream.call.end();
    const big = publisherClient(h.address, fx.channel({ token: await fx.token({ sub: 'big', roles: ['publisher'], publish: ['>'], quotas: { publish_events_per_s: 1000 } }) }));
    expect((await publishWith(big, batch(500))).err).toBeUndefined();
    for (const c of [flooder, bystander, big]) c.close();
  });
});

describe('certificates reload without a restart', () => {
  test('a new server certificate is served to new connections while open sinks carry on', async () => {
    const dir = fs.mkdtempSync(`${fx.dir}/reload-`);
    const first = fx.ca.issue('provider', dir, 'live', { san: ['IP:127.0.0.1'] });
    const h = await ProviderHarness.start({ ...fx.providerConfig(), tlsCertFile: first.cert, tlsKeyFile: first.key });
    const served = () =>
      new Promise<string>((resolve, reject) => {
        const s = tls.connect({ host: '127.0.0.1', port: h.provider.port, ca: fs.readFileSync(fx.ca.cert), ALPNProtocols: ['h2'] }, () => {
          resolve(s.getPeerCertificate().fingerprint256);
          s.destroy();
        });
        s.on('error', reject);
      });
    const fingerprint = (file: string) => new crypto.X509Certificate(fs.readFileSync(file)).fingerprint256;
    expect(await served()).toBe(fingerprint(first.cert));
    const token = await fx.token({ sub: 'long-lived', roles: ['consumer', 'publisher'], subscribe: ['>'], publish: ['>'] });
    const sink = new SinkTestClient(h.address, fx.channel({ token })).open('long-lived');
    sink.subscribe([{ subscriptionId: 'all', pattern: 'r.>' }]);
    await sink.waitFor('ack');

    // Rotate in place: the key first (a half-done rotation is refused and the old pair stays), then the certificate.
    const next = fx.ca.issue('provider', dir, 'next', { san: ['IP:127.0.0.1'] });
    fs.copyFileSync(next.key, first.key);
    fs.copyFileSync(next.cert, first.cert);
    await waitFor('new certificate served', async () => (await served()) === fingerprint(next.cert), 10_000, 100);
    const pub = publisherClient(h.address, fx.channel({ token }));
    expect((await publishWith(pub, [event('r.1')])).err).toBeUndefined();
    await sink.waitDeliveries(1);
    expect(h.tracker.liveSinks).toBe(1);
    sink.close();
    pub.close();
    await h.expectEmpty();
    await h.stop();
  });
});
