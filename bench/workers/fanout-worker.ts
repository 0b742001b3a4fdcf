import { forEachEvent } from '../../services/provider/log/batch-codec';
import * as fs from 'node:fs';
import { type ChannelCredentials, credentials } from '@grpc/grpc-js';
import { withBearerToken } from '../../shared/client-credentials';
import type { Msg as NatsMsg } from '@nats-io/nats-core';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Event as EventCodec } from '../../shared/gen/tether/v1/event';
import { batchHeaders, encodeBody } from '../../services/provider/log/batch-codec';
import type { RetainedEvent } from '../../services/provider/events/event-history';
import { SubscriptionIndex } from '../../services/provider/subscriptions/subscription-index';
import { DIRECT_STREAM, DIRECT_SUBJECT } from '../lib/direct-stream';
import { clientOptions } from '../../shared/client-options';
import type { Event } from '../../shared/gen/tether/v1/event';
import { PublisherServiceClient, type PublishStreamResponse } from '../../shared/gen/tether/v1/publisher';
import type { OpenSinkResponse } from '../../shared/gen/tether/v1/sink';
import { LazySinkServiceClient } from '../../shared/wire/lazy-sink-client';
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
  mode: 'tether' | 'raw' | 'nats' | 'js-direct';
  address: string;
  count: number;
  subs: number;
  payload: number;
  rate: number;
  durationMs: number;
  latency: number;
  /** Latency runs: the first `skip` events warm up and are not counted in the percentiles. */
  skip?: number;
  maxMs: number;
  /** TLS with this CA file (security benchmark); a bearer token with `token`; a consumer name bound to it. */
  ca?: string;
  token?: string;
  name?: string;
}

const args = JSON.parse(process.argv[2]) as Args;
/**
 * Events per publish batch in throughput runs: 500, or fewer for large payloads, so that one batch stays
 * within one NATS message (1 MB), which a JetStream log stores a batch as. Every system gets the same.
 */
const BATCH = Math.min(500, Math.floor(900_000 / (Math.max(8, args.payload) + 64)));

/** With TLS, the certificate is checked for "localhost" (the address is an IP, which TLS cannot name in SNI). */
function options() {
  return args.ca ? { ...clientOptions(), 'grpc.ssl_target_name_override': 'localhost' } : clientOptions();
}

function channel(): ChannelCredentials {
  if (!args.ca) return credentials.createInsecure();
  const tls = credentials.createSsl(fs.readFileSync(args.ca));
  const token = args.token;
  return token ? withBearerToken(tls, () => token) : tls;
}
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
  let cpuAtFirst = process.cpuUsage();
  const latencies: number[] = [];
  return (data: Uint8Array) => {
    const at = nowMs();
    if (count === 0) {
      firstAt = at;
      cpuAtFirst = process.cpuUsage();
    }
    count++;
    if (args.latency && count > (args.skip ?? 0)) latencies.push(at - Buffer.from(data.buffer, data.byteOffset, data.byteLength).readDoubleLE(0));
    if (count === args.count) {
      // CPU this consumer spent from its first event to its last (decoding, and decrypting under TLS).
      const cpu = process.cpuUsage(cpuAtFirst);
      send({ type: 'done', count, firstAt, lastAt: at, p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), max: percentile(latencies, 1), cpuUs: cpu.user + cpu.system });
      setTimeout(() => process.exit(0), 50);
    }
  };
}

async function consume(): Promise<void> {
  const onEvent = counter();
  if (args.mode === 'js-direct') {
    // What a user builds without Tether: one ordered consumer per process over the whole stream, every
    // event decoded and matched against this process's patterns.
    const index = new SubscriptionIndex();
    for (let i = 0; i < args.subs; i++) {
      const pattern = i === 0 ? 'bench.>' : `bench.k.${i}`;
      index.add({ id: `s${i}`, owner: null as never, pattern, attributes: null });
    }
    const nc = await connect({ servers: args.address });
    const c = await jetstream(nc).consumers.get(DIRECT_STREAM, { opt_start_seq: 1 });
    await c.consume({
      max_messages: 1_024,
      callback: (m) => {
        // Each event decoded once, then matched.
        forEachEvent(m.data, (bytes) => {
          const e = EventCodec.decode(bytes);
          let matched = false;
          index.match(e.topic, e.topic.split('.'), () => (matched = true));
          if (matched) onEvent(e.data);
        });
      },
    });
    send({ type: 'ready' });
    return;
  }
  if (args.mode === 'nats') {
    const nc = await connect({ servers: args.address });
    for (let i = 1; i < args.subs; i++) nc.subscribe(`bench.k.${i}`);
    nc.subscribe('bench.>', { callback: (_err: Error | null, msg: NatsMsg) => onEvent(msg.data) });
    await nc.flush();
    send({ type: 'ready' });
    return;
  }
  const client = new LazySinkServiceClient(args.address, channel(), options());
  const call = client.openSink();
  call.on('data', (m: OpenSinkResponse) => {
    if (m.kind?.$case === 'ack') send({ type: 'ready' });
    if (m.kind?.$case === 'events') for (const d of m.kind.value.deliveries) onEvent(d.event?.data ?? new Uint8Array(8));
  });
  call.on('error', () => process.exit(4));
  call.write({ kind: { $case: 'open', value: { consumerName: args.name ? `${args.name}/${process.pid}` : `bench-${process.pid}`, maxReceiveMessageBytes: 0 } } });
  if (args.mode === 'raw') {
    send({ type: 'ready' });
    return;
  }
  const subscriptions = Array.from({ length: args.subs }, (_, i) => ({ subscriptionId: `s${i}`, pattern: i === 0 ? 'bench.>' : `bench.k.${i}`, attributes: {} }));
  call.write({ kind: { $case: 'subscribe', value: { subscriptions, requestId: '' } } });
}

function event(payload: Buffer, sequence = 0): Event {
  return { id: sequence ? `e${sequence}` : '', source: 'bench', type: 'bench', topic: 'bench.x', time: '', dataContentType: '', extensions: {}, data: payload, sequence: String(sequence) };
}

/** Appends batch messages to the direct stream, the same framing Tether uses, `window` in flight at most. */
async function publishDirect(latencyMode: boolean): Promise<void> {
  const nc = await connect({ servers: args.address });
  const js = jetstream(nc);
  let next = 1;
  let inFlight = 0;
  let waiters: Array<() => void> = [];
  const window = 4;
  const append = async (payloads: Buffer[]) => {
    while (inFlight >= window) await new Promise<void>((r) => waiters.push(r));
    const first = next;
    next += payloads.length;
    const events = payloads.map((data, i) => ({ bytes: EventCodec.encode(event(data, first + i)).finish() }) as RetainedEvent);
    inFlight++;
    void js.publish(DIRECT_SUBJECT, encodeBody(events), { headers: batchHeaders(first, events.length) }).finally(() => {
      inFlight--;
      const w = waiters;
      waiters = [];
      for (const f of w) f();
    });
  };
  send({ type: 'ready' });
  await new Promise<void>((resolve) => process.once('message', () => resolve()));
  if (latencyMode) await paced((n) => void append(Array.from({ length: n }, () => stamped(args.payload))));
  else {
    const payload = stamped(args.payload);
    for (let sent = 0; sent < args.count; sent += BATCH) await append(Array.from({ length: Math.min(BATCH, args.count - sent) }, () => payload));
  }
  while (inFlight > 0) await new Promise<void>((r) => waiters.push(r));
  send({ type: 'published' });
}

async function publish(): Promise<void> {
  const latencyMode = args.rate > 0;
  if (args.mode === 'js-direct') return publishDirect(latencyMode);
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
  const client = new PublisherServiceClient(args.address, channel(), options());
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
    stream.write({ batchId: String(++sentBatches), events, idempotencyKey: '' });
  };
  send({ type: 'ready' });
  await new Promise<void>((resolve) => process.once('message', () => resolve()));
  if (latencyMode) {
    await paced((n) => {
      // A stalled tick owes many events: send them in batches the provider accepts (at most 500).
      for (let k = 0; k < n; k += 500) void publishBatch(Array.from({ length: Math.min(500, n - k) }, () => event(stamped(args.payload))));
    });
  } else {
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
