import { status } from '@grpc/grpc-js';
import type { SubscriptionSpec } from '../../shared/gen/tether/v1/sink';
import { SinkTestClient } from '../helpers/sink-test-client';
import { waitFor } from '../helpers/wait';
import { badPublishes } from './bad-publishes';
import type { FaultContext, FaultOutcome } from './fault-context';

/** What the flood sink holds: these four, before and after every bad request. */
const VALID = new Map([
  ['f-1', 'soak.1.ev'],
  ['f-2', 'soak.*.ev'],
  ['f-3', 'soak.>'],
  ['f-4', 'floodpub.>'],
]);
const HUGE = 100_000;
const TEMP = 1_200; // above TETHER_MAX_SUBSCRIPTIONS_PER_SINK (1000)
const UNKNOWN_IDS = 5_000;
const BURST = 3_000;
const CHUNK = 400;

const spec = (subscriptionId: string, pattern: string, attributes: Record<string, string> = {}): SubscriptionSpec => ({ subscriptionId, pattern, attributes });

const INVALID: SubscriptionSpec[] = [
  spec('bad-empty', ''),
  spec('bad-dots', 'a..b'),
  spec('bad-gt-first', '>.a'),
  spec('bad-gt-mid', 'soak.>.ev'),
  spec('bad-space', 'soak.a b.ev'),
  spec('bad-partial-wild', 'soak.*x.ev'),
  spec('bad-dot', '.'),
  spec('bad-long', 'x'.repeat(300)),
  spec('bad-deep', Array(17).fill('a').join('.')),
  spec('bad-huge-pattern', 'y'.repeat(HUGE)),
  spec('bad-attrs', 'soak.2.ev', Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v']))),
  spec('', 'soak.2.ev'),
  spec('i'.repeat(300), 'soak.2.ev'),
  spec('h'.repeat(HUGE), 'soak.2.ev'),
];

/**
 * A raw client floods its own sink with bad requests: invalid patterns, ids that are empty, long or
 * 100 KB, duplicates, more subscriptions than the limit, thousands of unknown unsubscribe ids, and a burst
 * of thousands of messages, plus bad publish batches. Afterwards the sink must still be open and hold
 * exactly its four valid subscriptions, and no refused publish may have delivered anything. A stream that
 * sends a subscribe before open must end with FAILED_PRECONDITION. The flood sink stays open until the
 * next checkpoint, which counts it.
 */
export async function floodFault(ctx: FaultContext, n: number): Promise<FaultOutcome> {
  await preOpenIsRefused(ctx, n);
  const name = `raw-flood-${n}`;
  const client = new SinkTestClient(ctx.address).open(name);
  const subscribe = (specs: SubscriptionSpec[], requestId: string) => client.call.write({ kind: { $case: 'subscribe', value: { subscriptions: specs, resume: undefined, requestId } } });
  const unsubscribe = (ids: string[], requestId: string) => client.call.write({ kind: { $case: 'unsubscribe', value: { subscriptionIds: ids, requestId } } });
  const replied = (requestId: string, timeoutMs: number) =>
    waitFor(`reply to ${requestId}`, () => client.error !== undefined || client.of('ack').some((a) => a.requestId === requestId) || client.of('error').some((e) => e.requestId === requestId), timeoutMs).then(
      () => client.error === undefined,
      () => false,
    );

  subscribe([...VALID].map(([id, pattern]) => spec(id, pattern)), 'valid');
  const sinkId = (await replied('valid', 5_000)) ? client.of('opened')[0]?.sinkId : undefined;
  if (!sinkId) {
    ctx.findings.violate('flood', `${name} could not open and subscribe: ${client.error?.message ?? 'no reply within 5 s'}`);
    client.close();
    return { kind: 'flood', target: name };
  }

  subscribe(INVALID, 'bad-batch');
  INVALID.forEach((s, i) => subscribe([s], `bad-${i}`));
  subscribe([spec('f-1', 'soak.1.ev')], 'duplicate');
  subscribe([spec('dup', 'soak.2.ev'), spec('dup', 'soak.3.ev')], 'duplicate-in-batch');
  const temp = Array.from({ length: TEMP }, (_, i) => `t-${i + 1}`);
  subscribe(temp.map((id, i) => spec(id, `soak.${(i % 500) + 1}.ev`)), 'over-limit');
  unsubscribe(Array.from({ length: UNKNOWN_IDS }, (_, i) => `nope-${i}`), 'unknown-ids');
  unsubscribe(['u'.repeat(HUGE)], 'huge-id');
  unsubscribe([], 'empty-unsubscribe');
  subscribe([], 'empty-subscribe');
  for (let i = 0; i < BURST; i++) {
    if (i % 2 === 0) subscribe([spec(`b-${i}`, `bad pattern ${i}`)], `burst-${i}`);
    else unsubscribe([`gone-${i}`], `burst-${i}`);
  }
  unsubscribe(['dup'], 'drop-dup');
  for (let i = 0; i < temp.length; i += CHUNK) unsubscribe(temp.slice(i, i + CHUNK), `drop-temp-${i}`);

  await badPublishes(ctx);

  // Requests are handled in order: once the sentinel is answered, every bad request before it was too.
  subscribe([spec('sentinel', 'sentinel.x')], 'sentinel-add');
  const added = await replied('sentinel-add', 20_000);
  unsubscribe(['sentinel'], 'sentinel-remove');
  const removed = added && (await replied('sentinel-remove', 10_000));
  if (!removed || client.error || client.ended) {
    const why = client.error ? `${status[client.error.code ?? 2]}: ${client.error.details ?? client.error.message}` : client.ended ? 'ended' : 'no reply to the sentinel';
    ctx.findings.violate('flood', `${name}: the flood of bad requests ended or wedged the sink (${why})`);
    client.close();
    return { kind: 'flood', target: name };
  }
  const foreign = client.deliveries().filter((d) => d.subscriptionIds.includes('f-4'));
  if (foreign.length > 0) ctx.findings.violate('bad publish', `${foreign.length} events of refused publish batches were delivered (first topic ${foreign[0].event?.topic})`);
  await checkHolds(ctx, name, sinkId);
  ctx.rawSinks.push({ name, kind: 'flood', subscriptions: VALID, close: () => client.close() });
  return { kind: 'flood', target: name };
}

async function checkHolds(ctx: FaultContext, name: string, sinkId: string): Promise<void> {
  const subs = await ctx.tracker.listSubscriptions(sinkId).catch((err: Error) => {
    ctx.findings.violate('flood', `ListSubscriptions(${name}) failed after the flood: ${err.message}`);
    return undefined;
  });
  if (!subs) return;
  const held = subs.map((s) => `${s.subscriptionId}=${s.pattern}`).sort();
  const want = [...VALID].map(([id, p]) => `${id}=${p}`).sort();
  if (held.join(';') !== want.join(';')) {
    const extra = held.filter((h) => !want.includes(h));
    const missing = want.filter((w) => !held.includes(w));
    ctx.findings.violate(
      'flood',
      `${name} holds ${held.length} subscriptions after the flood, expected ${want.length}: extra ${extra.length} [${extra.slice(0, 5).map((e) => e.slice(0, 60)).join(', ')}], missing [${missing.join(', ')}]`,
    );
  }
}

async function preOpenIsRefused(ctx: FaultContext, n: number): Promise<void> {
  const raw = new SinkTestClient(ctx.address);
  raw.call.write({ kind: { $case: 'subscribe', value: { subscriptions: [spec('early', 'soak.1.ev')], resume: undefined, requestId: 'early' } } });
  raw.open(`raw-early-${n}`);
  const err = await raw.waitError(5_000).catch(() => undefined);
  if (err?.code !== status.FAILED_PRECONDITION) {
    ctx.findings.violate('flood', `a subscribe before open got ${err ? status[err.code] : 'no stream error within 5 s'}, expected FAILED_PRECONDITION`);
  }
  raw.close();
}
