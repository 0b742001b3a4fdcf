import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from '../lib/workers';
import type { BenchCredentials, Mode } from '../security';

type Msg = { type: string; port?: number; lastAt?: number };

export interface ProfiledRun {
  readonly dir: string;
  readonly delivered: number;
  readonly fromUs: number;
  readonly toUs: number;
  readonly eventsPerSecond: number;
  /** Profile file per process role. */
  readonly files: Record<'provider' | 'consumer' | 'publisher', string>;
}

const PAYLOAD = 256;
const SUBS = 100;
const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

/**
 * One tether fan-out (same shape as `npm run bench -- --only=fanout`: 256 B events, 100 subscriptions per
 * consumer, 500-event publish batches) with the provider, the first consumer and the publisher each in a
 * process of its own under `node --cpu-prof`. The window is from "go" to the last consumer's "done".
 */
export async function profiledFanout(dir: string, consumers: number, count: number, mode: Mode = 'plaintext', creds?: BenchCredentials): Promise<ProfiledRun> {
  if (mode !== 'plaintext' && !creds) throw new Error(`mode ${mode} needs credentials`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const prof = (name: string) => ['--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${name}.cpuprofile`];
  // The provider runs with the old-generation floor it ships with (Dockerfile, compose, npm run start:provider).
  const provider = new Worker<Msg>('../profile/provider-worker.js', creds ? creds.provider(mode) : { sinkQueueMaxEvents: 1_000_000, sinkQueueMaxBytes: 256 * 1024 * 1024 }, ['--initial-old-space-size=64', ...prof('provider')]);
  const { port } = await provider.next('ready', 30_000);
  const base = { count, subs: SUBS, payload: PAYLOAD, rate: 0, durationMs: 0, latency: 0, maxMs: 180_000, mode: 'tether', address: `127.0.0.1:${port}` };
  const subs = Array.from({ length: consumers }, (_, i) => new Worker<Msg>('fanout-worker.js', { ...base, role: 'consume', ...creds?.worker(mode, 'consume') }, i === 0 ? prof('consumer') : []));
  const pub = new Worker<Msg>('fanout-worker.js', { ...base, role: 'publish', ...creds?.worker(mode, 'publish') }, prof('publisher'));
  try {
    await Promise.all([...subs.map((w) => w.next('ready')), pub.next('ready')]);
    const fromUs = monotonicUs();
    const t0 = performance.timeOrigin + performance.now();
    pub.send({ type: 'go' });
    const done = await Promise.all(subs.map((w) => w.next('done', 170_000)));
    const toUs = monotonicUs();
    const end = Math.max(...done.map((d) => d.lastAt ?? 0));
    // Every process exits by itself (consumers after "done"), so each writes its profile.
    pub.send({ type: 'exit' });
    provider.send({ type: 'exit' });
    await Promise.all([...subs.map((w) => w.exited), pub.exited, provider.exited]);
    const files = { provider: 'provider', consumer: 'consumer', publisher: 'publisher' } as const;
    return {
      dir,
      delivered: consumers * count,
      fromUs,
      toUs,
      eventsPerSecond: (consumers * count) / ((end - t0) / 1000),
      files: Object.fromEntries(Object.entries(files).map(([k, v]) => [k, path.join(dir, `${v}.cpuprofile`)])) as ProfiledRun['files'],
    };
  } finally {
    await Promise.all([...subs.map((w) => w.kill()), pub.kill(), provider.kill()]);
  }
}
