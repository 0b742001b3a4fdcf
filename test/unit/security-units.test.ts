import { MemoryEventLog } from '../../services/provider/log/memory-event-log';
import { status } from '@grpc/grpc-js';
import pino from 'pino';
import { Registry } from 'prom-client';
import { EventHistory } from '../../services/provider/events/event-history';
import { EventRouter } from '../../services/provider/events/event-router';
import { providerConfig } from '../../services/provider/provider-config';
import { ProviderMetrics } from '../../services/provider/provider-metrics';
import { Audit } from '../../services/provider/security/audit';
import { identityOf } from '../../services/provider/security/identity';
import { QuotaLedger, TokenBucket } from '../../services/provider/security/quotas';
import { Revocations } from '../../services/provider/security/revocations';
import { StreamDeadlines } from '../../services/provider/security/stream-deadlines';
import { SubscriptionRegistry } from '../../services/provider/subscriptions/subscription-registry';
import { ConnectionTracker } from '../../services/provider/tracking/connection-tracker';
import type { Reclaim } from '../../services/provider/tracking/reclaim-record';
import { FakeProbe, FakeStream, ManualScheduler } from './fake-sink-parts';

// The security parts that run on a clock, driven by a manual one: exact times, no sockets.
const grants = { roles: ['consumer' as const], publish: [], subscribe: ['>'], quotas: {} };

function trackerSetup() {
  const config = providerConfig({ livenessSweepMs: 50, metricsPort: -1 });
  const scheduler = new ManualScheduler();
  const registry = new SubscriptionRegistry(config.purgeChunk);
  const history = new EventHistory(config, () => scheduler.now());
  const metrics = new ProviderMetrics({ liveSinks: () => 0, liveSubscriptions: () => 0, queueDepths: () => [], historySize: () => 0, headSequence: () => 0, reclaimWatchers: () => 0 });
  const router = new EventRouter(config, registry, new MemoryEventLog(history), metrics);
  const quotas = new QuotaLedger({ defaults: { sinks: 2, subscriptions: 10, publishEventsPerS: 10, publishBytesPerS: 1000 }, burstMs: 1000, countRetryMs: 100, maxSubjects: 10 });
  const audit = new Audit(pino({ level: 'silent' }), new Registry(), 10, () => scheduler.now());
  const tracker = new ConnectionTracker(config, registry, new FakeProbe(), metrics, pino({ level: 'silent' }), scheduler, router, { accounting: quotas, audit });
  const reclaims: Reclaim[] = [];
  tracker.onReclaim((r) => reclaims.push(r), () => undefined);
  return { scheduler, tracker, reclaims, quotas };
}

describe('credential expiry and revocation in the tracker', () => {
  test('the sweep closes a sink whose credentials expired as credentials-expired, with its subject, and not a moment before', () => {
    const { scheduler, tracker, reclaims, quotas } = trackerSetup();
    const caller = identityOf('carol', 'token', grants, scheduler.now() + 1_000, scheduler.now());
    const stream = new FakeStream();
    tracker.open(stream, 'carol', 'p:1', 4 * 1024 * 1024, caller);
    tracker.sweep(scheduler.now() + 999);
    expect(tracker.liveSinks).toBe(1);
    tracker.sweep(scheduler.now() + 1_000);
    expect(tracker.liveSinks).toBe(0);
    expect(reclaims.map((r) => [r.reason, r.subject])).toEqual([['credentials-expired', 'carol']]);
    expect(stream.finished?.code).toBe(status.UNAUTHENTICATED);
    expect(quotas.trackedSubjects).toBe(0); // its sink count went back to zero and the entry was dropped
  });

  test('closeSubject closes every sink of that subject through its one close path, and no other', () => {
    const { scheduler, tracker, reclaims } = trackerSetup();
    const now = scheduler.now();
    tracker.open(new FakeStream(), 'dave/1', 'p:1', 4 << 20, identityOf('dave', 'token', grants, now + 60_000, now));
    tracker.open(new FakeStream(), 'dave/2', 'p:2', 4 << 20, identityOf('dave', 'token', grants, now + 90_000, now));
    tracker.open(new FakeStream(), 'erin', 'p:3', 4 << 20, identityOf('erin', 'token', grants, now + 60_000, now));
    expect(tracker.latestExpiry('dave')).toBe(now + 90_000);
    const closed = tracker.closeSubject('dave', 'revoked', 'gone');
    expect(closed).toMatchObject({ sinks: 2, latestExpiry: now + 90_000 });
    expect(reclaims.map((r) => [r.consumerName, r.reason])).toEqual([
      ['dave/1', 'revoked'],
      ['dave/2', 'revoked'],
    ]);
    expect(tracker.liveSinks).toBe(1);
  });

  test('the sink quota counts per identity and frees on close', () => {
    const { scheduler, tracker } = trackerSetup();
    const frank = identityOf('frank', 'token', grants, scheduler.now() + 60_000, scheduler.now());
    const a = tracker.open(new FakeStream(), 'frank', 'p:1', 4 << 20, frank);
    tracker.open(new FakeStream(), 'frank', 'p:2', 4 << 20, frank);
    expect(() => tracker.open(new FakeStream(), 'frank', 'p:3', 4 << 20, frank)).toThrow(/quota is 2/);
    a.close('client-closed');
    expect(() => tracker.open(new FakeStream(), 'frank', 'p:3', 4 << 20, frank)).not.toThrow();
  });
});

describe('StreamDeadlines', () => {
  test('ends a stream at its credentials expiry, or at once on revocation; forgetting cancels its timer', () => {
    const scheduler = new ManualScheduler();
    const deadlines = new StreamDeadlines(scheduler);
    const ended: string[] = [];
    const now = scheduler.now();
    deadlines.watch(identityOf('g', 'token', grants, now + 500, now), (why) => ended.push(`g1:${why}`));
    deadlines.watch(identityOf('g', 'token', grants, now + 5_000, now), (why) => ended.push(`g2:${why}`));
    const forget = deadlines.watch(identityOf('h', 'token', grants, now + 500, now), (why) => ended.push(`h:${why}`));
    forget();
    scheduler.advance(499);
    expect(ended).toEqual([]);
    scheduler.advance(1);
    expect(ended).toEqual(['g1:credentials-expired']);
    expect(deadlines.revoke('g')).toBe(1);
    expect(ended).toEqual(['g1:credentials-expired', 'g2:revoked']);
    expect(deadlines.size).toBe(0);
    expect(scheduler.pendingTimers).toBe(0);
  });
});

describe('quotas and revocations', () => {
  test('a token bucket refills at its rate and says how long to wait', () => {
    const bucket = new TokenBucket(10, 10, 0);
    expect(bucket.take(10, 0)).toBe(0);
    expect(bucket.take(1, 0)).toBe(100);
    expect(bucket.take(1, 100)).toBe(0);
    expect(bucket.take(5, 100)).toBe(500);
  });

  test('a revocation refuses credentials issued until then, for at least the longest token lifetime', () => {
    const r = new Revocations(10, 60_000, '');
    const old = identityOf('i', 'token', grants, 1_050_000, 990_000);
    const noIat = identityOf('i', 'token', grants, 1_050_000, undefined);
    const fresh = identityOf('i', 'token', grants, 1_100_000, 1_000_001);
    expect(r.revoke('i', 1_000_000, 1_200_000)).toBe(1_200_000);
    expect(r.refusal(old, 1_000_500)).toMatch(/revoked/);
    expect(r.refusal(noIat, 1_000_500)).toMatch(/revoked/);
    expect(r.refusal(fresh, 1_000_500)).toBeUndefined();
    expect(r.refusal(old, 1_200_000)).toBeUndefined(); // past `until`: the entry is gone
    expect(r.size).toBe(0);
  });
});
