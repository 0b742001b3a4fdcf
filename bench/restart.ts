import pino from 'pino';
import { status } from '@grpc/grpc-js';
import { Consumer } from '../services/consumer/consumer';
import { consumerConfigFromEnv } from '../services/consumer/consumer-config';
import { ProviderProcess, freePort } from '../test/helpers/provider-process';
import { event, publish, publisher } from '../test/helpers/sink-test-client';
import { waitFor } from '../test/helpers/wait';
import type { BenchResult } from './lib/report';
import { NatsServer } from './lib/nats-server';
import { percentile, round } from './lib/stats';

/**
 * Restart under a flood: 50 consumers reconnecting and publisher calls against the port. Memory log: the
 * provider starts while they hammer a dead port. JetStream log: a running replica is killed with kill -9
 * under the flood and started again; its consumers must come back with no gap, every event handled.
 */
export async function restartBench(quick: boolean): Promise<BenchResult> {
  const runs = quick ? 1 : Number(process.env.BENCH_RUNS ?? 3);
  const rows: BenchResult['rows'] = [];
  const serving: number[] = [];
  const resubscribed: number[] = [];
  for (let run = 0; run < runs; run++) rows.push(await jetstreamRestart(run + 1));
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
      rows.push({
        log: 'memory',
        run: run + 1,
        'start → SERVING ms': servingMs,
        'SERVING → all 50 resubscribed ms': allMs,
        'publisher calls': calls.length,
        'failed fast (UNAVAILABLE)': calls.filter((c) => c === status.UNAVAILABLE).length,
        'events lost': 'n/a (new epoch)',
        gaps: 'n/a (new epoch: one per consumer)',
      });
    } finally {
      stop = true;
      await Promise.all(consumers.map((c) => c.stop(100)));
      await p.kill();
    }
  }
  return {
    name: 'restart',
    title: 'Restart under a flood: 50 consumers and publisher calls hammering the port',
    columns: Object.keys(rows[rows.length - 1]),
    rows,
    chart: { unit: 'ms', groups: [{ group: 'median', bars: [{ label: 'start → SERVING', value: percentile(serving, 0.5) }, { label: '→ all resubscribed', value: percentile(resubscribed, 0.5) }] }] },
    notes: [
      `consumer backoff: initial 50 ms, cap 1,000 ms, full jitter; memory-log medians: SERVING ${round(percentile(serving, 0.5), 0)} ms, resubscribed ${round(percentile(resubscribed, 0.5), 0)} ms`,
      'JetStream log: the replica is killed with kill -9 under the flood and started again on the same stream (file storage); events lost = acknowledged events some consumer never handled; gaps = ResumeGaps consumers received',
    ],
  };
}

/** One JetStream-log run: kill -9 the only replica under the flood, start it again, count loss and gaps. */
async function jetstreamRestart(run: number): Promise<Record<string, string | number>> {
  const nats = new NatsServer(true);
  await nats.start();
  const p = new ProviderProcess(await freePort(), { TETHER_EVENT_LOG: 'jetstream', TETHER_NATS_URL: nats.url, TETHER_REPLICA_ID: 'bench' });
  const consumers = Array.from({ length: 50 }, (_, i) =>
    new Consumer(
      consumerConfigFromEnv({
        TETHER_PROVIDER_ADDRESS: p.address,
        CONSUMER_NAME: `c${i}`,
        CONSUMER_SUBSCRIPTIONS: 'x=flood.{1..20}',
        CONSUMER_HEALTH_PORT: '0',
        CONSUMER_METRICS_PORT: '-1',
        CONSUMER_HOST: '127.0.0.1',
        CONSUMER_IDLE_TIMEOUT_MS: '1000',
        CONSUMER_BACKOFF_INITIAL_MS: '50',
        CONSUMER_BACKOFF_MAX_MS: '1000',
        CONSUMER_LOG_EVENTS: '0',
      }),
      pino({ level: 'silent' }),
    ),
  );
  let stop = false;
  const calls: number[] = [];
  const acked = new Set<number>();
  const hammer = async () => {
    const pub = publisher(p.address);
    while (!stop && calls.length < 100_000) {
      try {
        const res = await publish(pub, [event('flood.1')], 500);
        for (const s of res.sequences) acked.add(Number(s));
        calls.push(status.OK);
      } catch (err) {
        calls.push((err as { code: number }).code);
      }
      await new Promise((r) => setTimeout(r, 1));
    }
    pub.close();
  };
  try {
    await p.start();
    await Promise.all(consumers.map((c) => c.start()));
    await waitFor('all subscribed', () => consumers.every((c) => c.status().subscribed), 20_000, 5);
    const hammers = Array.from({ length: 4 }, hammer);
    await waitFor('flood flowing', () => acked.size >= 200, 20_000);
    await p.kill();
    const failedBefore = calls.filter((c) => c !== status.OK).length;
    await waitFor('200 calls against the dead port', () => calls.filter((c) => c !== status.OK).length >= failedBefore + 200, 20_000);
    const servingMs = await p.start();
    const servingAt = Date.now();
    await waitFor('all resubscribed', () => consumers.every((c) => c.status().subscribed && c.status().connects >= 2), 20_000, 5);
    const allMs = Date.now() - servingAt;
    await waitFor('flood flowing again', () => calls.at(-1) === status.OK, 10_000);
    stop = true;
    await Promise.all(hammers);
    const head = Math.max(...acked);
    await waitFor('every consumer caught up', () => consumers.every((c) => c.status().lastSequence >= head), 30_000, 20);
    const gaps = consumers.reduce((n, c) => n + c.status().gapsReported, 0);
    const handled = consumers.map((c) => c.status().handled);
    // Every position up to the head is one of these events: each consumer must have handled them all.
    const lost = handled.reduce((n, h) => n + Math.max(0, head - h), 0);
    return {
      log: 'jetstream',
      run,
      'start → SERVING ms': servingMs,
      'SERVING → all 50 resubscribed ms': allMs,
      'publisher calls': calls.length,
      'failed fast (UNAVAILABLE)': calls.filter((c) => c === status.UNAVAILABLE).length,
      'events lost': lost,
      gaps,
    };
  } finally {
    stop = true;
    await Promise.all(consumers.map((c) => c.stop(100)));
    await p.kill();
    await nats.stop();
  }
}
