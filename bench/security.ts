import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SignJWT } from 'jose';
import { DevCa } from '../services/local/pki';
import type { ProviderConfig } from '../services/provider/provider-config';
import type { BenchResult } from './lib/report';
import { startProvider } from './lib/providers';
import { round } from './lib/stats';
import { Worker } from './lib/workers';

type Msg = { type: string; lastAt?: number; p50?: number; p99?: number; cpuUs?: number };
export type Mode = 'plaintext' | 'tls' | 'tls+auth';
const MODES: Mode[] = ['plaintext', 'tls', 'tls+auth'];

const PAYLOAD = 256;
const SUBS = 100;
const BENCH_QUEUE = { sinkQueueMaxEvents: 1_000_000, sinkQueueMaxBytes: 256 * 1024 * 1024 };
/** Quotas as a token claim, high enough never to be what is measured. */
const UNLIMITED = { sinks: 1_000, subscriptions: 1_000_000, publish_events_per_s: 1e9, publish_bytes_per_s: 1e12 };

/** Credentials made once for the whole benchmark: a CA, the provider's certificate, a JWKS and tokens. */
export class BenchCredentials {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tether-bench-sec-'));
  readonly ca = DevCa.create(this.dir);
  readonly server = this.ca.issue('provider', this.dir, 'server', { san: ['DNS:localhost', 'IP:127.0.0.1'] });
  readonly jwks = path.join(this.dir, 'jwks.json');
  private readonly secret = crypto.randomBytes(32);
  consumerToken = '';
  publisherToken = '';

  async init(): Promise<void> {
    fs.writeFileSync(this.jwks, JSON.stringify({ keys: [{ kty: 'oct', k: this.secret.toString('base64url'), kid: 'bench', alg: 'HS256' }] }));
    const sign = (sub: string, claims: object) =>
      new SignJWT({ ...claims, quotas: UNLIMITED })
        .setProtectedHeader({ alg: 'HS256', kid: 'bench' })
        .setSubject(sub)
        .setIssuedAt()
        .setExpirationTime('1h')
        .sign(this.secret);
    this.consumerToken = await sign('bench', { roles: ['consumer'], subscribe: ['bench.>'] });
    this.publisherToken = await sign('bench-publisher', { roles: ['publisher'], publish: ['bench.>'] });
  }

  provider(mode: Mode): Partial<ProviderConfig> {
    if (mode === 'plaintext') return BENCH_QUEUE;
    const tls = { ...BENCH_QUEUE, tlsCertFile: this.server.cert, tlsKeyFile: this.server.key };
    return mode === 'tls' ? tls : { ...tls, authJwksFile: this.jwks };
  }

  worker(mode: Mode, role: 'consume' | 'publish'): Record<string, string> {
    if (mode === 'plaintext') return {};
    if (mode === 'tls') return { ca: this.ca.cert };
    return { ca: this.ca.cert, token: role === 'consume' ? this.consumerToken : this.publisherToken, name: 'bench' };
  }

  cleanup(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

async function withProvider<T>(creds: BenchCredentials, mode: Mode, fn: (address: string) => Promise<T>): Promise<T> {
  const provider = await startProvider(creds.provider(mode));
  try {
    return await fn(`127.0.0.1:${provider.port}`);
  } finally {
    await provider.stop(100);
  }
}

interface FanoutRun {
  /** Events/s delivered, all consumers together. */
  readonly rate: number;
  /** CPU µs per delivered event: the provider (this process) and the consumers together. */
  readonly providerCpuUs: number;
  readonly consumerCpuUs: number;
}

/**
 * Events/s delivered to `consumers` processes, each getting `count` events, and the CPU spent per event.
 * On a shared machine the rate swings with other load; CPU per event much less so.
 */
function fanout(creds: BenchCredentials, mode: Mode, consumers: number, count: number): Promise<FanoutRun> {
  return withProvider(creds, mode, async (address) => {
    const base = { count, subs: SUBS, payload: PAYLOAD, rate: 0, durationMs: 0, latency: 0, maxMs: 120_000, mode: 'tether', address };
    const subs = Array.from({ length: consumers }, () => new Worker<Msg>('fanout-worker.js', { ...base, role: 'consume', ...creds.worker(mode, 'consume') }));
    const pub = new Worker<Msg>('fanout-worker.js', { ...base, role: 'publish', ...creds.worker(mode, 'publish') });
    try {
      await Promise.all([...subs.map((w) => w.next('ready')), pub.next('ready')]);
      const t0 = performance.timeOrigin + performance.now();
      const cpu0 = process.cpuUsage();
      pub.send({ type: 'go' });
      const done = await Promise.all(subs.map((w) => w.next('done', 120_000)));
      const cpu = process.cpuUsage(cpu0);
      const delivered = consumers * count;
      return {
        rate: delivered / ((Math.max(...done.map((d) => d.lastAt ?? 0)) - t0) / 1000),
        providerCpuUs: (cpu.user + cpu.system) / delivered,
        consumerCpuUs: done.reduce((sum, d) => sum + (d.cpuUs ?? 0), 0) / delivered,
      };
    } finally {
      await Promise.all([...subs.map((w) => w.kill()), pub.kill()]);
    }
  });
}

/** p50 and p99 publish-to-delivery latency at a light rate. */
function latency(creds: BenchCredentials, mode: Mode, rate: number, durationMs: number, warmupMs: number): Promise<{ p50: number; p99: number }> {
  return withProvider(creds, mode, async (address) => {
    // The first `skip` events (the warm-up: new connections, TLS handshakes, cold client code) are sent but
    // left out of the percentiles, as in the latency benchmark's warm phase.
    const skip = Math.round((rate * warmupMs) / 1000);
    const count = Math.round((rate * durationMs) / 1000) + skip;
    const base = { count, skip, subs: SUBS, payload: PAYLOAD, rate, durationMs: durationMs + warmupMs, latency: 1, maxMs: 120_000, mode: 'tether', address };
    const sub = new Worker<Msg>('fanout-worker.js', { ...base, role: 'consume', ...creds.worker(mode, 'consume') });
    const pub = new Worker<Msg>('fanout-worker.js', { ...base, role: 'publish', ...creds.worker(mode, 'publish') });
    try {
      await Promise.all([sub.next('ready'), pub.next('ready')]);
      pub.send({ type: 'go' });
      const d = await sub.next('done', durationMs * 3 + 30_000);
      return { p50: d.p50 ?? NaN, p99: d.p99 ?? NaN };
    } finally {
      await Promise.all([sub.kill(), pub.kill()]);
    }
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** The modes in a different order each run, so drift on a shared machine hits each of them alike. */
const orderOf = (run: number): Mode[] => MODES.map((_, i) => MODES[(i + run) % MODES.length]);

/** A run of one measurement for every mode, the modes in a rotating order (see `orderOf`). */
async function alternating<T>(runs: number, measure: (mode: Mode) => Promise<T>, say: (mode: Mode, run: number, r: T) => string): Promise<Record<Mode, T[]>> {
  const samples: Record<Mode, T[]> = { plaintext: [], tls: [], 'tls+auth': [] };
  for (let run = 0; run < runs; run++) {
    for (const mode of orderOf(run)) {
      const r = await measure(mode);
      samples[mode].push(r);
      process.stderr.write(`  ${say(mode, run, r)}\n`);
    }
  }
  return samples;
}

const NOTES = (runs: number) => [
  `${runs} runs; in each, the three modes one after the other in a rotating order; a fresh provider per measurement; ratios are medians of the per-run ratios to plaintext`,
  'tls: TLS 1.3 on the gRPC port (EC P-256 certificate); tls+auth: the same plus HS256 bearer tokens, with allow-lists and quotas checked',
];

/**
 * TLS and authentication overhead on fan-out: throughput and CPU per delivered event with plaintext, TLS,
 * and TLS with bearer tokens, alternating within each run.
 */
export async function securityFanoutBench(quick: boolean): Promise<BenchResult> {
  const runs = quick ? 1 : 5;
  const creds = new BenchCredentials();
  await creds.init();
  const rows: BenchResult['rows'] = [];
  const groups: NonNullable<BenchResult['chart']>['groups'] = [];
  try {
    for (const c of quick ? [4] : [4, 16]) {
      const n = quick ? 5_000 : c >= 16 ? 20_000 : 50_000;
      const samples = await alternating(runs, (mode) => fanout(creds, mode, c, n), (mode, run, r) => `security fanout ${mode} C=${c} run ${run + 1}: ${Math.round(r.rate)} ev/s, cpu/event provider ${round(r.providerCpuUs, 2)} µs, consumers ${round(r.consumerCpuUs, 2)} µs`);
      const cpuPerEvent = (r: FanoutRun) => r.providerCpuUs + r.consumerCpuUs;
      for (const mode of MODES) {
        const ratio = median(samples[mode].map((v, i) => v.rate / samples.plaintext[i].rate));
        rows.push({ measure: `fan-out C=${c}, events/s`, mode, median: Math.round(median(samples[mode].map((r) => r.rate))), 'vs plaintext': `${round(ratio, 3)}×`, target: mode === 'plaintext' ? '' : '≥ 0.85×', met: mode === 'plaintext' ? '' : ratio >= 0.85 ? 'yes' : 'no' });
      }
      for (const mode of MODES) {
        // Throughput on 2 busy cores is CPU per event: this ratio is what the rate would be with the machine to itself.
        const ratio = median(samples[mode].map((v, i) => cpuPerEvent(samples.plaintext[i]) / cpuPerEvent(v)));
        rows.push({
          measure: `fan-out C=${c}, CPU µs/event (provider + consumers)`,
          mode,
          median: `${round(median(samples[mode].map(cpuPerEvent)), 2)} (${round(median(samples[mode].map((r) => r.providerCpuUs)), 2)} + ${round(median(samples[mode].map((r) => r.consumerCpuUs)), 2)})`,
          'vs plaintext': `${round(ratio, 3)}× events per CPU second`,
          target: mode === 'plaintext' ? '' : '≥ 0.85×',
          met: mode === 'plaintext' ? '' : ratio >= 0.85 ? 'yes' : 'no',
        });
      }
      groups.push({ group: `fan-out C=${c} (ev/s)`, bars: MODES.map((m) => ({ label: m, value: median(samples[m].map((r) => r.rate)) })) });
    }
  } finally {
    creds.cleanup();
  }
  return {
    name: 'security-fanout',
    title: 'TLS and authentication overhead on fan-out, against plaintext in the same run',
    columns: ['measure', 'mode', 'median', 'vs plaintext', 'target', 'met'],
    rows,
    chart: { unit: 'events/s', groups },
    notes: [...NOTES(runs), `${SUBS} subscriptions per consumer, one matching, 256-byte payloads, PublishStream with 500-event batches; CPU: the provider (in the bench process) and the consumer processes from first to last event`],
  };
}

/** TLS and authentication overhead on publish-to-delivery latency at a light load. */
export async function securityLatencyBench(quick: boolean): Promise<BenchResult> {
  const runs = quick ? 1 : 5;
  const rate = 200;
  const durationMs = quick ? 1_000 : 5_000;
  const warmupMs = quick ? 500 : 2_000;
  const creds = new BenchCredentials();
  await creds.init();
  const rows: BenchResult['rows'] = [];
  try {
    const lat = await alternating(runs, (mode) => latency(creds, mode, rate, durationMs, warmupMs), (mode, run, r) => `security latency ${mode} run ${run + 1}: p50 ${round(r.p50, 3)} ms, p99 ${round(r.p99, 3)} ms`);
    const plainP99 = median(lat.plaintext.map((l) => l.p99));
    const allowed = Math.max(0.1 * plainP99, 0.5);
    for (const mode of MODES) {
      const diff = median(lat[mode].map((l, i) => l.p99 - lat.plaintext[i].p99));
      const ratio = median(lat[mode].map((l, i) => l.p99 / lat.plaintext[i].p99));
      rows.push({
        mode,
        'p50 ms': round(median(lat[mode].map((l) => l.p50)), 3),
        'p99 ms': round(median(lat[mode].map((l) => l.p99)), 3),
        'p99 vs plaintext': `${round(ratio, 3)}× (${diff >= 0 ? '+' : ''}${round(diff, 3)} ms)`,
        target: mode === 'plaintext' ? '' : `≤ +${round(allowed, 2)} ms`,
        met: mode === 'plaintext' ? '' : diff <= allowed ? 'yes' : 'no',
      });
    }
    return {
      name: 'security-latency',
      title: `TLS and authentication overhead on latency at ${rate} events/s, against plaintext in the same run`,
      columns: ['mode', 'p50 ms', 'p99 ms', 'p99 vs plaintext', 'target', 'met'],
      rows,
      chart: { unit: 'ms', groups: MODES.map((m) => ({ group: m, bars: [{ label: 'p50', value: median(lat[m].map((l) => l.p50)) }, { label: 'p99', value: median(lat[m].map((l) => l.p99)) }] })) },
      notes: [...NOTES(runs), `one consumer process, one publisher process, ${(rate * durationMs) / 1000} events per measurement after ${(rate * warmupMs) / 1000} warm-up events left out (new connections, handshakes, cold client code); target: p99 at most 10% or 0.5 ms above plaintext, whichever is larger`],
    };
  } finally {
    creds.cleanup();
  }
}
