import { ConsumerProcess } from '../test/helpers/consumer-process';
import { ProviderHarness } from '../test/helpers/provider-harness';
import { SilentProxy } from '../test/helpers/silent-proxy';
import { event, publish, publisher } from '../test/helpers/sink-test-client';
import { RawStreamServer } from './lib/raw-server';
import type { BenchResult } from './lib/report';
import { percentile, round } from './lib/stats';
import { Worker } from './lib/workers';

type Mode = 'clean close' | 'kill -9' | 'SIGSTOP' | 'silent network' | 'slow consumer';
const MODES: Mode[] = ['clean close', 'kill -9', 'SIGSTOP', 'silent network', 'slow consumer'];
const KEEPALIVE = { keepaliveTimeMs: 500, keepaliveTimeoutMs: 500 };

function env(address: string, name: string, extra: Record<string, string> = {}) {
  return { TETHER_PROVIDER_ADDRESS: address, CONSUMER_NAME: name, CONSUMER_SUBSCRIPTIONS: 'b=bench.{1..100}.x;all=bench.>', CONSUMER_IDLE_TIMEOUT_MS: '60000', ...extra };
}

/** One Tether trial: break a real consumer process, return ms from the break to the reclaim record. */
async function tetherTrial(h: ProviderHarness, mode: Mode, i: number): Promise<{ ms: number; reason: string }> {
  const name = `trial-${i}`;
  const proxy = mode === 'silent network' ? new SilentProxy(h.provider.port) : undefined;
  if (proxy) await proxy.start();
  const extra: Record<string, string> = mode === 'slow consumer' ? { CONSUMER_HANDLER_DELAY_MS: '600000', CONSUMER_QUEUE_MAX: '5' } : {};
  const consumer = new ConsumerProcess(env(proxy ? `127.0.0.1:${proxy.port}` : h.address, name, extra));
  try {
    await consumer.waitSubscribed();
    const reclaim = h.nextReclaim(name).then((r) => ({ at: Date.now(), reason: r.reason }));
    const brokeAt = Date.now();
    if (mode === 'clean close') consumer.signal('SIGTERM');
    if (mode === 'kill -9') consumer.signal('SIGKILL');
    if (mode === 'SIGSTOP') consumer.signal('SIGSTOP');
    if (mode === 'silent network') proxy?.silence();
    if (mode === 'slow consumer') {
      // The break is the moment the consumer stops reading: its handler takes the first event forever.
      const pub = publisher(h.address);
      let done = false;
      void reclaim.then(() => (done = true));
      for (let n = 0; n < 2_000 && !done; n++) await publish(pub, Array.from({ length: 50 }, () => event('bench.1.x', { data: Buffer.alloc(1024) })));
      pub.close();
    }
    const r = await reclaim;
    return { ms: r.at - brokeAt, reason: r.reason };
  } finally {
    if (mode === 'SIGSTOP') consumer.signal('SIGCONT');
    await consumer.kill();
    await proxy?.stop();
  }
}

/** The same break against a plain grpc-js server with default options: detected, or not within the window. */
async function plainTrial(server: RawStreamServer, mode: Mode, windowMs: number): Promise<number | undefined> {
  const proxy = mode === 'silent network' ? new SilentProxy(server.port) : undefined;
  if (proxy) await proxy.start();
  const address = `127.0.0.1:${proxy ? proxy.port : server.port}`;
  const w = new Worker<{ type: string }>('fanout-worker.js', { role: 'consume', mode: 'raw', address, count: 1e9, subs: 1, payload: 0, rate: 0, durationMs: 0, latency: 0, maxMs: 60_000 });
  try {
    await w.next('ready');
    const before = server.connected;
    const deadline = Date.now() + 5_000;
    while (server.connected === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    let detectedAt: number | undefined;
    server.onCancelled = (at) => (detectedAt ??= at);
    const brokeAt = Date.now();
    if (mode === 'kill -9') w.child.kill('SIGKILL');
    if (mode === 'SIGSTOP') w.child.kill('SIGSTOP');
    if (mode === 'silent network') proxy?.silence();
    const end = Date.now() + windowMs;
    while (detectedAt === undefined && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
    return detectedAt === undefined ? undefined : detectedAt - brokeAt;
  } finally {
    server.onCancelled = () => undefined;
    w.child.kill('SIGCONT');
    await w.kill();
    await proxy?.stop();
  }
}

export async function reclaimLatencyBench(quick: boolean): Promise<BenchResult> {
  const trials = quick ? 3 : 20;
  const windowMs = quick ? 2_000 : 5_000;
  const h = await ProviderHarness.start({ ...KEEPALIVE, sinkDrainTimeoutMs: 1_000, sinkQueueMaxEvents: 20_000, historyMaxEvents: 1_000, historyMaxBytes: 1 << 20 });
  const plain = new RawStreamServer();
  await plain.start();
  const rows: BenchResult['rows'] = [];
  const groups: NonNullable<BenchResult['chart']>['groups'] = [];
  try {
    for (const mode of MODES) {
      const samples: number[] = [];
      const reasons = new Set<string>();
      for (let i = 0; i < trials; i++) {
        const t = await tetherTrial(h, mode, i);
        samples.push(t.ms);
        reasons.add(t.reason);
      }
      let plainText = 'n/a (no queue bound)';
      let plainP50 = NaN;
      let plainBar = 'n/a';
      if (mode !== 'clean close' && mode !== 'slow consumer') {
        const plainSamples: Array<number | undefined> = [];
        for (let i = 0; i < Math.min(trials, quick ? 2 : 5); i++) plainSamples.push(await plainTrial(plain, mode, windowMs));
        const seen = plainSamples.filter((x): x is number => x !== undefined);
        plainP50 = seen.length ? percentile(seen, 0.5) : NaN;
        plainText = seen.length === plainSamples.length ? `p50 ${round(plainP50, 1)} ms` : `${plainSamples.length - seen.length}/${plainSamples.length} never noticed in ${windowMs / 1000} s`;
        plainBar = seen.length === plainSamples.length ? `${round(plainP50, 1)}` : `never in ${windowMs / 1000} s`;
      }
      rows.push({
        'failure mode': mode,
        trials,
        reason: [...reasons].join(','),
        'p50 ms': round(percentile(samples, 0.5), 1),
        'p99 ms': round(percentile(samples, 0.99), 1),
        'max ms': round(Math.max(...samples), 1),
        'plain grpc-js server (defaults)': plainText,
      });
      groups.push({ group: mode, bars: [{ label: 'tether p50', value: percentile(samples, 0.5) }, { label: 'tether p99', value: percentile(samples, 0.99) }, { label: 'plain grpc-js p50', value: plainP50, text: plainBar }] });
    }
  } finally {
    await plain.stop();
    await h.stop();
  }
  return {
    name: 'reclaim-latency',
    title: 'Reclaim latency per failure mode: break → reclaim record (ms)',
    columns: Object.keys(rows[0]),
    rows,
    chart: { unit: 'ms', groups, log: true },
    notes: [
      `keepalive time ${KEEPALIVE.keepaliveTimeMs} ms + timeout ${KEEPALIVE.keepaliveTimeoutMs} ms (bound ${KEEPALIVE.keepaliveTimeMs + KEEPALIVE.keepaliveTimeoutMs} ms); slow consumer: drain timeout 1,000 ms, timed from the start of the flood`,
      'consumers are the real consumer service (101 subscriptions) in their own processes; clean close = SIGTERM (half-close, then exit)',
    ],
  };
}
