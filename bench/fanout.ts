import type { BenchResult } from './lib/report';
import { NatsServer } from './lib/nats-server';
import { createDirectStream } from './lib/direct-stream';
import { startProvider } from './lib/providers';
import { RawStreamServer } from './lib/raw-server';
import { RelayServer } from './lib/relay-server';
import { round } from './lib/stats';
import { Worker } from './lib/workers';

type Msg = { type: string; count?: number; firstAt?: number; lastAt?: number; p50?: number; p99?: number; max?: number };
type Mode = 'tether' | 'tether-js' | 'js-direct' | 'raw' | 'raw16' | 'raw256' | 'nats';

const PAYLOAD = 256;
const SUBS = 100;
const BENCH_QUEUE = { sinkQueueMaxEvents: 1_000_000, sinkQueueMaxBytes: 256 * 1024 * 1024 };

/** Runs one fan-out: C consumer processes, N events each; returns delivered events per second. */
async function fanout(mode: Mode, consumers: number, count: number, payload = PAYLOAD): Promise<number> {
  const base = { count, subs: SUBS, payload, rate: 0, durationMs: 0, latency: 0, maxMs: 180_000 };
  let address = '';
  let stop: () => Promise<void>;
  let raw: RawStreamServer | undefined;
  if (mode === 'nats' || mode === 'js-direct') {
    const nats = new NatsServer(mode === 'js-direct');
    await nats.start();
    if (mode === 'js-direct') await createDirectStream(nats.url);
    address = `127.0.0.1:${nats.port}`;
    stop = () => nats.stop();
  } else if (mode === 'tether' || mode === 'tether-js') {
    ({ address, stop } = await tetherOn(mode));
  } else {
    raw = new RawStreamServer();
    await raw.start();
    address = `127.0.0.1:${raw.port}`;
    const r = raw;
    stop = () => r.stop();
  }
  const workerMode = mode.startsWith('raw') ? 'raw' : mode === 'tether-js' ? 'tether' : mode;
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
    else await raw?.blast(count, payload, mode === 'raw256' ? 256 : mode === 'raw16' ? 16 : 1);
    const done = await Promise.all(subs.map((w) => w.next('done', 170_000)));
    const end = Math.max(...done.map((d) => d.lastAt ?? 0));
    return (consumers * count) / ((end - t0) / 1000);
  } finally {
    await Promise.all([...subs.map((w) => w.kill()), pub?.kill()]);
    await stop();
  }
}

/**
 * A provider for a throughput run, on the memory log or on a JetStream log of its own nats-server. A
 * throughput run offers events faster than one consumer drains them: the queue gets room for the whole run
 * so the figure is delivery throughput, not the slow-consumer bound (which the tests cover).
 */
async function tetherOn(mode: 'tether' | 'tether-js'): Promise<{ address: string; stop: () => Promise<void> }> {
  if (mode === 'tether') {
    const provider = await startProvider(BENCH_QUEUE);
    return { address: `127.0.0.1:${provider.port}`, stop: () => provider.stop(100) };
  }
  const nats = new NatsServer(true);
  await nats.start();
  const provider = await startProvider({ ...BENCH_QUEUE, eventLog: 'jetstream', natsUrl: nats.url, replicaId: 'bench' });
  return {
    address: `127.0.0.1:${provider.port}`,
    stop: async () => {
      await provider.stop(100);
      await nats.stop();
    },
  };
}

const LABELS: Record<Mode, string> = {
  raw: 'grpc-js raw, 1/msg',
  raw16: 'grpc-js raw, 16/msg',
  raw256: 'grpc-js raw, 256/msg',
  nats: 'nats-server core',
  'js-direct': 'JetStream direct',
  tether: 'tether (memory log)',
  'tether-js': 'tether (JetStream log)',
};

export async function fanoutBench(quick: boolean): Promise<BenchResult> {
  // Each case: consumers and payload bytes; the last is the 4 KiB row. BENCH_CONSUMERS=16 and
  // BENCH_SYSTEMS=tether,js-direct narrow a run while iterating; the README's figures use neither.
  const all: Array<[number, number]> = quick ? [[1, PAYLOAD], [4, PAYLOAD]] : [[1, PAYLOAD], [4, PAYLOAD], [16, PAYLOAD], [64, PAYLOAD], [4, 4096]];
  const cases = process.env.BENCH_CONSUMERS ? all.filter(([c]) => process.env.BENCH_CONSUMERS?.split(',').map(Number).includes(c)) : all;
  const systems: Mode[] = ['raw', 'raw16', 'raw256', 'nats', 'js-direct', 'tether', 'tether-js'];
  const modes = process.env.BENCH_SYSTEMS ? systems.filter((m) => process.env.BENCH_SYSTEMS?.split(',').includes(m)) : systems;
  const labels = LABELS;
  const rows: BenchResult['rows'] = [];
  const groups: NonNullable<BenchResult['chart']>['groups'] = [];
  for (const [c, payload] of cases) {
    // Fewer events per consumer as consumers multiply (and for big payloads), so every row takes seconds.
    const n = quick ? 5_000 : payload > PAYLOAD ? 50_000 : c >= 64 ? 10_000 : c >= 16 ? 100_000 : 200_000;
    const figures: Partial<Record<Mode, number>> = {};
    for (const mode of modes) {
      const runs = quick ? 1 : Number(process.env.BENCH_RUNS ?? 3);
      const samples: number[] = [];
      for (let i = 0; i < runs; i++) {
        samples.push(await fanout(mode, c, n, payload));
        process.stderr.write(`  fanout ${mode} C=${c} ${payload} B: ${Math.round(samples[samples.length - 1])} ev/s\n`);
      }
      figures[mode] = samples.sort((a, b) => a - b)[Math.floor(samples.length / 2)];
    }
    rows.push({
      consumers: c,
      payload: `${payload} B`,
      'events/consumer': n,
      ...Object.fromEntries(modes.map((m) => [`${labels[m]} ev/s`, Math.round(figures[m] ?? 0)])),
      'tether ÷ nats': round((figures.tether ?? 0) / (figures.nats ?? 1)),
      'tether ÷ raw 1/msg': round((figures.tether ?? 0) / (figures.raw ?? 1)),
      'tether JetStream ÷ JetStream direct': round((figures['tether-js'] ?? 0) / (figures['js-direct'] ?? 1)),
    });
    groups.push({ group: payload === PAYLOAD ? `C = ${c}` : `C = ${c}, ${payload} B`, bars: modes.map((m) => ({ label: labels[m], value: figures[m] ?? 0 })) });
  }
  return {
    name: 'fanout',
    title: 'Fan-out throughput: events/s delivered to C consumer processes',
    columns: Object.keys(rows[0]),
    rows,
    chart: { unit: 'events/s', groups },
    notes: [
      `each consumer holds ${SUBS} subscriptions, one of which matches; medians of ${quick ? 1 : Number(process.env.BENCH_RUNS ?? 3)} runs`,
      'tether and nats: one publisher process (tether: PublishStream, 500-event batches, 216 with 4 KiB payloads so a batch fits one NATS message, 4 unanswered at most); raw grpc-js: the server writes pre-encoded messages itself',
      'tether (JetStream log): the same provider appending each batch as one JetStream message (file storage) and delivering what its one ordered consumer reads',
      'JetStream direct: what a user builds without Tether, on the same nats-server: the publisher appends the same 500-event batch messages (4 in flight), each consumer process runs its own ordered consumer on the stream, decodes every event and matches it against its 100 patterns itself',
      'tether sink queues raised to 1M deliveries / 256 MiB for this run, so a consumer behind the publisher is measured, not closed as slow-consumer',
    ],
  };
}

const LATENCY_SYSTEMS = ['nats', 'js-direct', 'relay', 'tether', 'tether-js'] as const;
type LatencySystem = (typeof LATENCY_SYSTEMS)[number];
const LATENCY_LABELS: Record<LatencySystem, string> = { nats: LABELS.nats, 'js-direct': LABELS['js-direct'], relay: 'grpc-js relay', tether: LABELS.tether, 'tether-js': LABELS['tether-js'] };

/** The server side of one latency run, started fresh. */
async function latencyPeer(mode: LatencySystem): Promise<{ address: string; inProcess: boolean; stop: () => Promise<void> }> {
  if (mode === 'nats' || mode === 'js-direct') {
    const nats = new NatsServer(mode === 'js-direct');
    await nats.start();
    if (mode === 'js-direct') await createDirectStream(nats.url);
    return { address: `127.0.0.1:${nats.port}`, inProcess: false, stop: () => nats.stop() };
  }
  if (mode === 'relay') {
    const relay = new RelayServer();
    await relay.start();
    return { address: `127.0.0.1:${relay.port}`, inProcess: true, stop: () => relay.stop() };
  }
  return { ...(await tetherOn(mode)), inProcess: true };
}

/** Publish-to-delivery latency at 200, 5k and 20k events/s, cold and warm, tether next to its peers. */
export async function latencyBench(quick: boolean): Promise<BenchResult> {
  // BENCH_RATES=20000 and BENCH_SYSTEMS=tether,relay narrow a run while iterating; the README's figures use neither.
  const rates = process.env.BENCH_RATES ? process.env.BENCH_RATES.split(',').map(Number) : quick ? [200, 5_000] : [200, 5_000, 20_000];
  const systems = process.env.BENCH_SYSTEMS ? LATENCY_SYSTEMS.filter((m) => process.env.BENCH_SYSTEMS?.split(',').includes(m)) : LATENCY_SYSTEMS;
  const durationMs = quick ? 1_000 : 3_000;
  const warmupMs = quick ? 500 : 2_000;
  const rows: BenchResult['rows'] = [];
  const groups: NonNullable<BenchResult['chart']>['groups'] = [];
  for (const rate of rates) {
    const count = Math.round((rate * durationMs) / 1000);
    for (const phase of ['cold', 'warm'] as const) {
      const skip = phase === 'warm' ? Math.round((rate * warmupMs) / 1000) : 0;
      const bars: Array<{ label: string; value: number }> = [];
      for (const mode of systems) {
        const peer = await latencyPeer(mode);
        const base = { count: count + skip, skip, subs: SUBS, payload: PAYLOAD, rate, durationMs: durationMs + (phase === 'warm' ? warmupMs : 0), latency: 1, maxMs: 120_000, address: peer.address, mode: mode === 'nats' || mode === 'js-direct' ? mode : 'tether' };
        const sub = new Worker<Msg>('fanout-worker.js', { ...base, role: 'consume' });
        const pub = new Worker<Msg>('fanout-worker.js', { ...base, role: 'publish' });
        try {
          await Promise.all([sub.next('ready'), pub.next('ready')]);
          // The provider and the relay run in this process: its CPU over the run, per event, is theirs.
          const cpu0 = process.cpuUsage();
          pub.send({ type: 'go' });
          const d = await sub.next('done', base.durationMs * 3 + 30_000);
          const cpu = process.cpuUsage(cpu0);
          const cpuPerEvent = peer.inProcess ? round((cpu.user + cpu.system) / (count + skip), 2) : '';
          rows.push({ system: LATENCY_LABELS[mode], 'rate ev/s': rate, phase, events: count, 'p50 ms': round(d.p50 ?? NaN, 3), 'p99 ms': round(d.p99 ?? NaN, 3), 'max ms': round(d.max ?? NaN, 2), 'server CPU µs/event': cpuPerEvent });
          bars.push({ label: `${mode} p99`, value: d.p99 ?? 0 });
          process.stderr.write(`  latency ${mode} ${rate} ev/s ${phase}: p50 ${round(d.p50 ?? NaN, 3)} p99 ${round(d.p99 ?? NaN, 3)} ms, server cpu ${cpuPerEvent} µs/event\n`);
        } finally {
          await Promise.all([sub.kill(), pub.kill()]);
          await peer.stop();
        }
      }
      groups.push({ group: `${rate} ev/s ${phase}`, bars });
    }
  }
  return {
    name: 'latency',
    title: 'Publish-to-delivery latency (ms), one consumer process, one publisher process',
    columns: ['system', 'rate ev/s', 'phase', 'events', 'p50 ms', 'p99 ms', 'max ms', 'server CPU µs/event'],
    rows,
    chart: { unit: 'ms', groups, log: true },
    notes: [
      'timestamps are wall-clock (performance.timeOrigin + now) in the publisher and consumer processes; tether publishes over one PublishStream, one batch per millisecond tick',
      `cold: a fresh server, percentiles from the first event; warm: the same after ${warmupMs} ms at the rate, which the percentiles leave out`,
      'grpc-js relay: a bare grpc-js server speaking the same protocol (PublishStream in, one EventBatch per publish batch out to every sink, nothing else), the floor for a Node design; server CPU: the provider or relay (in the bench process) per published event',
      'JetStream direct: the publisher appends one batch message per millisecond tick; the consumer process runs an ordered consumer on the stream and filters itself',
    ],
  };
}
