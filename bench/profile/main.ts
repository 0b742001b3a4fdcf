import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RESULTS_DIR } from '../lib/report';
import { CATEGORIES } from './categories';
import { type ProfileSummary, summarise } from './cpu-profile';
import { BenchCredentials, type Mode } from '../security';
import { profiledFanout } from './profiled-fanout';

/**
 * `npm run bench:profile -- --only=fanout [--consumers=1] [--count=200000] [--mode=tls|tls+auth]`: a fan-out run with CPU
 * profiles of the provider, one consumer and the publisher; prints, per process, the CPU µs per delivered
 * event by category, and writes bench/results/profile-fanout.json (profiles in bench/results/profiles/).
 */
function arg(name: string, fallback: string): string {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : fallback;
}

async function main(): Promise<void> {
  const only = arg('only', 'fanout').split(',');
  if (only.some((o) => o !== 'fanout')) throw new Error('bench:profile knows only --only=fanout');
  const consumers = Number(arg('consumers', '1'));
  const count = Number(arg('count', '200000'));
  const dir = path.join(RESULTS_DIR, 'profiles');
  const load = os.loadavg().map((l) => l.toFixed(2)).join(' ');
  const mode = arg('mode', 'plaintext') as Mode;
  if (!['plaintext', 'tls', 'tls+auth'].includes(mode)) throw new Error('--mode is plaintext, tls or tls+auth');
  const creds = mode === 'plaintext' ? undefined : new BenchCredentials();
  await creds?.init();
  const run = await profiledFanout(dir, consumers, count, mode, creds).finally(() => creds?.cleanup());
  const roles = ['provider', 'consumer', 'publisher'] as const;
  const summaries = Object.fromEntries(roles.map((r) => [r, summarise(run.files[r], run.fromUs, run.toUs)])) as Record<(typeof roles)[number], ProfileSummary>;
  const perEvent = (us: number) => us / run.delivered;
  const out: string[] = [];
  out.push(`fan-out profile (${mode}): ${consumers} consumer(s) × ${count} events of 256 B, ${Math.round(run.eventsPerSecond)} ev/s delivered, window ${((run.toUs - run.fromUs) / 1000).toFixed(0)} ms, load average before ${load}`);
  out.push(`CPU µs per delivered event (consumer: the profiled one of ${consumers}; its events are ${count})`);
  out.push(['category'.padEnd(18), ...roles.map((r) => r.padStart(11))].join(' '));
  for (const c of CATEGORIES) out.push([c.padEnd(18), ...roles.map((r) => perEvent(summaries[r].byCategory[c] * (r === 'consumer' ? consumers : 1)).toFixed(2).padStart(11))].join(' '));
  out.push(['total busy'.padEnd(18), ...roles.map((r) => perEvent(summaries[r].busyUs * (r === 'consumer' ? consumers : 1)).toFixed(2).padStart(11))].join(' '));
  out.push(['idle'.padEnd(18), ...roles.map((r) => perEvent(summaries[r].idleUs * (r === 'consumer' ? consumers : 1)).toFixed(2).padStart(11))].join(' '));
  for (const r of roles) {
    out.push(`\ntop self time, ${r}:`);
    for (const t of summaries[r].top) out.push(`  ${(t.us / 1000).toFixed(0).padStart(6)} ms  ${t.category.padEnd(17)} ${t.name}`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const json = { mode, consumers, count, loadAverage: load, eventsPerSecond: Math.round(run.eventsPerSecond), windowMs: Math.round((run.toUs - run.fromUs) / 1000), delivered: run.delivered, summaries };
  fs.writeFileSync(path.join(RESULTS_DIR, 'profile-fanout.json'), `${JSON.stringify(json, null, 2)}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench:profile failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
