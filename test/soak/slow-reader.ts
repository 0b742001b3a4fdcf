import type { OpenSinkResponse } from '../../shared/gen/tether/v1/sink';
import { event, publish, publisher, SinkTestClient } from '../helpers/sink-test-client';
import { waitFor } from '../helpers/wait';
import type { FaultContext, FaultOutcome } from './fault-context';
import { sleep } from './fault-context';

const BURST_BATCHES = 48;
const BURST_EVENTS = 64;
const BURST_EVENT_BYTES = 16 * 1024;
const BURST_EVERY_MS = 100;
const NEIGHBOUR_SUBSCRIPTIONS = new Map([['steady', 'soak.>']]);

/** A second sink on the slow reader's own channel (so the same HTTP/2 connection) that keeps reading. */
class Neighbour {
  events = 0;
  error: string | undefined;
  sinkId = '';
  readonly call;

  constructor(slow: SinkTestClient, name: string) {
    this.call = slow.client.openSink();
    this.call.on('data', (m: OpenSinkResponse) => {
      if (m.kind?.$case === 'opened') this.sinkId = m.kind.value.sinkId;
      if (m.kind?.$case === 'events') this.events += m.kind.value.deliveries.length;
    });
    this.call.on('error', (err: Error) => (this.error = err.message));
    this.call.write({ kind: { $case: 'open', value: { consumerName: name, maxReceiveMessageBytes: 0 } } });
    this.call.write({ kind: { $case: 'subscribe', value: { subscriptions: [...NEIGHBOUR_SUBSCRIPTIONS].map(([subscriptionId, pattern]) => ({ subscriptionId, pattern, attributes: {} })), resume: undefined, requestId: 'n' } } });
  }
}

/**
 * A raw in-process client opens a sink, subscribes, then stops reading while a burst flows to it: the
 * provider must close it as slow-consumer once its stream has been blocked for the drain timeout. A
 * neighbour sink on the same connection keeps reading: it must not be reclaimed, must keep receiving
 * after the reset, and stays open until the next checkpoint counts it. The burst is bounded (48 MiB at
 * most) and stops at the reclaim.
 */
export async function slowReaderFault(ctx: FaultContext, n: number): Promise<FaultOutcome> {
  const name = `raw-slow-${n}`;
  const burstTopic = `slowburst.${n}.x`;
  const expectation = ctx.reclaims.expect(name, 'slow-reader', ['slow-consumer']);
  const client = new SinkTestClient(ctx.address);
  const neighbour = new Neighbour(client, `${name}-neighbour`);
  const pub = publisher(ctx.address);
  let keepNeighbour = false;
  try {
    client.open(name).subscribe([
      { subscriptionId: 'burst', pattern: `slowburst.${n}.>` },
      { subscriptionId: 'steady', pattern: 'soak.>' },
    ]);
    const ready = () => (client.of('ack').length > 0 && neighbour.events > 0) || client.error !== undefined || neighbour.error !== undefined;
    await waitFor(`${name} and its neighbour ready`, ready, 5_000).catch(() => undefined);
    const sinkId = client.of('opened')[0]?.sinkId;
    if (!sinkId || client.of('ack').length === 0 || neighbour.events === 0) {
      ctx.findings.violate('slow reader', `${name} and its neighbour could not open, subscribe and receive: ${client.error?.message ?? neighbour.error ?? 'not ready within 5 s'}`);
      return { kind: 'slow-reader', target: name };
    }
    client.call.pause();
    const t0 = Date.now();
    const reclaimed = ctx.reclaims.reclaimOf(sinkId, 30_000);
    let done = false;
    void reclaimed.then(() => (done = true));
    const payload = Buffer.alloc(BURST_EVENT_BYTES, 7);
    for (let i = 0; i < BURST_BATCHES && !done; i++) {
      await publish(pub, Array.from({ length: BURST_EVENTS }, () => event(burstTopic, { data: payload }))).catch((err: Error) =>
        ctx.findings.violate('slow reader', `burst publish failed: ${err.message}`),
      );
      await sleep(BURST_EVERY_MS);
    }
    const burstEnd = Date.now();
    const bound = ctx.timings.drainTimeoutMs + ctx.timings.marginMs;
    const r = await Promise.race([reclaimed, sleep(bound).then(() => undefined)]);
    if (!r) {
      ctx.findings.violate('slow reader', `${name} stopped reading but was not reclaimed within ${bound} ms after a ${burstEnd - t0} ms burst`);
      return { kind: 'slow-reader', target: name };
    }
    if (r.record.subscriptionCount !== 2) ctx.findings.violate('reclaim count', `${name} reclaimed with ${r.record.subscriptionCount} subscriptions; it held 2`);
    keepNeighbour = await neighbourCarriesOn(ctx, neighbour, name);
    return { kind: 'slow-reader', target: name, latencyMs: r.detectedAt - t0 };
  } finally {
    if (keepNeighbour) {
      ctx.rawSinks.push({ name: `${name}-neighbour`, kind: 'slow-reader', subscriptions: NEIGHBOUR_SUBSCRIPTIONS, close: () => client.close() });
    } else {
      // Whatever happened to the neighbour is already reported; its end now is ours.
      ctx.reclaims.expect(`${name}-neighbour`, 'slow-reader', ['client-closed', 'crashed', 'slow-consumer', 'connection-lost']).end();
      client.close();
    }
    pub.close();
    expectation.end();
  }
}

/** After the slow sink's reset, the neighbour on its connection still has its stream and gets events. */
async function neighbourCarriesOn(ctx: FaultContext, neighbour: Neighbour, name: string): Promise<boolean> {
  const before = neighbour.events;
  const flowing = await waitFor(`${name} neighbour receiving`, () => neighbour.events > before || neighbour.error !== undefined, 3_000).then(
    () => neighbour.error === undefined,
    () => false,
  );
  if (!flowing) {
    ctx.findings.violate('neighbour', `${name}-neighbour, on the same connection as the slow reader, ${neighbour.error ? `lost its stream (${neighbour.error})` : 'received nothing for 3 s after the reset'}`);
  }
  return flowing;
}
