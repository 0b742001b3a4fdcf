import { fanoutBench, latencyBench } from './fanout';
import { sinkMemoryBench } from './memory-sinks';
import { reclaimLatencyBench } from './reclaim-latency';
import { reclaimCostBench, routingBench, subscriptionMemoryBench } from './registry';
import { restartBench } from './restart';
import { securityBench } from './security';
import { type BenchResult, machine, printTable, writeResult } from './lib/report';

/**
 * `npm run bench [-- --quick] [-- --only name,name]`: runs each benchmark with its peers in the same run,
 * prints a table, writes bench/results/<name>.json and .svg. Never fails on speed.
 */
const BENCHES: Record<string, (quick: boolean) => Promise<BenchResult>> = {
  fanout: fanoutBench,
  latency: latencyBench,
  routing: routingBench,
  'reclaim-cost': reclaimCostBench,
  'memory-subscriptions': subscriptionMemoryBench,
  'reclaim-latency': reclaimLatencyBench,
  'memory-sinks': sinkMemoryBench,
  restart: restartBench,
  security: securityBench,
};

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const onlyArg = process.argv.find((a) => a.startsWith('--only='));
  const only = onlyArg ? onlyArg.slice('--only='.length).split(',') : Object.keys(BENCHES);
  const m = machine();
  process.stdout.write(`tether benchmarks${quick ? ' (quick)' : ''} on ${m.cpus}× ${m.cpuModel}, ${m.memGiB} GiB, node ${m.node}\n`);
  for (const name of only) {
    const bench = BENCHES[name];
    if (!bench) throw new Error(`unknown benchmark ${name}; have ${Object.keys(BENCHES).join(', ')}`);
    const started = Date.now();
    const result = await bench(quick);
    printTable(result);
    process.stdout.write(`  (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
    writeResult(result, quick);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
