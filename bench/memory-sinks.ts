import { ProviderHarness } from '../test/helpers/provider-harness';
import { SilentProxy } from '../test/helpers/silent-proxy';
import { SinkTestClient } from '../test/helpers/sink-test-client';
import type { BenchResult } from './lib/report';
import { round } from './lib/stats';
import { Worker } from './lib/workers';

function heapAfterGc(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc (npm run bench does)');
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** Heap per idle sink (each on its own connection), and heap growth after open/subscribe/kill churn. */
export async function sinkMemoryBench(quick: boolean): Promise<BenchResult> {
  const sinks = quick ? 100 : 1_000;
  const cycles = quick ? 1_000 : 10_000;
  const h = await ProviderHarness.start({ keepaliveTimeMs: 20_000, keepaliveTimeoutMs: 10_000 });
  try {
    const before = heapAfterGc();
    const w = new Worker<{ type: string }>('sinks-worker.js', { address: h.address, sinks, maxMs: 120_000 });
    await w.next('ready', 60_000);
    const perSink = (heapAfterGc() - before) / sinks;
    await w.kill();
    await h.expectEmpty(10_000);

    // Churn: each cycle is its own connection, reset with RST by a proxy (a crashed consumer).
    const proxy = new SilentProxy(h.provider.port);
    await proxy.start();
    const warmup = async (n: number) => {
      for (let done = 0; done < n; done += 50) {
        const clients = Array.from({ length: 50 }, (_, i) => new SinkTestClient(`127.0.0.1:${proxy.port}`).open(`c${done + i}`).subscribe([{ subscriptionId: 'a', pattern: 'churn.>' }, { subscriptionId: 'b', pattern: 'churn.*' }]));
        await Promise.all(clients.map((c) => c.waitFor('ack', 1, 10_000)));
        proxy.reset();
        await Promise.all(clients.map((c) => c.waitError(10_000)));
        for (const c of clients) c.close();
        await h.expectEmpty(10_000);
        h.reclaims.length = 0; // the harness's own record list, not the provider's state
      }
    };
    await warmup(500);
    const churnBefore = heapAfterGc();
    await warmup(cycles);
    const growth = heapAfterGc() - churnBefore;
    await proxy.stop();
    return {
      name: 'memory-sinks',
      title: 'Heap per idle sink, and heap growth after open/subscribe/kill churn',
      columns: ['measure', 'value'],
      rows: [
        { measure: `provider heap per idle sink (${sinks} sinks, one connection each)`, value: `${round(perSink / 1024, 1)} KiB` },
        { measure: `provider heap growth after ${cycles.toLocaleString('en')} churn cycles (after 500 warm-up)`, value: `${round(growth / 1024, 1)} KiB` },
      ],
      chart: { unit: 'KiB', groups: [{ group: 'provider heap', bars: [{ label: 'per idle sink', value: perSink / 1024 }, { label: `growth after ${cycles} cycles`, value: Math.max(0, growth / 1024) }] }] },
      notes: ['per-sink figure includes the connection (HTTP/2 session, socket) grpc-js keeps for it; the churn clients run in the same process and are closed before measuring; V8 code and JIT growth count too'],
    };
  } finally {
    await h.stop();
  }
}
