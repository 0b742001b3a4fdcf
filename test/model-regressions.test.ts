import { MemoryReader } from '../services/provider/log/memory-event-log';
import { status } from '@grpc/grpc-js';
import { type ProviderConfig, providerConfig } from '../services/provider/provider-config';
import { EventHistory, type RetainedEvent } from '../services/provider/events/event-history';
import { ProviderMetrics } from '../services/provider/provider-metrics';
import { ReplayCursor, type ReplaySource } from '../services/provider/sinks/replay-cursor';
import type { SinkSubscription } from '../services/provider/sinks/sink';
import { encodeOutbound } from '../services/provider/sinks/sink-wire';
import { Event } from '../shared/gen/tether/v1/event';
import type { OpenSinkRequest } from '../shared/gen/tether/v1/sink';
import { World } from './model/world';

/**
 * Shrunk counterexamples found by the model test (test/model), kept as plain tests over the provider's
 * own objects: a manual scheduler, fake streams, no sockets.
 */

const metrics = new ProviderMetrics({
  liveSinks: () => 0,
  liveSubscriptions: () => 0,
  queueDepths: () => [],
  historySize: () => 0,
  headSequence: () => 0,
  reclaimWatchers: () => 0,
});

const START = Date.parse('2024-01-01T00:00:00Z');

function world(overrides: Partial<ProviderConfig>): World {
  return new World(providerConfig({ port: 0, metricsPort: -1, ...overrides }), metrics, START, { request: () => {}, halfClose: () => {}, cancel: () => {} });
}

function open(receive: number): OpenSinkRequest {
  return { kind: { $case: 'open', value: { consumerName: 'orders', maxReceiveMessageBytes: receive } } };
}

describe('model regressions', () => {
  /**
   * Model run: stream(open), subscribe([id "zz…" of 17 bytes]) with a 16-byte id limit. Found as a model
   * error, kept as a pin: a refused spec echoes its id cut to the id limit, with the code of the first
   * rule it breaks.
   */
  test('a refused subscription echoes its id cut to the id limit', () => {
    const w = world({ maxSubscriptionIdBytes: 16 });
    try {
      const ws = w.openStream('10.0.0.1:4001', 4 << 20);
      ws.stream.send(open(0));
      ws.stream.send({ kind: { $case: 'subscribe', value: { subscriptions: [{ subscriptionId: 'z'.repeat(17), pattern: 'a', attributes: { type: 'x' } }], requestId: 'r0' } } });
      w.scheduler.runDeferred();
      const ack = ws.stream.read.at(-1);
      if (ack?.kind !== 'control' || ack.message.kind?.$case !== 'ack') throw new Error('no ack');
      expect(ack.message.kind.value.errors.map((e) => [e.subscriptionId, e.code])).toEqual([['z'.repeat(16), status.INVALID_ARGUMENT]]);
      expect(ack.message.kind.value.subscriptionIds).toEqual([]);
    } finally {
      w.dispose();
    }
  });

  /**
   * Model run: stream(open), publish([a, a]), subscribe([a], resume {other epoch, after 1}). Found when the
   * provider began echoing the requested position for a resume from another epoch; kept as a pin: the gap
   * names the requested epoch and position, this epoch, and the first sequence it replays from.
   */
  test('a resume from another epoch gets a gap echoing what it asked for, then the retained events', () => {
    const w = world({});
    try {
      const ws = w.openStream('10.0.0.1:4001', 4 << 20);
      ws.stream.send(open(0));
      w.router.publish([Event.fromPartial({ topic: 'a' }), Event.fromPartial({ topic: 'a' })]);
      const resume = { epoch: '00000000-0000-4000-8000-000000000000', afterSequence: '1' };
      ws.stream.send({ kind: { $case: 'subscribe', value: { subscriptions: [{ subscriptionId: 'a', pattern: 'a', attributes: {} }], resume, requestId: 'r' } } });
      w.scheduler.runDeferred();
      const gap = ws.stream.read.find((r) => r.kind === 'control' && r.message.kind?.$case === 'gap');
      if (gap?.kind !== 'control' || gap.message.kind?.$case !== 'gap') throw new Error('no gap');
      expect(gap.message.kind.value).toMatchObject({
        subscriptionIds: ['a'],
        requestedEpoch: resume.epoch,
        requestedAfterSequence: '1',
        epoch: w.router.epoch,
        firstAvailableSequence: '1',
      });
      const delivered = ws.stream.read.flatMap((r) => (r.kind === 'batch' ? r.deliveries.map((d) => d.sequence) : []));
      expect(delivered).toEqual([1, 2]);
    } finally {
      w.dispose();
    }
  });

  /**
   * Model run: fill(#0, 13 from 0 on a), fill(#0, 16 from 0 on a) on a sink opened with the smallest
   * receive limit (65536) and TETHER_MAX_SUBSCRIPTION_ID_BYTES=4096. The second Subscribe's ack lists
   * 13 ALREADY_EXISTS refusals, each echoing a ~4 KiB id: a 67003-byte message to a consumer that said
   * it accepts at most 65536 (sink.proto: "The provider never sends a larger one"). SinkRequests.ack
   * budgets the ids at a quarter of the limit on the assumption that the refusal list always fits in the
   * rest, but up to 64 refusals of up to max_subscription_id_bytes each do not.
   */
  test('an ack listing refusals of long ids stays within the consumer receive limit', () => {
    const w = world({ maxSubscriptionIdBytes: 4096, maxEventBytes: 512 });
    try {
      const ws = w.openStream('10.0.0.1:4001', 65_536);
      ws.stream.send(open(65_536));
      const longId = (i: number) => `${i}`.padEnd(4_096, 'x');
      const specs = Array.from({ length: 16 }, (_, i) => ({ subscriptionId: longId(i), pattern: 'a', attributes: {} }));
      ws.stream.send({ kind: { $case: 'subscribe', value: { subscriptions: specs, requestId: 'first' } } });
      ws.stream.send({ kind: { $case: 'subscribe', value: { subscriptions: specs, requestId: 'again' } } });
      w.scheduler.runDeferred();
      const reply = ws.stream.read.at(-1);
      expect(reply?.kind === 'control' && reply.message.kind?.$case === 'ack' && reply.message.kind.value.requestId).toBe('again');
      for (const message of ws.stream.written) expect(encodeOutbound(message).length).toBeLessThanOrEqual(65_536);
      expect(ws.stream.violations).toEqual([]);
    } finally {
      w.dispose();
    }
  });

  /**
   * Model run: stream(open with max_receive_message_bytes 65536), subscribe([a], resume {epoch: 70000
   * characters, after 0}). A resume naming another epoch gets a ResumeGap whose requested_epoch echoes the
   * consumer's epoch string whole (Sink.reportGap: `requestedEpoch || epoch`): a 70099-byte message to a
   * consumer that accepts 65536. The gap's id chunks leave 1024 bytes for its other fields, and the request
   * id is truncated to the id limit, but the echoed epoch is bounded by nothing but the request size.
   */
  test('a gap for a resume from another epoch stays within the consumer receive limit', () => {
    const w = world({ maxEventBytes: 512 });
    try {
      const ws = w.openStream('10.0.0.1:4001', 65_536);
      ws.stream.send(open(65_536));
      const resume = { epoch: 'e'.repeat(70_000), afterSequence: '0' };
      ws.stream.send({ kind: { $case: 'subscribe', value: { subscriptions: [{ subscriptionId: 'a', pattern: 'a', attributes: {} }], resume, requestId: 'r' } } });
      w.scheduler.runDeferred();
      const kinds = ws.stream.written.map((m) => ('control' in m ? m.control.kind?.$case : 'events'));
      expect(kinds).toEqual(['opened', 'ack', 'gap']);
      for (const message of ws.stream.written) expect(encodeOutbound(message).length).toBeLessThanOrEqual(65_536);
    } finally {
      w.dispose();
    }
  });

  /**
   * Not a model run (the model's clock stands still while work runs): found reading EventHistory while
   * modelling retention. A replay step reads the log through a reader, which re-applies the age limit
   * at every event; when the oldest events expire between two reads of the same step, the generator
   * jumps to the new first event, the cursor moves past the expired ones, and the step reports no gap
   * (ReplayCursor.step only compares the first retained sequence with its position before it starts).
   * Here the clock moves 15 ms per read: events 1 and 2 expire during the step, 3 to 5 are replayed, and
   * the consumer is never told that 1 and 2 were lost.
   */
  test('a replay overtaken by age in the middle of one step reports a gap', () => {
    let clock = 100;
    const history = new EventHistory({ historyMaxEvents: 100, historyMaxBytes: 1 << 20, historyMaxAgeMs: 100 }, () => {
      clock += 15;
      return clock - 15;
    });
    for (let seq = 1; seq <= 5; seq++) {
      const bytes = Event.encode(Event.fromPartial({ topic: 'a', sequence: String(seq) })).finish();
      const event: RetainedEvent = { sequence: seq, topic: 'a', tokens: ['a'], bytes, storedAt: 10 * (seq - 1), id: `e${seq}`, source: '', type: '', dataContentType: '', extensions: {} };
      history.append(event);
    }
    const source: ReplaySource = { epoch: 'e', headSequence: 5, firstRetained: () => history.firstSequence ?? 6, reader: (from) => new MemoryReader(history, from), waitForHead: async () => false };
    const sub = { id: 's', owner: { closed: false }, pattern: 'a', attributes: null } as unknown as SinkSubscription;
    const cursor = new ReplayCursor([sub], 1);
    const replayed: number[] = [];
    const gaps: number[] = [];
    for (let steps = 0; steps < 10; steps++) {
      const done = cursor.step(source, 100, 100, (event) => replayed.push(event.sequence), (_after, first) => gaps.push(first));
      if (done) break;
    }
    const lost = [1, 2, 3, 4, 5].filter((seq) => !replayed.includes(seq));
    expect(lost.length).toBeGreaterThan(0);
    // Every event the consumer did not get is covered by a gap that starts after it, before anything later.
    for (const seq of lost) expect(gaps.some((g) => g > seq && !replayed.some((r) => r > seq && r < g))).toBe(true);
  });

  /**
   * The same, overtaken three times in one step: event 1 has expired when the step starts, 2 expires
   * before the step's first read and 4 before its second. ReplayCursor.step keeps the first gap it saw
   * (`gapFirst ??= …`) and moves past the later ones, so no later step can name them: the only gap says
   * "from 2", and events 2 and 4 are lost without a word (3 and 5 on are replayed). Naming the last jump
   * (the first sequence read after it) would cover all three.
   */
  test('a replay overtaken again within one step names every loss', () => {
    // The clock reads 105 when the step starts, 120 and 135 at its next two reads, then stands still.
    const readings = [105, 120, 135];
    const history = new EventHistory({ historyMaxEvents: 100, historyMaxBytes: 1 << 20, historyMaxAgeMs: 100 }, () => (readings.length > 1 ? (readings.shift() as number) : readings[0]));
    for (let seq = 1; seq <= 10; seq++) {
      const bytes = Event.encode(Event.fromPartial({ topic: 'a', sequence: String(seq) })).finish();
      history.append({ sequence: seq, topic: 'a', tokens: ['a'], bytes, storedAt: 10 * (seq - 1), id: `e${seq}`, source: '', type: '', dataContentType: '', extensions: {} });
    }
    const source: ReplaySource = { epoch: 'e', headSequence: 10, firstRetained: () => history.firstSequence ?? 11, reader: (from) => new MemoryReader(history, from), waitForHead: async () => false };
    const sub = { id: 's', owner: { closed: false }, pattern: 'a', attributes: null } as unknown as SinkSubscription;
    const cursor = new ReplayCursor([sub], 1);
    const replayed: number[] = [];
    const gaps: number[] = [];
    for (let steps = 0; steps < 20; steps++) {
      const done = cursor.step(source, 2, 100, (event) => replayed.push(event.sequence), (_after, first) => gaps.push(first));
      if (done) break;
    }
    const lost = Array.from({ length: 10 }, (_, i) => i + 1).filter((seq) => !replayed.includes(seq));
    expect(lost).toEqual([1, 2, 4]);
    // Each lost event is named by a gap that starts after it, with nothing replayed in between.
    const named = (seq: number) => gaps.some((g) => g > seq && !replayed.some((r) => r > seq && r < g));
    expect(lost.filter((seq) => !named(seq))).toEqual([]);
  });
});

