import type { BenchResult } from './lib/report';
import { NatsServer } from './lib/nats-server';
import { startProvider } from './lib/providers';
import { RawStreamServer } from './lib/raw-server';
import { round } from './lib/stats';
import { Worker } from './lib/workers';

type Msg = { type: string; count?: number; firstAt?: number; lastAt?: number; p50?: number; p99?: number; max?: number };
type Mode = 'tether' | 'raw' | 'raw16' | 'nats';

const PAYLOAD = 256;
const SUBS = 100;
const BENCH_QUEUE = { sinkQueueMaxEvents: 1_000_000, sinkQueueMaxBytes: 256 * 1024 * 1024 };

/** Runs one fan-out: C consumer processes, N events each; returns delivered events per second. */
async function fanout(mode: Mode, consumers: number, count: number): Promise<number> {
  const base = { count, subs: SUBS, payload: PAYLOAD, rate: 0, durationMs: 0, latency: 0, maxMs: 120_000 };
  let address = '';
  let stop: () => Promise<void>;
  let raw: RawStreamServer | undefined;
  if (mode === 'nats') {
    const nats = new NatsServer();
    await nats.start();
    address = `127.0.0.1:${nats.port}`;
    stop = () => nats.stop();
  } else if (mode === 'tether') {
    // A throughput run offers events faster than one consumer drains them: give the queue room for the
    // whole run so the figure is delivery throughput, not the slow-consumer bound (which the tests cover).
    const provider = await startProvider(BENCH_QUEUE);
    address = `127.0.0.1:${provider.port}`;
    stop = () => provider.stop(100);
  } else {
    raw = new RawStreamServer();
    await raw.start();
    address = `127.0.0.1:${raw.port}`;
    const r = raw;
    stop = () => r.stop();
  }
  const workerMode = mode === 'raw16' ? 'raw' : mode;
  const subs = Array.from({ length: consumers }, () => new Worker<Msg>('fanout-worker.js', { ...base, role: 'consume', mode: workerMode, address }));
  const pub = mode.startsWith('raw') ? undefined : new Worker<Msg>('fanout-worker.js', { ...base, role: 'publish', mode: workerMode, address });
  try {
    await Promise.all([...subs.map((w) => w.next('ready')), pub?.next('ready')]);
    if (raw) {
      const deadline = Date.now() + 10_000;
      while (raw.connected < consumers && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    }
    const t0 = performance.timeOrigin + performance.now();
    if (pub) pub.send({ type: 'go' });
    else await raw?.blast(count, PAYLOAD, mode === 'raw16' ? 16 : 1);
    const done = await Promise.all(subs.map((w) => w.next('done', 120_000)));
    const end = Math.max(...done.map((d) => d.lastAt ?? 0));
    return (consumers * count) / ((end - t0) / 1000);
  } finally {
    await Promise.all([...subs.map((w) => w.kill()), pub?.kill()]);
    await stop();
  }
}

export async function fanoutBench(quick: boolean): Promise<BenchResult> {
  const counts = quick ? [1, 4] : [1, 4, 16];
  const modes: Mode[] = ['raw', 'raw16', 'nats', 'tether'];
  const labels: Record<Mode, string> = { raw: 'grpc-js raw, 1/msg', raw16: 'grpc-js raw, 16/msg', nats: 'nats-server core', tether: 'tether' };
  const rows: BenchResult['rows'] = [];
  const groups: NonNullable<BenchResult['chart']>['groups'] = [];
  for (const c of counts) {
    const n = quick ? 5_000 : c >= 16 ? 100_000 : 200_000;
    const figures: Partial<Record<Mode, number>> = {};
    for (const mode of modes) {
      const runs = quick ? 1 : 3;
      const samples: number[] = [];
      for (let i = 0; i < runs; i++) {
        samples.push(await fanout(mode, c, n));
        process.stderr.write(`  fanout ${mode} C=${c}: ${Math.round(samples[samples.length - 1])} ev/s\n`);
      }
      figures[mode] = samples.sort((a, b) => a - b)[Math.floor(samples.length / 2)];
    }
    rows.push({
      consumers: c,
      'events/consumer': n,
      ...Object.fromEntries(modes.map((m) => [`${labels[m]} ev/s`, Math.round(figures[m] ?? 0)])),
      'tether ÷ nats': round((figures.tether ?? 0) / (figures.nats ?? 1)),
      'tether ÷ raw 1/msg': round((figures.tether ?? 0) / (figures.raw ?? 1)),
    });
    groups.push({ group: `C = ${c}`, bars: modes.map((m) => ({ label: labels[m], value: figures[m] ?? 0 })) });
  }
  return {
    name: 'fanout',
    title: 'Fan-out throughput: events/s delivered to C consumer processes (256-byte payloads)',
    columns: Object.keys(rows[0]),
    rows,
    chart: { unit: 'events/s', groups },
    notes: [
      `each consumer holds ${SUBS} subscriptions, one of which matches; medians of ${quick ? 1 : 3} runs`,
      'tether and nats: one publisher process (tether: PublishStream, 500-event batches, 4 unanswered at most); raw grpc-js: the server writes pre-encoded messages itself',
      'tether sink queues raised to 1M deliveries / 256 MiB for this run, so a consumer behind the publisher is measured, not closed as slow-consumer',
    ],
  };
}

/** Publish-to-delivery latency at a light and a heavy rate, tether next to nats. */
export async function latencyBench(quick: boolean): Promise<BenchResult> {
  const rates = [200, quick ? 5_000 : 20_000];
  const durationMs = quick ? 1_000 : 5_000;
  const rows: BenchResult['rows'] = [];
  const groups: NonNullable<BenchResult['chart']>['groups'] = [];
  for (const rate of rates) {
    const count = Math.round((rate * durationMs) / 1000);
    const bars: Array<{ label: string; value: number }> = [];
    for (const mode of ['nats', 'tether'] as const) {
      let address = '';
      let stop: () => Promise<void>;
      if (mode === 'nats') {
        const nats = new NatsServer();
        await nats.start();
        address = `127.0.0.1:${nats.port}`;
        stop = () => nats.stop();
      } else {
        const provider = await startProvider(BENCH_QUEUE);
        address = `127.0.0.1:${provider.port}`;
        stop = () => provider.stop(100);
      }
      const base = { count, subs: SUBS, payload: PAYLOAD, rate, durationMs, latency: 1, maxMs: 120_000, address, mode };
      const sub = new Worker<Msg>('fanout-worker.js', { ...base, role: 'consume' });
      const pub = new Worker<Msg>('fanout-worker.js', { ...base, role: 'publish' });
      try {
        await Promise.all([sub.next('ready'), pub.next('ready')]);
        pub.send({ type: 'go' });
        const d = await sub.next('done', durationMs * 3 + 30_000);
        rows.push({ system: mode, 'rate ev/s': rate, events: count, 'p50 ms': round(d.p50 ?? NaN, 3), 'p99 ms': round(d.p99 ?? NaN, 3), 'max ms': round(d.max ?? NaN, 2) });
        bars.push({ label: `${mode} p50`, value: d.p50 ?? 0 }, { label: `${mode} p99`, value: d.p99 ?? 0 });
      } finally {
        await Promise.all([sub.kill(), pub.kill()]);
        await stop();
      }
    }
    groups.push({ group: `${rate} ev/s`, bars });
  }
  return {
    name: 'latency',
    title: 'Publish-to-delivery latency (ms), one consumer process, one publisher process',
    columns: ['system', 'rate ev/s', 'events', 'p50 ms', 'p99 ms', 'max ms'],
    rows,
    chart: { unit: 'ms', groups, log: true },
    notes: ['timestamps are wall-clock (performance.timeOrigin + now) in the publisher and consumer processes; tether publishes over one PublishStream, one batch per millisecond tick'],
  };
}
