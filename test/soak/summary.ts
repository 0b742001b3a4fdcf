import { DEFAULT_KEEPALIVE_TIMEOUT_MS, type SoakArgs } from './args';
import { FAULT_KINDS } from './fault-context';
import type { FaultInjector } from './fault-injector';
import type { Findings } from './findings';
import type { SoakTimings } from './timings';

export interface SoakFigures {
  checkpointsPassed: number;
  checkpoints: number;
  published: number;
  /** Events handled by every consumer process alive at the end (its /status `handled`). */
  delivered: number;
  lossExpected: number;
  lossReceived: number;
  inGaps: number;
  gapsReported: number;
  consumersChecked: number;
  reclaims: number;
  maxSinceLastActivityMs: number;
  rssStartBytes: number;
  rssEndBytes: number;
  rssPeakBytes: number;
  durationSec: number;
  maxProviderStallMs: number;
  maxSoakStallMs: number;
  /** One-second samples with an event-loop stall longer than the keepalive timeout. */
  providerStalls: number;
  soakStalls: number;
  /** One-minute load average of the machine at the start and the end. */
  loadStart: number;
  loadEnd: number;
}

export function emptyFigures(rssStartBytes: number, loadStart: number): SoakFigures {
  return {
    checkpointsPassed: 0, checkpoints: 0, published: 0, delivered: 0, lossExpected: 0, lossReceived: 0, inGaps: 0, gapsReported: 0,
    consumersChecked: 0, reclaims: 0, maxSinceLastActivityMs: 0, rssStartBytes, rssEndBytes: 0, rssPeakBytes: 0, durationSec: 0,
    maxProviderStallMs: 0, maxSoakStallMs: 0, providerStalls: 0, soakStalls: 0, loadStart, loadEnd: 0,
  };
}

const mib = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MiB`;
const num = (n: number) => n.toLocaleString('en-US');

/** The end-of-run table (markdown, so it pastes into the README as is). */
export function printSummary(args: SoakArgs, timings: SoakTimings, faults: FaultInjector, f: SoakFigures, findings: Findings): void {
  const lines = [
    '',
    `## Soak summary: seed ${args.seed}, ${args.minutes} min, ${args.consumers} consumers, ${args.rate} events/s, keepalive ${timings.keepaliveTimeMs} + ${timings.keepaliveTimeoutMs} ms, ${f.durationSec.toFixed(0)} s wall`,
    '',
    '| fault | injected | reclaim seen | max fault → detection ms |',
    '|---|---|---|---|',
    ...[...faults.stats].map(([kind, s]) => `| ${kind} | ${s.injected} | ${kind === 'flood' ? 'n/a (must stay open)' : s.detected} | ${s.detected ? s.maxLatencyMs : ''} |`),
    `| (skipped: target not idle or not subscribed) | ${faults.skipped} | | |`,
    '',
    '| measure | value |',
    '|---|---|',
    `| checkpoints passed (tracker = truth) | ${f.checkpointsPassed} / ${f.checkpoints} |`,
    `| events published (steady publisher) | ${num(f.published)} |`,
    `| events handled by consumers (all processes alive at the end) | ${num(f.delivered)} |`,
    `| never-killed consumers checked for loss | ${f.consumersChecked} |`,
    `| their deliveries expected / received | ${num(f.lossExpected)} / ${num(f.lossReceived)} |`,
    `| events lost inside reported gaps (${f.gapsReported} gaps) | ${num(f.inGaps)} |`,
    `| reclaims seen on WatchReclaims | ${f.reclaims} |`,
    `| max reclaim latency (since_last_activity_ms) | ${f.maxSinceLastActivityMs.toFixed(0)} ms |`,
    `| provider RSS start / end / peak | ${mib(f.rssStartBytes)} / ${mib(f.rssEndBytes)} / ${mib(f.rssPeakBytes)} |`,
    `| max event-loop stall: provider / soak process | ${f.maxProviderStallMs.toFixed(0)} ms / ${f.maxSoakStallMs.toFixed(0)} ms |`,
    `| seconds with a stall over the keepalive timeout: provider / soak | ${f.providerStalls} / ${f.soakStalls} |`,
    `| machine load average (1 min) start / end | ${f.loadStart.toFixed(1)} / ${f.loadEnd.toFixed(1)} |`,
    `| violations | ${findings.count} |`,
    '',
  ];
  process.stdout.write(lines.join('\n') + '\n');
  if (findings.count > 0) {
    process.stdout.write(`FAILED: ${findings.count} violation(s); first ones:\n`);
    for (const v of findings.violations.slice(0, 30)) process.stdout.write(`  [${v.atSec.toFixed(1)} s] ${v.check}: ${v.detail}\n`);
  }
  const only = args.only.length < FAULT_KINDS.length ? ` --only=${args.only.join(',')}` : '';
  const keepalive = args.keepaliveTimeoutMs !== DEFAULT_KEEPALIVE_TIMEOUT_MS ? ` --keepalive-timeout-ms=${args.keepaliveTimeoutMs}` : '';
  process.stdout.write(
    `${findings.count === 0 ? 'PASSED' : 'FAILED'}; reproduce with: npm run soak -- --minutes=${args.minutes} --seed=${args.seed} --consumers=${args.consumers} --rate=${args.rate}${keepalive}${only}\n`,
  );
}
