import pino from 'pino';
import { status } from '@grpc/grpc-js';
import { Consumer } from '../services/consumer/consumer';
import { consumerConfigFromEnv } from '../services/consumer/consumer-config';
import { ProviderProcess, freePort } from '../test/helpers/provider-process';
import { event, publish, publisher } from '../test/helpers/sink-test-client';
import { waitFor } from '../test/helpers/wait';
import type { BenchResult } from './lib/report';
import { percentile, round } from './lib/stats';

/** Restart under a flood: 50 consumers reconnecting and 200 publisher calls against the port. */
export async function restartBench(quick: boolean): Promise<BenchResult> {
  const runs = quick ? 1 : 3;
  const rows: BenchResult['rows'] = [];
  const serving: number[] = [];
  const resubscribed: number[] = [];
  for (let run = 0; run < runs; run++) {
    const p = new ProviderProcess(await freePort());
    const consumers = Array.from({ length: 50 }, (_, i) =>
      new Consumer(
        consumerConfigFromEnv({
          TETHER_PROVIDER_ADDRESS: p.address,
          CONSUMER_NAME: `c${i}`,
          CONSUMER_SUBSCRIPTIONS: 'x=flood.{1..20}',
          CONSUMER_HEALTH_PORT: '0',
          CONSUMER_METRICS_PORT: '-1',
          CONSUMER_HOST: '127.0.0.1',
          CONSUMER_BACKOFF_INITIAL_MS: '50',
          CONSUMER_BACKOFF_MAX_MS: '1000',
        }),
        pino({ level: 'silent' }),
      ),
    );
    let stop = false;
    const calls: number[] = [];
    const hammer = async () => {
      const pub = publisher(p.address);
      while (!stop && calls.length < 100_000) {
        try {
          await publish(pub, [event('flood.1')], 500);
          calls.push(status.OK);
        } catch (err) {
          calls.push((err as { code: number }).code);
        }
        await new Promise((r) => setTimeout(r, 1));
      }
      pub.close();
    };
    try {
      await Promise.all(consumers.map((c) => c.start()));
      const hammers = Array.from({ length: 4 }, hammer);
      await waitFor('200 calls against the dead port', () => calls.length >= 200, 20_000);
      const servingMs = await p.start();
      const servingAt = Date.now();
      await waitFor('all resubscribed', () => consumers.every((c) => c.status().subscribed), 20_000, 5);
      const allMs = Date.now() - servingAt;
      stop = true;
      await Promise.all(hammers);
      serving.push(servingMs);
      resubscribed.push(allMs);
      rows.push({ run: run + 1, 'start → SERVING ms': servingMs, 'SERVING → all 50 resubscribed ms': allMs, 'publisher calls': calls.length, 'failed fast (UNAVAILABLE)': calls.filter((c) => c === status.UNAVAILABLE).length });
    } finally {
      stop = true;
      await Promise.all(consumers.map((c) => c.stop(100)));
      await p.kill();
    }
  }
  return {
    name: 'restart',
    title: 'Restart under a flood: 50 consumers and publisher calls hammering the port',
    columns: Object.keys(rows[0]),
    rows,
    chart: { unit: 'ms', groups: [{ group: 'median', bars: [{ label: 'start → SERVING', value: percentile(serving, 0.5) }, { label: '→ all resubscribed', value: percentile(resubscribed, 0.5) }] }] },
    notes: [`consumer backoff: initial 50 ms, cap 1,000 ms, full jitter; medians: SERVING ${round(percentile(serving, 0.5), 0)} ms, resubscribed ${round(percentile(resubscribed, 0.5), 0)} ms`],
  };
}
