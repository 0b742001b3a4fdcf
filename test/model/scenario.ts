import fc from 'fast-check';
import { ALL_CLOSE_REASONS } from '../../shared/close-reason';
import { type ProviderConfig, providerConfig } from '../../services/provider/provider-config';
import { ProviderMetrics } from '../../services/provider/provider-metrics';
import { type ModelCommand, settleAndVerify } from './commands';
import { note } from './coverage';
import { ModelViolation, SinkModel } from './sink-model';
import { World } from './world';

/** Small limits, so every bound is reached within a few commands. */
const SMALL: Partial<ProviderConfig> = {
  port: 0,
  metricsPort: -1,
  maxSubscriptionsPerSink: 5,
  maxSpecsPerSubscribe: 5,
  maxIdsPerUnsubscribe: 5,
  maxSubscriptionIdBytes: 16,
  maxConsumerNameLength: 16,
  maxPatternLength: 16,
  maxPatternDepth: 3,
  maxAttributes: 1,
  maxEventBytes: 512,
  maxPublishBatch: 12,
  batchMaxBytes: 1024,
  heartbeatMs: 300,
  sinkDrainTimeoutMs: 200,
  livenessSweepMs: 50,
  openTimeoutMs: 100,
  closeLingerMs: 100,
};

/** Long ids and more subscriptions per sink, so deliveries, acks and gaps must be split to the receive limit. */
const SPLIT: Partial<ProviderConfig> = {
  ...SMALL,
  maxSubscriptionsPerSink: 20,
  maxSpecsPerSubscribe: 20,
  maxIdsPerUnsubscribe: 20,
  maxSubscriptionIdBytes: 4096,
};

export const scenarioArb: fc.Arbitrary<Partial<ProviderConfig>> = fc
  .record({
    split: fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    sinkQueueMaxEvents: fc.constantFrom(4, 6, 8, 40),
    sinkQueueMaxBytes: fc.constantFrom(1_024, 2_048, 1 << 20),
    sinkControlQueueMax: fc.integer({ min: 2, max: 4 }),
    batchMaxEvents: fc.integer({ min: 1, max: 4 }),
    batchMaxBytes: fc.constantFrom(1_024, 65_536),
    historyMaxEvents: fc.constantFrom(0, 3, 6, 10_000),
    historyMaxBytes: fc.constantFrom(0, 200, 500, 1 << 20),
    historyMaxAgeMs: fc.constantFrom(0, 300, 1_000, 600_000),
    replayScanPerTurn: fc.integer({ min: 1, max: 3 }),
    maxSinks: fc.integer({ min: 2, max: 5 }),
    purgeChunk: fc.constantFrom(1, 2, 3, 2_000),
    classifyWindowMs: fc.constantFrom(0, 20),
  })
  .map(({ split, ...o }) => (split ? { ...SPLIT, ...o, sinkQueueMaxBytes: 4 << 20 } : { ...SMALL, ...o }));

let metrics: ProviderMetrics | undefined;
let current: World | undefined;

/** One metrics registry for the whole file (prom-client's default collectors are costly to make per run). */
function sharedMetrics(): ProviderMetrics {
  metrics ??= new ProviderMetrics({
    liveSinks: () => current?.tracker.liveSinks ?? 0,
    liveSubscriptions: () => current?.registry.liveCount ?? 0,
    queueDepths: () => current?.tracker.list().map((s) => s.queueDepth) ?? [],
    historySize: () => current?.history.size ?? 0,
    headSequence: () => current?.router.headSequence ?? 0,
    reclaimWatchers: () => current?.tracker.watcherCount ?? 0,
  });
  return metrics;
}

async function reclaimCounters(m: ProviderMetrics): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const [name, counter] of [
    ['sinks', m.reclaimedSinks],
    ['subscriptions', m.reclaimedSubscriptions],
  ] as const) {
    for (const v of (await counter.get()).values) out.set(`${name}/${String(v.labels.reason)}`, v.value);
  }
  return out;
}

const START = Date.parse('2024-01-01T00:00:00Z');

/**
 * Runs one command sequence against a fresh set of provider objects and the model, then lets every
 * consumer read, every window pass and the provider shut down, and checks that nothing is left.
 */
export async function runModel(overrides: Partial<ProviderConfig>, commands: Iterable<ModelCommand>): Promise<void> {
  const config = providerConfig(overrides);
  const shared = sharedMetrics();
  const countersBefore = await reclaimCounters(shared);
  let model: SinkModel | undefined;
  const world = new World(config, shared, START, {
    request: (key, message) => model?.request(world, key, message),
    halfClose: (key) => model?.halfClose(world, key),
    cancel: (key) => model?.cancel(world, key),
  });
  const m = new SinkModel(config, () => world.scheduler.now());
  model = m;
  m.epoch = world.router.epoch;
  world.scheduler.onFire = (label, at) => m.timer(world, label.owner, label.kind, at);
  current = world;
  // The router stamps events with Date.now(); the history ages them by the scheduler's clock.
  const realNow = Date.now;
  Date.now = () => world.scheduler.now();
  try {
    await fc.asyncModelRun(() => ({ model: m, real: world }), commands);
    await finale(m, world);
  } finally {
    Date.now = realNow;
    world.dispose();
    current = undefined;
  }
  tally(world);
  const countersAfter = await reclaimCounters(shared);
  const totals = world.tracker.totals();
  for (const reason of ALL_CLOSE_REASONS) {
    const sinks = (countersAfter.get(`sinks/${reason}`) ?? 0) - (countersBefore.get(`sinks/${reason}`) ?? 0);
    const subs = (countersAfter.get(`subscriptions/${reason}`) ?? 0) - (countersBefore.get(`subscriptions/${reason}`) ?? 0);
    if (sinks !== totals.reclaimedSinks[reason] || subs !== totals.reclaimedSubscriptions[reason]) {
      throw new ModelViolation(`metrics for ${reason}: ${sinks} sinks / ${subs} subscriptions, tracker ${totals.reclaimedSinks[reason]} / ${totals.reclaimedSubscriptions[reason]}`);
    }
  }
}

async function finale(m: SinkModel, w: World): Promise<void> {
  const c = w.config;
  const pass = Math.max(c.classifyWindowMs, c.openTimeoutMs, c.sinkDrainTimeoutMs, c.livenessSweepMs) + 1;
  // Every consumer reads what it was sent and every classification is answered.
  m.releaseClassifications(w);
  w.releaseClassifications();
  for (const ws of w.sessions) if (ws.stream.stalled) ws.stream.resumeReader();
  await settleAndVerify(m, w, true);
  await w.scheduler.advance(pass, 'step', () => settleAndVerify(m, w, true));
  m.releaseClassifications(w);
  w.releaseClassifications();
  await settleAndVerify(m, w, true);
  // The provider stops; the server then cancels every call still open.
  if (m.running) {
    m.shutdown(w, true);
    w.shutdown(true);
  } else {
    m.shutdown(w, false);
    w.shutdown(false);
  }
  await settleAndVerify(m, w, true);
  for (const s of m.sessions) {
    if (s.clientCancelled) continue;
    s.clientDone = true;
    s.clientCancelled = true;
    w.sessions[s.key].stream.cancel();
  }
  await settleAndVerify(m, w, true);
  await w.scheduler.advance(pass, 'step', () => settleAndVerify(m, w, true));
  await settleAndVerify(m, w, true);
  const left: string[] = [];
  if (w.registry.liveCount !== 0) left.push(`${w.registry.liveCount} live subscriptions`);
  if (w.registry.indexedCount !== 0) left.push(`${w.registry.indexedCount} subscriptions still indexed`);
  if (w.tracker.liveSinks !== 0) left.push(`${w.tracker.liveSinks} sinks`);
  if (w.scheduler.pending().length !== 0) left.push(`timers ${w.scheduler.pending().map((t) => `${t.label.owner}/${t.label.kind}`)}`);
  if (w.scheduler.deferredCount !== 0) left.push(`${w.scheduler.deferredCount} deferred tasks`);
  for (const ws of w.sessions) if (ws.stream.drainListenerCount !== 0) left.push(`a drain listener on session ${ws.key}`);
  if (w.heldClassifications !== 0) left.push(`${w.heldClassifications} classifications never answered`);
  if (left.length > 0) throw new ModelViolation(`after shutdown and every window: ${left.join(', ')}`);
}

/** What the consumers of one run read, for the coverage report. */
function tally(w: World): void {
  note('runs');
  note(`runs with ${w.sessions.length} streams`);
  for (const ws of w.sessions) {
    const events = new Map<number, number>();
    for (const item of ws.stream.read) {
      if (item.kind === 'batch') {
        note('read batches');
        if (item.deliveries.length > 1) note('read batches of several deliveries');
        for (const d of item.deliveries) {
          note('read deliveries');
          events.set(d.sequence, (events.get(d.sequence) ?? 0) + 1);
        }
      } else {
        const kind = item.message.kind?.$case ?? 'empty';
        note(`read ${kind}${kind === 'ack' && item.message.kind?.$case === 'ack' && item.message.kind.value.errors.length > 0 ? ' with refusals' : ''}`);
      }
    }
    for (const n of events.values()) if (n > 1) note('events split over several deliveries');
    if (ws.stream.providerEnd) note(`stream ended by provider: ${ws.stream.providerEnd.kind}${ws.stream.providerEnd.kind === 'finish' ? ` ${ws.stream.providerEnd.code}` : ''}`);
    if (ws.stream.written.length > ws.stream.read.length) note('streams with unread writes');
  }
}
