import { credentials } from '@grpc/grpc-js';
import type { Msg as NatsMsg } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { clientOptions } from '../../shared/client-options';
import type { Event } from '../../shared/gen/tether/v1/event';
import { PublisherServiceClient, type PublishStreamResponse } from '../../shared/gen/tether/v1/publisher';
import { type OpenSinkResponse, SinkServiceClient } from '../../shared/gen/tether/v1/sink';
import { nowMs, percentile } from '../lib/stats';

/**
 * One process of the fan-out and latency benchmarks.
 *   consume: counts events (tether sink, raw grpc stream or nats subscription) until `count`, then reports
 *            first/last arrival and, in latency mode, publish-to-delivery percentiles.
 *   publish: sends `count` events (throughput) or `rate` events/s for `durationMs` (latency), stamped.
 * It exits by itself after maxMs whatever happens.
 */
interface Args {
  role: 'consume' | 'publish';
  mode: 'tether' | 'raw' | 'nats';
  address: string;
  count: number;
  subs: number;
  payload: number;
  rate: number;
  durationMs: number;
  latency: number;
  maxMs: number;
}

const args = JSON.parse(process.argv[2]) as Args;
setTimeout(() => process.exit(3), args.maxMs).unref();
const send = (m: object) => process.send?.(m);
// A clean exit on request, so a profiled run's --cpu-prof file gets written (SIGKILL writes none).
process.on('message', (m: { type?: string }) => {
  if (m.type === 'exit') process.exit(0);
});

function stamped(payload: number): Buffer {
  const b = Buffer.alloc(Math.max(8, payload), 1);
  b.writeDoubleLE(nowMs(), 0);
  return b;
}

function counter() {
  let count = 0;
  let firstAt = 0;
  const latencies: number[] = [];
  return (data: Uint8Array) => {
    const at = nowMs();
    if (count === 0) firstAt = at;
    count++;
    if (args.latency) latencies.push(at - Buffer.from(data.buffer, data.byteOffset, data.byteLength).readDoubleLE(0));
    if (count === args.count) {
      send({ type: 'done', count, firstAt, lastAt: at, p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), max: percentile(latencies, 1) });
      setTimeout(() => process.exit(0), 50);
    }
  };
}

async function consume(): Promise<void> {
  const onEvent = counter();
  if (args.mode === 'nats') {
    const nc = await connect({ servers: args.address });
    for (let i = 1; i < args.subs; i++) nc.subscribe(`bench.k.${i}`);
    nc.subscribe('bench.>', { callback: (_err: Error | null, msg: NatsMsg) => onEvent(msg.data) });
    await nc.flush();
    send({ type: 'ready' });
    return;
  }
  const client = new SinkServiceClient(args.address, credentials.createInsecure(), clientOptions());
  const call = client.openSink();
  call.on('data', (m: OpenSinkResponse) => {
    if (m.kind?.$case === 'ack') send({ type: 'ready' });
    if (m.kind?.$case === 'events') for (const d of m.kind.value.deliveries) onEvent(d.event?.data ?? new Uint8Array(8));
  });
  call.on('error', () => process.exit(4));
  call.write({ kind: { $case: 'open', value: { consumerName: `bench-${process.pid}`, maxReceiveMessageBytes: 0 } } });
  if (args.mode === 'raw') {
    send({ type: 'ready' });
    return;
  }
  const subscriptions = Array.from({ length: args.subs }, (_, i) => ({ subscriptionId: `s${i}`, pattern: i === 0 ? 'bench.>' : `bench.k.${i}`, attributes: {} }));
  call.write({ kind: { $case: 'subscribe', value: { subscriptions, requestId: '' } } });
}

function event(payload: Buffer): Event {
  return { id: '', source: 'bench', type: 'bench', topic: 'bench.x', time: '', dataContentType: '', extensions: {}, data: payload, sequence: '0' };
}

async function publish(): Promise<void> {
  const latencyMode = args.rate > 0;
  if (args.mode === 'nats') {
    const nc = await connect({ servers: args.address });
    send({ type: 'ready' });
    await new Promise<void>((resolve) => process.once('message', () => resolve()));
    if (latencyMode) {
      await paced((n) => {
        for (let i = 0; i < n; i++) nc.publish('bench.x', stamped(args.payload));
      });
    } else {
      const payload = stamped(args.payload);
      for (let i = 0; i < args.count; i++) {
        nc.publish('bench.x', payload);
        if (i % 10_000 === 0) await nc.flush();
      }
    }
    await nc.flush();
    send({ type: 'published' });
    await nc.drain();
    return;
  }
  // One PublishStream: no per-call setup, answers in order; at most IN_FLIGHT batches unanswered.
  const client = new PublisherServiceClient(args.address, credentials.createInsecure(), clientOptions());
  const stream = client.publishStream();
  const IN_FLIGHT = 4;
  let sentBatches = 0;
  let answered = 0;
  // Every waiter re-checks on each answer; a single slot would lose all but the last waiter.
  let waiters: Array<() => void> = [];
  const answerArrived = () => new Promise<void>((r) => waiters.push(r));
  stream.on('data', (a: PublishStreamResponse) => {
    if (a.code !== 0) throw new Error(`publish refused: ${a.message}`);
    answered++;
    const woken = waiters;
    waiters = [];
    for (const w of woken) w();
  });
  stream.on('error', (err) => {
    process.stderr.write(`publish stream failed: ${String(err)}\n`);
    process.exit(5);
  });
  const publishBatch = async (events: Event[]) => {
    while (sentBatches - answered >= IN_FLIGHT) await answerArrived();
    stream.write({ batchId: String(++sentBatches), events });
  };
  send({ type: 'ready' });
  await new Promise<void>((resolve) => process.once('message', () => resolve()));
  if (latencyMode) {
    // A late tick (a loaded machine) can owe more than the provider's batch limit: send it in slices.
    await paced((n) => {
      for (let i = 0; i < n; i += 500) void publishBatch(Array.from({ length: Math.min(500, n - i) }, () => event(stamped(args.payload))));
    });
  } else {
    const BATCH = 500;
    const payload = stamped(args.payload);
    const batch = Array.from({ length: BATCH }, () => event(payload));
    for (let sent = 0; sent < args.count; sent += BATCH) await publishBatch(args.count - sent >= BATCH ? batch : batch.slice(0, args.count - sent));
  }
  while (answered < sentBatches) await answerArrived();
  send({ type: 'published' });
}

/** Calls `emit(n)` every millisecond with the events due, for durationMs, keeping the average rate. */
async function paced(emit: (n: number) => void): Promise<void> {
  const start = nowMs();
  let emitted = 0;
  while (emitted < args.count && nowMs() - start < 2 * args.durationMs + 1_000) {
    const due = Math.min(args.count, Math.floor(((nowMs() - start) / 1000) * args.rate)) - emitted;
    if (due > 0) {
      emit(due);
      emitted += due;
    }
    await new Promise((r) => setTimeout(r, 1));
  }
}

(args.role === 'consume' ? consume() : publish()).catch((err: unknown) => {
  process.stderr.write(`bench worker failed: ${String(err)}\n`);
  process.exit(2);
});
