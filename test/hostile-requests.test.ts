import { randomUUID } from 'node:crypto';
import { credentials, status } from '@grpc/grpc-js';
import { PublisherServiceClient } from '../shared/gen/tether/v1/publisher';
import { SubscriptionAck_Change } from '../shared/gen/tether/v1/sink';
import type { ProviderProcess } from './helpers/provider-process';
import { type CallError, OWN_CHANNEL, RawSinkClient, Tracker, startProvider } from './helpers/raw-clients';
import { invalidUtf8, rawOpen, rawSubscribe } from './helpers/raw-grpc';
import { event, publish, publisher } from './helpers/sink-test-client';
import { waitFor } from './helpers/wait';

// Issue 9, point 6: one regression test per reproduced failure, against the built provider in its own
// process. This file: oversized and malformed requests on a sink, the tracker and PublishStream.

/** A C0/C1 control character, DEL, or the replacement character a lenient UTF-8 decoder leaves behind. */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\ufffd]/;

/** Reply kinds in order, runs collapsed ("error×9000"), so a flood of replies fails with a readable diff. */
function kinds(replies: Array<{ kind: string }>): string[] {
  const out: string[] = [];
  let run = 0;
  replies.forEach((r, i) => {
    run++;
    if (replies[i + 1]?.kind !== r.kind) {
      out.push(run === 1 ? r.kind : `${r.kind}×${run}`);
      run = 0;
    }
  });
  return out;
}

/** Waits until the reply to `requestId` has come, so every reply to earlier requests is in too. */
async function replyTo(c: RawSinkClient, requestId: string, timeoutMs = 10_000) {
  await waitFor(`the reply to ${requestId}`, () => c.replies().some((r) => r.value.requestId === requestId) || c.error !== undefined, timeoutMs);
  expect(c.error).toBeUndefined(); // the sink stayed open
  return c.replies().filter((r) => r.value.requestId === requestId);
}

describe('hostile requests (provider process, default limits, TETHER_OPEN_TIMEOUT_MS=300)', () => {
  let p: ProviderProcess;
  let tracker: Tracker;

  // A provider per test: a leak in one test must not show up as a failure of the next.
  beforeEach(async () => {
    p = await startProvider({ TETHER_OPEN_TIMEOUT_MS: '300' });
    tracker = new Tracker(p.address);
  });

  afterEach(async () => {
    tracker?.close();
    await p?.kill();
  });

  test('point 1: a Subscribe of 20,001 invalid specs and one valid one is refused whole with one error; nothing registered; the sink stays open', async () => {
    const c = new RawSinkClient(p.address).open('too-many-specs');
    try {
      const [opened] = await c.waitFor('opened');
      expect(opened.limits?.maxSpecsPerSubscribe).toBe(10_000);
      expect(opened.limits?.maxSpecsPerSubscribe).toBeGreaterThanOrEqual(opened.limits?.maxSubscriptionsPerSink ?? Infinity);
      const specs = Array.from({ length: 20_001 }, (_, i) => ({ subscriptionId: `bad-${i}`, pattern: '' }));
      c.subscribe([...specs, { subscriptionId: 'valid', pattern: 'specs.valid' }], { requestId: 'big' });
      c.subscribe([{ subscriptionId: 'after', pattern: 'specs.after' }], { requestId: 'after' });
      await replyTo(c, 'after', 20_000);
      const big = c.replies().filter((r) => r.value.requestId === 'big');
      expect(kinds(big)).toEqual(['error']);
      expect(big[0].value).toMatchObject({ subscriptionId: '', code: status.INVALID_ARGUMENT });
      expect(c.of('ack').map((a) => a.subscriptionIds)).toEqual([['after']]);
      expect(await tracker.totals()).toMatchObject({ liveSinks: 1, liveSubscriptions: 1 });
    } finally {
      c.close();
    }
    await tracker.expectEmpty();
  });

  test('point 2: an Unsubscribe of 25,000 unknown ids (over max_ids_per_unsubscribe) gets one INVALID_ARGUMENT error', async () => {
    const c = new RawSinkClient(p.address).open('too-many-ids');
    try {
      const [opened] = await c.waitFor('opened');
      expect(opened.limits?.maxIdsPerUnsubscribe).toBe(10_000);
      c.unsubscribe(Array.from({ length: 25_000 }, (_, i) => `unknown-${i}`), 'huge');
      c.subscribe([{ subscriptionId: 'after', pattern: 'ids.after' }], { requestId: 'after' });
      await replyTo(c, 'after', 20_000);
      const huge = c.replies().filter((r) => r.value.requestId === 'huge');
      expect(kinds(huge)).toEqual(['error']);
      expect(huge[0].value).toMatchObject({ subscriptionId: '', code: status.INVALID_ARGUMENT });
    } finally {
      c.close();
    }
    await tracker.expectEmpty();
  });

  test('point 2: an Unsubscribe of 9,000 unknown ids gets ONE ack: REMOVED, no ids, a bounded list of NOT_FOUND refusals plus errors_omitted', async () => {
    const c = new RawSinkClient(p.address).open('many-unknown-ids');
    try {
      await c.waitFor('opened');
      c.unsubscribe(Array.from({ length: 9_000 }, (_, i) => `unknown-${i}`), 'nine');
      c.subscribe([{ subscriptionId: 'after', pattern: 'ids.after' }], { requestId: 'after' });
      await replyTo(c, 'after', 20_000);
      const nine = c.replies().filter((r) => r.value.requestId === 'nine');
      expect(kinds(nine)).toEqual(['ack']);
      const ack = c.of('ack').find((a) => a.requestId === 'nine');
      expect(ack?.change).toBe(SubscriptionAck_Change.CHANGE_REMOVED);
      expect(ack?.subscriptionIds).toEqual([]);
      expect(ack?.errors.length).toBeGreaterThan(0);
      expect(ack?.errors.length).toBeLessThanOrEqual(1_000); // "a bounded number": far below the 9,000 refused
      expect(ack?.errors.every((e) => e.code === status.NOT_FOUND)).toBe(true);
      expect((ack?.errors.length ?? 0) + (ack?.errorsOmitted ?? 0)).toBe(9_000);
    } finally {
      c.close();
    }
    await tracker.expectEmpty();
  });

  test('point 5: a resume ahead of the head in the current epoch gets OUT_OF_RANGE naming the head; nothing registered; the sink stays open', async () => {
    const pub = publisher(p.address);
    await publish(pub, Array.from({ length: 7 }, () => event('ahead.x')));
    const c = new RawSinkClient(p.address).open('ahead');
    try {
      const [opened] = await c.waitFor('opened');
      const head = BigInt(opened.headSequence);
      expect(head).toBeGreaterThanOrEqual(7n);
      const namesHead = new RegExp(`(^|\\D)${head}(\\D|$)`);
      const aheadBy = [head + 100_000n, 9_223_372_036_854_775_807n, 18_446_744_073_709_551_615n];
      for (const [i, after] of aheadBy.entries()) {
        c.subscribe([{ subscriptionId: `ahead-${i}`, pattern: 'ahead.>' }], { resume: { epoch: opened.epoch, afterSequence: String(after) }, requestId: `ahead-${i}` });
        const replies = await replyTo(c, `ahead-${i}`);
        expect(kinds(replies)).toEqual(['error']);
        const err = c.of('error').filter((e) => e.requestId === `ahead-${i}`)[0];
        expect([err.subscriptionId, err.code]).toEqual(['', status.OUT_OF_RANGE]);
        expect(err.message).toMatch(namesHead);
        expect(await tracker.totals()).toMatchObject({ liveSinks: 1, liveSubscriptions: 0 });
      }
      c.subscribe([{ subscriptionId: 'plain', pattern: 'ahead.>' }], { requestId: 'plain' });
      expect((await replyTo(c, 'plain')).map((r) => r.kind)).toEqual(['ack']);
      expect(c.deliveries()).toEqual([]);
    } finally {
      c.close();
      pub.close();
    }
    await tracker.expectEmpty();
  });

  test.each(['EvictSink', 'ListSubscriptions'] as const)('point 6: %s with a 1 MiB sink_id answers promptly with INVALID_ARGUMENT and a short message; an unknown id gets NOT_FOUND', async (method) => {
    const call = (id: string) => (method === 'EvictSink' ? tracker.evictSink(id, 5_000) : tracker.listSubscriptions(id, 5_000));
    const startedAt = Date.now();
    const err = (await call('x'.repeat(1024 * 1024)).then(() => undefined, (e: CallError) => e)) as CallError;
    const elapsed = Date.now() - startedAt;
    const detailsLength = err?.details.length ?? 0;
    expect({ code: status[err?.code ?? 0], elapsedMs: elapsed < 2_500 ? 'under 2500' : elapsed, detailsLength: detailsLength < 300 ? 'under 300' : detailsLength }).toEqual({
      code: 'INVALID_ARGUMENT',
      elapsedMs: 'under 2500',
      detailsLength: 'under 300',
    });
    await expect(call(randomUUID())).rejects.toMatchObject({ code: status.NOT_FOUND });
  });

  test('point 8: a PublishStream that never sends a message is ended with DEADLINE_EXCEEDED after TETHER_OPEN_TIMEOUT_MS', async () => {
    const client = new PublisherServiceClient(p.address, credentials.createInsecure(), OWN_CHANNEL);
    const call = client.publishStream();
    let error: CallError | undefined;
    call.on('error', (e) => (error = e as CallError));
    call.on('data', () => undefined);
    const startedAt = Date.now();
    try {
      await waitFor('the silent PublishStream to be ended', () => error !== undefined, 5_000);
      expect(error?.code).toBe(status.DEADLINE_EXCEEDED);
      expect(Date.now() - startedAt).toBeGreaterThanOrEqual(200);
    } finally {
      call.cancel();
      client.close();
    }
  });

  test('point 8: a consumer name with NUL, control characters or invalid UTF-8 ends the stream INVALID_ARGUMENT and allocates nothing', async () => {
    const names: Array<[string, Buffer]> = [
      ['NUL', Buffer.from('nul\u0000name')],
      ['SOH', Buffer.from('ctl\u0001name')],
      ['tab', Buffer.from('tab\tname')],
      ['newline', Buffer.from('line\nname')],
      ['ESC sequence', Buffer.from('esc\u001b[31mred')],
      ['DEL', Buffer.from('del\u007fname')],
      ['C1 CSI', Buffer.from('csi\u009bname')],
      ['invalid UTF-8 (0xff 0xfe)', invalidUtf8('bad', 'name')],
    ];
    const before = await tracker.totals();
    const clients = names.map(([, bytes]) => new RawSinkClient(p.address).writeRaw(rawOpen(bytes)));
    try {
      await waitFor('every bad open answered', () => clients.every((c) => c.error !== undefined || c.of('opened').length > 0), 3_000).catch(() => undefined);
      const outcome = (c: RawSinkClient) => (c.error ? status[c.error.code] : c.of('opened').length > 0 ? 'opened' : 'no answer');
      expect(names.map(([label], i) => [label, outcome(clients[i])])).toEqual(names.map(([label]) => [label, 'INVALID_ARGUMENT']));
      const after = await tracker.totals();
      expect(after.liveSinks).toBe(0);
      const sum = (m: Record<string, string>) => Object.values(m).reduce((a, b) => a + Number(b), 0);
      expect(sum(after.reclaimedSinksByReason)).toBe(sum(before.reclaimedSinksByReason)); // never opened, so never reclaimed
    } finally {
      for (const c of clients) c.close();
    }
    await tracker.expectEmpty();
  });

  test('point 8: subscription ids with NUL, control characters or invalid UTF-8 are refused in the ack with INVALID_ARGUMENT and never listed', async () => {
    const c = new RawSinkClient(p.address).open('bad-ids');
    try {
      const [opened] = await c.waitFor('opened');
      const bad = [Buffer.from('nul\u0000id'), Buffer.from('ctl\u0001id'), Buffer.from('line\nid'), Buffer.from('csi\u009bid'), invalidUtf8('bad', 'id')];
      c.writeRaw(rawSubscribe([...bad.map((id) => ({ id, pattern: 'ids.x' })), { id: 'good', pattern: 'ids.x' }], 'ids'));
      const replies = await replyTo(c, 'ids');
      expect(kinds(replies)).toEqual(['ack']);
      const ack = c.of('ack')[0];
      expect(ack.subscriptionIds).toEqual(['good']);
      expect(ack.errors.map((e) => e.code)).toEqual(bad.map(() => status.INVALID_ARGUMENT));
      const listed = await tracker.listSubscriptions(opened.sinkId);
      expect(listed.subscriptions.map((s) => s.subscriptionId)).toEqual(['good']);
      const sinks = await tracker.listSinks();
      const shown = [...sinks.sinks.map((s) => s.consumerName), ...listed.subscriptions.flatMap((s) => [s.subscriptionId, s.pattern])];
      expect(shown.filter((s) => UNPRINTABLE.test(s))).toEqual([]);
    } finally {
      c.close();
    }
    await tracker.expectEmpty();
  });
});

describe('refusals on a tiny sink queue (TETHER_SINK_QUEUE_MAX_EVENTS=2)', () => {
  let p: ProviderProcess;
  let tracker: Tracker;

  beforeEach(async () => {
    // History kept at the queue bound, so this provider tests point 1 alone whether or not point 4 is fixed.
    p = await startProvider({ TETHER_SINK_QUEUE_MAX_EVENTS: '2', TETHER_HISTORY_MAX_EVENTS: '2' });
    tracker = new Tracker(p.address);
  });

  afterEach(async () => {
    tracker?.close();
    await p?.kill();
  });

  test('point 1: four empty patterns and one valid spec get exactly one reply: an ack naming the valid id with 4 refusals', async () => {
    const c = new RawSinkClient(p.address).open('mixed');
    try {
      await c.waitFor('opened');
      c.subscribe([0, 1, 2, 3].map((i) => ({ subscriptionId: `empty-${i}`, pattern: '' })).concat({ subscriptionId: 'ok', pattern: 'mixed.ok' }), { requestId: 'mixed' });
      await replyTo(c, 'mixed');
      expect(await tracker.totals()).toMatchObject({ liveSinks: 1, liveSubscriptions: 1 });
      c.subscribe([{ subscriptionId: 'barrier', pattern: 'mixed.barrier' }], { requestId: 'barrier' });
      await replyTo(c, 'barrier');
      const mixed = c.replies().filter((r) => r.value.requestId === 'mixed');
      expect(kinds(mixed)).toEqual(['ack']);
      const ack = c.of('ack')[0];
      expect(ack.subscriptionIds).toEqual(['ok']);
      expect(ack.errors.map((e) => [e.subscriptionId, e.code])).toEqual([0, 1, 2, 3].map((i) => [`empty-${i}`, status.INVALID_ARGUMENT]));
      expect(ack.errorsOmitted).toBe(0);
    } finally {
      c.close();
    }
    await tracker.expectEmpty();
  });

  test('point 1: whatever happens to a sink, live_subscriptions never counts the subscriptions of a closed sink', async () => {
    // However the provider answers this request (even by closing the sink), once the sink is gone nothing of it counts.
    const c = new RawSinkClient(p.address).open('closing');
    const big = new RawSinkClient(p.address).open('closing-big');
    try {
      await c.waitFor('opened');
      c.subscribe([0, 1, 2, 3].map((i) => ({ subscriptionId: `empty-${i}`, pattern: '' })).concat({ subscriptionId: 'ok', pattern: 'closing.ok' }));
      await waitFor('an ack or the end of the sink', () => c.of('ack').length > 0 || c.error !== undefined, 5_000);
      await big.waitFor('opened');
      big.subscribe(Array.from({ length: 10_000 }, (_, i) => ({ subscriptionId: `s${i}`, pattern: `closing.${i % 50}.>` })));
      await big.waitFor('ack');
    } finally {
      c.close();
      big.close();
    }
    // Every answer that counts no sink must count no subscription either, from the first one on.
    const seen: Array<[number, number]> = [];
    await waitFor('both sinks gone', async () => {
      const t = await tracker.totals();
      seen.push([t.liveSinks, t.liveSubscriptions]);
      return t.liveSinks === 0;
    }, 5_000, 1);
    expect(seen.filter(([sinks, subs]) => sinks === 0 && subs !== 0)).toEqual([]);
    await tracker.expectEmpty(2_000);
  });
});
