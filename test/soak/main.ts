import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs, type SoakArgs } from './args';
import { checkpoint } from './checkpoint';
import { type FaultContext, sleep } from './fault-context';
import { FaultInjector } from './fault-injector';
import { awaitCatchUp, checkReclaimCounts, lossChecks, stopAndExpectZero } from './final-checks';
import { Findings } from './findings';
import { Fleet } from './fleet';
import { ProviderUnderTest } from './provider-under-test';
import { SteadyPublisher } from './publisher';
import { ReclaimLog } from './reclaim-log';
import { Rng } from './rng';
import { StallMonitor } from './stall-monitor';
import { emptyFigures, printSummary } from './summary';
import { providerEnv, soakTimings } from './timings';
import { TrackerClient } from './tracker-client';

/**
 * `npm run soak -- --minutes=N [--seed=S] [--consumers=K] [--rate=R]`: a real provider process, dozens of
 * real consumer processes, a steady publisher and a seeded fault every few seconds. The tracker is checked
 * against the truth at every checkpoint; at the end, consumers never killed are checked against what was
 * published. Exits 1 on any violation, printing the seed.
 */
async function main(args: SoakArgs): Promise<number> {
  const findings = new Findings();
  const runMs = args.minutes * 60_000;
  const backstop = setTimeout(() => {
    process.stdout.write(`soak wedged: still running ${runMs / 60_000 + 5} min after start (seed ${args.seed})\n`);
    process.exit(3);
  }, runMs + 5 * 60_000);
  const timings = soakTimings(args.keepaliveTimeoutMs);
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), `tether-soak-${args.seed}-`));
  findings.say(
    `soak: seed ${args.seed}, ${args.minutes} min, ${args.consumers} consumers, ${args.rate} events/s, keepalive ${timings.keepaliveTimeMs} + ${timings.keepaliveTimeoutMs} ms, logs in ${logDir}`,
  );

  let fleet: Fleet | undefined;
  let provider: ProviderUnderTest | undefined;
  process.on('exit', () => {
    for (const m of fleet?.members ?? []) m.proc.child.kill('SIGKILL');
    provider?.process.child?.kill('SIGKILL');
  });
  provider = await ProviderUnderTest.start(providerEnv(timings, args.rate), logDir, findings);
  const stalls = new StallMonitor(provider.metricsUrl, timings.keepaliveTimeoutMs / 2, (s) =>
    findings.say(`event-loop stall: provider ${s.providerMs.toFixed(0)} ms, soak ${s.soakMs.toFixed(0)} ms (load average ${os.loadavg()[0].toFixed(1)})`),
  );
  stalls.start();
  const context = (at: number) => `${stalls.around(at)}; load average ${os.loadavg()[0].toFixed(1)}`;
  const tracker = new TrackerClient(provider.address);
  const reclaims = new ReclaimLog(tracker, findings, context);
  reclaims.start();
  fleet = new Fleet(provider.port, args.consumers, new Rng(args.seed));
  await fleet.start();
  if (!(await fleet.waitSubscribed(fleet.members, 30_000))) findings.violate('start', 'not every consumer subscribed within 30 s of starting');
  findings.say(`${fleet.members.length} consumers subscribed, ${fleet.totalSubscriptions} subscriptions`);

  const ctx: FaultContext = { address: provider.address, fleet, tracker, reclaims, findings, rng: new Rng(args.seed + 1), rawSinks: [], timings };
  const figures = emptyFigures(provider.rssBytes(), os.loadavg()[0]);
  const live = provider;
  const runCheckpoint = async (label: string) => {
    figures.checkpoints++;
    if (await checkpoint(ctx, label)) figures.checkpointsPassed++;
    figures.rssPeakBytes = Math.max(figures.rssPeakBytes, live.rssBytes());
    closeRawSinks(ctx);
  };
  await runCheckpoint('0');

  const publisher = new SteadyPublisher(provider.address, args.rate, new Rng(args.seed + 2), findings, context);
  publisher.start();
  const faults = new FaultInjector(ctx, Math.ceil((args.minutes * 60) / 1.5), args.only);
  const runEnd = Date.now() + runMs;
  for (let i = 1; i <= Math.ceil(runMs / 5_000) && Date.now() < runEnd - 2_000 && !provider.exitedEarly; i++) {
    await faults.runFor(Math.min(args.checkpointEverySec * 1_000, runEnd - Date.now()));
    await faults.settle();
    await sleep(timings.keepaliveBoundMs + 500);
    await runCheckpoint(String(i));
  }

  if (!provider.exitedEarly) {
    await publisher.stop();
    figures.published = publisher.published;
    await awaitCatchUp(ctx, publisher);
    await runCheckpoint('final');
    figures.rssEndBytes = provider.rssBytes();
    await lossChecks(ctx, publisher, figures);
    await stopAndExpectZero(ctx);
    await checkReclaimCounts(tracker, reclaims, ctx);
  }
  figures.reclaims = reclaims.seen.length;
  figures.maxSinceLastActivityMs = reclaims.maxSinceLastActivityMs;
  reclaims.stop();
  stalls.stop();
  Object.assign(figures, stalls.figures(timings.keepaliveTimeoutMs), { loadEnd: os.loadavg()[0] });
  tracker.close();
  await fleet.stop();
  const code = await provider.stop();
  if (code !== 0 && !provider.exitedEarly) findings.violate('shutdown', `provider exit after SIGTERM: ${code}`);
  figures.durationSec = findings.elapsedSec;
  clearTimeout(backstop);
  printSummary(args, timings, faults, figures, findings);
  for (const m of fleet.members) fs.writeFileSync(path.join(logDir, `${m.name}.log`), m.proc.log);
  process.stdout.write(`logs: ${logDir}\n`);
  return findings.count === 0 ? 0 : 1;
}

/** After a checkpoint has counted them, the raw sinks kept open go (their reclaims are expected). */
function closeRawSinks(ctx: FaultContext): void {
  for (const r of ctx.rawSinks.splice(0)) {
    const e = ctx.reclaims.expect(r.name, r.kind, ['client-closed', 'crashed']);
    r.close();
    e.end();
  }
}

let parsed: SoakArgs;
try {
  parsed = parseArgs(process.argv.slice(2));
} catch (err) {
  process.stdout.write(`${(err as Error).message}\n`);
  process.exit(2);
}
main(parsed).then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stdout.write(`soak harness failed (seed ${parsed.seed}): ${err.stack ?? err.message}\n`);
    process.exit(2);
  },
);
