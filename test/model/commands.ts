import { status } from '@grpc/grpc-js';
import fc from 'fast-check';
import type { CloseReason } from '../../shared/close-reason';
import { TetherError } from '../../shared/errors';
import { Event } from '../../shared/gen/tether/v1/event';
import { OpenSinkRequest, type SubscriptionSpec } from '../../shared/gen/tether/v1/sink';
import { ModelViolation, type ModelSession, type SinkModel, modelMinReceive } from './sink-model';
import { note } from './coverage';
import { undecodableRequest } from './undecodable-request';
import type { World } from './world';

export type ModelCommand = fc.AsyncCommand<SinkModel, World>;

const MAX_SESSIONS = 7;
export const PEERS = ['10.0.0.1:4001', '10.0.0.1:4002', '10.0.0.2:4001'];
export const TOPICS = ['a', 'b', 'a.b', 'a.c', 'b.b', 'b.x.c', 'c.a.b', 'a.b.c'];
/** Bad events: a topic that is no topic, or (the last entry) an event over the size limit. */
const BAD_TOPICS = ['', 'a..b', 'a.*', 'a b', 'a'];
const OVERSIZE = BAD_TOPICS.length - 1;
const TYPES = ['x', 'y'];
const PATTERNS = ['a', 'b', 'a.b', 'a.*', '*.b', 'a.>', '>', '*', 'b.*.c', '*.*', 'c.>', '*.a.>'];
const BAD_PATTERNS = ['', 'a..b', 'a.>.b', 'a b', 'a.b.c.d'];
const ATTRIBUTES: Array<Record<string, string>> = [{}, { type: 'x' }, { type: 'y' }, { source: 's' }, { '': 'v' }, { type: 'x', source: 's' }];
export const FIXED_TIME = '2024-01-01T00:00:00Z';

function fail(message: string): never {
  throw new ModelViolation(message);
}

function pick<T>(list: readonly T[], k: number): T | undefined {
  return list.length === 0 ? undefined : list[k % list.length];
}

/** Sessions whose consumer can still send. */
type Sessions = { readonly sessions: readonly ModelSession[] };
const sendable = (m: Sessions) => m.sessions.filter((s) => !s.clientDone);
/**
 * Where a request goes: mostly to a consumer whose sink is open (so requests have an effect to check),
 * one time in five to any consumer that can still send (unopened, refused or closed sinks).
 */
function requestTarget(m: Sessions, k: number): ModelSession | undefined {
  const any = sendable(m);
  const open = any.filter((s) => s.sink?.state === 'open');
  return k % 5 === 0 || open.length === 0 ? pick(any, Math.floor(k / 5)) : pick(open, k);
}
const notCancelled = (m: Sessions) => m.sessions.filter((s) => !s.clientCancelled);
const withSink = (m: Sessions) => m.sessions.filter((s) => s.sink !== undefined);

/** After a command: let promises and (unless told not to) deferred work run, then compare. */
export async function settleAndVerify(m: SinkModel, w: World, runDeferred: boolean): Promise<void> {
  await settle(m, w, runDeferred);
  m.verify(w, runDeferred);
}

async function settle(m: SinkModel, w: World, runDeferred: boolean): Promise<void> {
  const before = new Map(w.sessions.map((ws) => [ws.key, ws.stream.block]));
  await w.settle(runDeferred);
  if (runDeferred) m.settled(w, before);
}

// ------------------------------------------------------------------ names the consumer uses

/** Good ids: one more than a sink may hold, so the limit can be reached and passed. */
const goodIds = (m: { readonly config: SinkModel['config'] }) => m.config.maxSubscriptionsPerSink + 1;
export const BAD_ID = 100;

/**
 * A subscription id by index: good ones (near the byte limit when the profile allows long ids, so
 * deliveries, acks and gaps must be split), and from BAD_ID on: empty, unprintable, too long.
 */
export function subscriptionId(m: { readonly config: SinkModel['config'] }, n: number): string {
  const max = m.config.maxSubscriptionIdBytes;
  if (n < BAD_ID) {
    const name = `${'abcdefghijklmnopqrstuvwxyz'[n % goodIds(m) % 26]}${Math.floor((n % goodIds(m)) / 26) || ''}`;
    return max > 64 ? `${name}${'x'.repeat(max - 8)}` : name;
  }
  return ['', 'b\u0007d', 'z'.repeat(max + 1)][(n - BAD_ID) % 3];
}

const consumerNames = { ok: 'orders', empty: '', control: 'ord\u0000ers', long: 'n'.repeat(300) } as const;
type NameKind = keyof typeof consumerNames;
type ReceiveKind = 'default' | 'min' | 'small';

function receiveLimit(m: SinkModel, kind: ReceiveKind): number {
  return kind === 'default' ? 0 : kind === 'min' ? modelMinReceive(m.config) : 1024;
}

function openMessage(m: SinkModel, name: NameKind, receive: ReceiveKind): OpenSinkRequest {
  return { kind: { $case: 'open', value: { consumerName: consumerNames[name], maxReceiveMessageBytes: receiveLimit(m, receive) } } };
}

function settleTag(settle: boolean): string {
  return settle ? '' : ', unsettled';
}

// ------------------------------------------------------------------ commands

abstract class Base implements ModelCommand {
  constructor(readonly settle: boolean) {}
  abstract check(m: Readonly<SinkModel>): boolean;
  protected abstract act(m: SinkModel, w: World): Promise<void> | void;
  async run(m: SinkModel, w: World): Promise<void> {
    note(`command ${this.constructor.name}`);
    await this.act(m, w);
    await settleAndVerify(m, w, this.settle);
  }
  abstract toString(): string;
}

class NewStream extends Base {
  constructor(
    readonly peer: number,
    readonly open: { name: NameKind; receive: ReceiveKind } | null,
    settle: boolean,
  ) {
    super(settle);
  }
  check(m: Readonly<SinkModel>) {
    return m.sessions.length < MAX_SESSIONS;
  }
  act(m: SinkModel, w: World) {
    const peer = PEERS[this.peer];
    const limit = this.open ? receiveLimit(m, this.open.receive) : 0;
    const ws = w.openStream(peer, limit || 4 * 1024 * 1024);
    m.newSession(ws.key, peer);
    if (this.open) ws.stream.send(openMessage(m, this.open.name, this.open.receive));
  }
  toString() {
    return `stream(peer ${this.peer}${this.open ? `, open ${this.open.name}/${this.open.receive}` : ', no open'}${settleTag(this.settle)})`;
  }
}

/** An open message on an existing stream: opens it, or is a protocol error on an open sink. */
class SendOpen extends Base {
  constructor(
    readonly k: number,
    readonly name: NameKind,
    readonly receive: ReceiveKind,
    settle: boolean,
  ) {
    super(settle);
  }
  check(m: Readonly<SinkModel>) {
    return sendable(m).length > 0;
  }
  act(m: SinkModel, w: World) {
    const s = pick(sendable(m), this.k) as ModelSession;
    const ws = w.sessions[s.key];
    if (!s.sink && receiveLimit(m, this.receive) > 0) ws.stream.maxMessageBytes = receiveLimit(m, this.receive);
    ws.stream.send(openMessage(m, this.name, this.receive));
  }
  toString() {
    return `open(#${this.k}, ${this.name}/${this.receive}${settleTag(this.settle)})`;
  }
}

export interface SpecArg {
  readonly id: number;
  readonly pattern: number;
  readonly attributes: number;
}
export interface ResumeArg {
  readonly epoch: 'same' | 'other' | 'empty' | 'long';
  readonly position: 'zero' | 'head' | 'behind' | 'mid' | 'ahead' | 'huge' | 'empty';
  readonly k: number;
}

class Subscribe extends Base {
  constructor(
    readonly k: number,
    readonly specs: readonly SpecArg[],
    readonly resume: ResumeArg | null,
    readonly oversize: boolean,
    readonly requestId: number,
    settle: boolean,
  ) {
    super(settle);
  }
  check(m: Readonly<SinkModel>) {
    return sendable(m).length > 0;
  }
  act(m: SinkModel, w: World) {
    const s = requestTarget(m, this.k) as ModelSession;
    const patterns = [...PATTERNS, ...BAD_PATTERNS];
    let subscriptions: SubscriptionSpec[] = this.specs.map((spec) => ({
      subscriptionId: subscriptionId(m, spec.id),
      pattern: patterns[spec.pattern % patterns.length],
      attributes: ATTRIBUTES[spec.attributes % ATTRIBUTES.length],
    }));
    if (this.oversize) {
      const n = m.config.maxSpecsPerSubscribe + 1;
      subscriptions = Array.from({ length: n }, (_, i) => ({ subscriptionId: `o${i}`, pattern: 'a', attributes: {} }));
    }
    const resume = this.resume ? resumeFrom(m, this.resume) : undefined;
    w.sessions[s.key].stream.send({ kind: { $case: 'subscribe', value: { subscriptions, resume, requestId: `r${this.requestId}` } } });
  }
  toString() {
    const specs = this.oversize ? 'over the spec limit' : this.specs.map((s) => `${s.id}:${[...PATTERNS, ...BAD_PATTERNS][s.pattern % (PATTERNS.length + BAD_PATTERNS.length)]}${s.attributes % ATTRIBUTES.length ? `+${JSON.stringify(ATTRIBUTES[s.attributes % ATTRIBUTES.length])}` : ''}`).join(' ');
    const resume = this.resume ? `, resume ${this.resume.epoch}@${this.resume.position}${this.resume.position === 'ahead' || this.resume.position === 'behind' ? `+${this.resume.k}` : ''}` : '';
    return `subscribe(#${this.k}, r${this.requestId}, [${specs}]${resume}${settleTag(this.settle)})`;
  }
}

export function resumeFrom(m: SinkModel, r: ResumeArg): { epoch: string; afterSequence: string } {
  const epochs = { same: m.epoch, other: '00000000-0000-4000-8000-000000000000', empty: '', long: 'e'.repeat(70_000) };
  const epoch = epochs[r.epoch];
  const head = m.head;
  const positions = {
    zero: '0',
    head: String(head),
    behind: String(Math.max(0, head - 1 - (r.k % 3))),
    mid: String(Math.floor(head / 2)),
    ahead: String(head + 1 + r.k),
    huge: '18446744073709551615',
    empty: '',
  };
  return { epoch, afterSequence: positions[r.position] };
}

class Unsubscribe extends Base {
  constructor(
    readonly k: number,
    readonly ids: readonly number[],
    readonly oversize: boolean,
    readonly requestId: number,
    settle: boolean,
  ) {
    super(settle);
  }
  check(m: Readonly<SinkModel>) {
    return sendable(m).length > 0;
  }
  act(m: SinkModel, w: World) {
    const s = requestTarget(m, this.k) as ModelSession;
    const ids = this.oversize ? Array.from({ length: m.config.maxIdsPerUnsubscribe + 1 }, (_, i) => subscriptionId(m, i)) : this.ids.map((n) => (n === UNKNOWN ? 'unknown' : subscriptionId(m, n)));
    w.sessions[s.key].stream.send({ kind: { $case: 'unsubscribe', value: { subscriptionIds: ids, requestId: `u${this.requestId}` } } });
  }
  toString() {
    return `unsubscribe(#${this.k}, u${this.requestId}, ${this.oversize ? 'over the id limit' : `[${this.ids.map((n) => (n === UNKNOWN ? '?' : n))}]`}${settleTag(this.settle)})`;
  }
}

const UNKNOWN = 99;

/** Subscribes `count` good ids from `from` on in one request: fills a sink, or passes its limit. */
class Fill extends Base {
  constructor(
    readonly k: number,
    readonly from: number,
    readonly count: number,
    readonly pattern: number,
    readonly resume: ResumeArg | null,
    settle: boolean,
  ) {
    super(settle);
  }
  check(m: Readonly<SinkModel>) {
    return sendable(m).length > 0;
  }
  act(m: SinkModel, w: World) {
    const s = requestTarget(m, this.k) as ModelSession;
    const n = Math.min(this.count, m.config.maxSpecsPerSubscribe);
    const subscriptions = Array.from({ length: n }, (_, i) => ({ subscriptionId: subscriptionId(m, this.from + i), pattern: PATTERNS[this.pattern % PATTERNS.length], attributes: {} }));
    const resume = this.resume ? resumeFrom(m, this.resume) : undefined;
    w.sessions[s.key].stream.send({ kind: { $case: 'subscribe', value: { subscriptions, resume, requestId: `f${this.from}` } } });
  }
  toString() {
    const resume = this.resume ? `, resume ${this.resume.epoch}@${this.resume.position}` : '';
    return `fill(#${this.k}, ${this.count} from ${this.from} on ${PATTERNS[this.pattern % PATTERNS.length]}${resume}${settleTag(this.settle)})`;
  }
}

class Malformed extends Base {
  constructor(
    readonly k: number,
    readonly what: 'empty' | 'undecodable',
    settle: boolean,
  ) {
    super(settle);
  }
  check(m: Readonly<SinkModel>) {
    return sendable(m).length > 0;
  }
  act(m: SinkModel, w: World) {
    const s = requestTarget(m, this.k) as ModelSession;
    w.sessions[s.key].stream.send(this.what === 'empty' ? OpenSinkRequest.fromPartial({}) : undecodableRequest());
  }
  toString() {
    return `${this.what}-request(#${this.k}${settleTag(this.settle)})`;
  }
}

export interface EventArg {
  readonly topic: number;
  readonly type: number;
}

/** Events with ids and times fixed by the model, so their encoded sizes are the same on every replay. */
export function modelEvents(m: SinkModel, args: readonly EventArg[], bad = false): Event[] {
  return args.map((a, i) =>
    Event.fromPartial({
      id: `e${m.head + 1 + i}`,
      source: 's',
      type: TYPES[a.type % TYPES.length],
      topic: bad && i === args.length - 1 ? BAD_TOPICS[a.topic % BAD_TOPICS.length] : TOPICS[a.topic % TOPICS.length],
      time: FIXED_TIME,
      data: bad && i === args.length - 1 && a.topic % BAD_TOPICS.length === OVERSIZE ? Buffer.alloc(m.config.maxEventBytes) : undefined,
    }),
  );
}

/** Publishes through the router, checking overflow closes against the model's bounds on each queue. */
export function publishChecked(m: SinkModel, w: World, events: Event[], valid: boolean): void {
  if (!valid) {
    const head = w.router.headSequence;
    let refused: unknown;
    try {
      w.router.publish(events);
    } catch (err) {
      refused = err;
    }
    if (!(refused instanceof TetherError) || refused.code !== status.INVALID_ARGUMENT) fail(`an invalid batch was not refused with INVALID_ARGUMENT: ${String(refused)}`);
    if (w.router.headSequence !== head) fail('a refused batch moved the head');
    return;
  }
  const blocked = new Map(w.sessions.map((ws) => [ws.key, ws.stream.blockedAt !== null]));
  const written = new Map(w.sessions.map((ws) => [ws.key, ws.stream.written.length]));
  const reclaimsBefore = w.reclaims.length;
  const first = m.head + 1;
  const plan = m.publish(w, events);
  const sequences = w.router.publish(events);
  if (sequences.join() !== events.map((_, i) => String(first + i)).join()) fail(`publish assigned [${sequences}], expected from ${first}`);
  const overflowed = new Set(w.reclaims.slice(reclaimsBefore).filter((r) => r.reason === 'slow-consumer').map((r) => r.sinkId));
  for (const [key, { must, may }] of plan) {
    const id = w.sessions[key].session.sink?.id ?? '';
    const closed = overflowed.has(id);
    if (must && !closed) fail(`session ${key}: its live queue must have overflowed (at least ${m.sessions[key].sink?.low.count} deliveries queued), but the sink is still ${w.sessions[key].session.sink?.state}`);
    if (closed && !may) fail(`session ${key}: closed as a slow consumer although at most ${m.sessions[key].sink?.high.count} deliveries can be queued`);
    if (closed) m.overflowed(w, key, blocked.get(key) ?? false, written.get(key) ?? 0);
    if (may && !must) note(`overflow undecided → ${closed ? 'closed' : 'open'}`);
  }
}

class Publish extends Base {
  constructor(
    readonly events: readonly EventArg[],
    readonly bad: boolean,
    settle: boolean,
  ) {
    super(settle);
  }
  check() {
    return true;
  }
  act(m: SinkModel, w: World) {
    publishChecked(m, w, modelEvents(m, this.events, this.bad), !this.bad);
  }
  toString() {
    return `publish([${this.events.map((e, i) => (this.bad && i === this.events.length - 1 ? e.topic % BAD_TOPICS.length === OVERSIZE ? 'BAD:oversize' : `BAD:${JSON.stringify(BAD_TOPICS[e.topic % BAD_TOPICS.length])}` : `${TOPICS[e.topic % TOPICS.length]}/${TYPES[e.type % TYPES.length]}`)).join(' ')}]${settleTag(this.settle)})`;
  }
}

/** Stalls a consumer's reader and floods it: a batch per round, deferred work run between rounds. */
class Overflow extends Base {
  constructor(
    readonly k: number,
    readonly rounds: number,
    settle: boolean,
  ) {
    super(settle);
  }
  check(m: Readonly<SinkModel>) {
    return m.sessions.length > 0;
  }
  async act(m: SinkModel, w: World) {
    const s = pick(m.sessions, this.k) as ModelSession;
    w.sessions[s.key].stream.stall(0);
    for (let round = 0; round < this.rounds; round++) {
      const events = Array.from({ length: m.config.maxPublishBatch }, (_, i) => ({ topic: i, type: i + round }));
      publishChecked(m, w, modelEvents(m, events), true);
      if (round < this.rounds - 1) await settleAndVerify(m, w, true);
    }
  }
  toString() {
    return `overflow(#${this.k}, ${this.rounds} batches${settleTag(this.settle)})`;
  }
}

class Reader extends Base {
  constructor(
    readonly k: number,
    readonly stall: boolean,
    readonly highWater: number,
    settle: boolean,
  ) {
    super(settle);
  }
  check(m: Readonly<SinkModel>) {
    return m.sessions.length > 0;
  }
  act(m: SinkModel, w: World) {
    const s = pick(m.sessions, this.k) as ModelSession;
    const stream = w.sessions[s.key].stream;
    if (this.stall) stream.stall(this.highWater);
    else stream.resumeReader();
  }
  toString() {
    return this.stall ? `stall(#${this.k}, highWater ${this.highWater}${settleTag(this.settle)})` : `read(#${this.k}${settleTag(this.settle)})`;
  }
}

export type Outcome = CloseReason | 'reject';

class EndStream extends Base {
  constructor(
    readonly k: number,
    readonly how: 'half-close' | 'cancel',
    readonly outcome: Outcome,
    readonly hold: boolean,
    settle: boolean,
  ) {
    super(settle);
  }
  check(m: Readonly<SinkModel>) {
    return (this.how === 'half-close' ? sendable(m) : notCancelled(m)).length > 0;
  }
  act(m: SinkModel, w: World) {
    const s = pick(this.how === 'half-close' ? sendable(m) : notCancelled(m), this.k) as ModelSession;
    const ws = w.sessions[s.key];
    s.classify = { outcome: this.outcome, hold: this.hold };
    ws.classify = { outcome: this.outcome, hold: this.hold };
    s.clientDone = true;
    if (this.how === 'half-close') ws.stream.halfClose();
    else {
      s.clientCancelled = true;
      ws.stream.cancel();
    }
  }
  toString() {
    return `${this.how}(#${this.k}, classify → ${this.outcome}${this.hold ? ' (held)' : ''}${settleTag(this.settle)})`;
  }
}

class ReleaseClassifications extends Base {
  check() {
    return true;
  }
  act(m: SinkModel, w: World) {
    m.releaseClassifications(w);
    w.releaseClassifications();
  }
  toString() {
    return `release-classifications(${settleTag(this.settle)})`;
  }
}

class Evict extends Base {
  constructor(
    readonly k: number,
    settle: boolean,
  ) {
    super(settle);
  }
  check(m: Readonly<SinkModel>) {
    return withSink(m).length > 0;
  }
  act(m: SinkModel, w: World) {
    const s = pick(withSink(m), this.k) as ModelSession;
    const id = w.sessions[s.key].session.sink?.id ?? '';
    const want = m.evict(w, s.key);
    let got: number | undefined;
    let error: unknown;
    try {
      got = w.tracker.evict(id, '');
    } catch (err) {
      error = err;
    }
    if (want === undefined) {
      if (!(error instanceof TetherError) || error.code !== status.NOT_FOUND) fail(`session ${s.key}: evicting a closed sink did not fail with NOT_FOUND (${String(error ?? got)})`);
    } else if (error || got !== want) fail(`session ${s.key}: evict returned ${String(error ?? got)}, model ${want}`);
  }
  toString() {
    return `evict(#${this.k}${settleTag(this.settle)})`;
  }
}

class Shutdown extends Base {
  constructor(
    readonly stop: boolean,
    settle: boolean,
  ) {
    super(settle);
  }
  check(m: Readonly<SinkModel>) {
    return m.running;
  }
  act(m: SinkModel, w: World) {
    m.shutdown(w, this.stop);
    w.shutdown(this.stop);
  }
  toString() {
    return `${this.stop ? 'shutdown' : 'close-all'}(${settleTag(this.settle)})`;
  }
}

class PeerActivity extends Base {
  constructor(readonly peer: number) {
    super(true);
  }
  check() {
    return true;
  }
  act(_m: SinkModel, w: World) {
    w.probe.activity(PEERS[this.peer]);
  }
  toString() {
    return `peer-activity(${this.peer})`;
  }
}

/** Moves the clock (timers fire at their times, or all late after a jump), then sweeps at the new time. */
class Advance extends Base {
  constructor(
    readonly ms: number,
    readonly mode: 'step' | 'jump',
    settle: boolean,
  ) {
    super(settle);
  }
  check() {
    return true;
  }
  async act(m: SinkModel, w: World) {
    await w.scheduler.advance(this.ms, this.mode, () => settle(m, w, true));
    m.sweep(w, w.scheduler.now());
    w.tracker.sweep(w.scheduler.now());
  }
  toString() {
    return `${this.mode}(${this.ms} ms, then sweep${settleTag(this.settle)})`;
  }
}

class Settle extends Base {
  constructor() {
    super(true);
  }
  check() {
    return true;
  }
  act() {}
  toString() {
    return 'run-deferred()';
  }
}

// ------------------------------------------------------------------ arbitraries

const settleArb = fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) });
const k = fc.nat({ max: 39 });
const nameArb = fc.oneof({ weight: 8, arbitrary: fc.constant<NameKind>('ok') }, { weight: 1, arbitrary: fc.constantFrom<NameKind>('empty', 'control', 'long') });
const receiveArb = fc.oneof({ weight: 6, arbitrary: fc.constant<ReceiveKind>('default') }, { weight: 2, arbitrary: fc.constant<ReceiveKind>('min') }, { weight: 1, arbitrary: fc.constant<ReceiveKind>('small') });
const specArb = fc.record({
  id: fc.oneof({ weight: 8, arbitrary: fc.nat({ max: 5 }) }, { weight: 1, arbitrary: fc.integer({ min: BAD_ID, max: BAD_ID + 2 }) }),
  pattern: fc.oneof({ weight: 8, arbitrary: fc.nat({ max: PATTERNS.length - 1 }) }, { weight: 1, arbitrary: fc.integer({ min: PATTERNS.length, max: PATTERNS.length + BAD_PATTERNS.length - 1 }) }),
  attributes: fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 3, arbitrary: fc.integer({ min: 1, max: 3 }) }, { weight: 1, arbitrary: fc.integer({ min: 4, max: 5 }) }),
});
const resumeArb = fc.record({
  epoch: fc.oneof({ weight: 6, arbitrary: fc.constant<'same'>('same') }, { weight: 1, arbitrary: fc.constantFrom<'other' | 'empty' | 'long'>('other', 'empty', 'long') }),
  position: fc.constantFrom<ResumeArg['position']>('zero', 'head', 'behind', 'mid', 'ahead', 'huge', 'empty'),
  k: fc.nat({ max: 3 }),
});
const eventArb = fc.record({ topic: fc.nat({ max: TOPICS.length - 1 }), type: fc.nat({ max: 1 }) });
const outcomeArb = fc.constantFrom<Outcome>('client-closed', 'crashed', 'keepalive-timeout', 'connection-lost', 'reject');
const msArb = fc.oneof(fc.constantFrom(1, 10, 20, 21, 50, 100, 101, 200, 201, 300, 301, 1_000, 1_001, 2_500), fc.integer({ min: 1, max: 3_000 }));

type Weighted = [number, fc.Arbitrary<ModelCommand>];

/**
 * Every command, weighted toward opening, subscribing and publishing on open sinks (so most runs have
 * traffic to check), with the ways a sink ends rarer and shutdown rarest (it ends everything).
 */
export function commandArbitraries(): Array<fc.Arbitrary<ModelCommand>> {
  const weighted: Weighted[] = [
    [12, fc.tuple(fc.nat({ max: PEERS.length - 1 }), fc.record({ name: nameArb, receive: receiveArb }), settleArb).map(([p, o, s]) => new NewStream(p, o, s))],
    [1, fc.tuple(fc.nat({ max: PEERS.length - 1 }), settleArb).map(([p, s]) => new NewStream(p, null, s))],
    [2, fc.tuple(k, nameArb, receiveArb, settleArb).map(([kk, n, r, s]) => new SendOpen(kk, n, r, s))],
    [
      18,
      fc
        .tuple(k, fc.array(specArb, { minLength: 1, maxLength: 4 }), fc.option(resumeArb, { freq: 2 }), fc.nat({ max: 99 }), settleArb)
        .map(([kk, specs, resume, id, s]) => new Subscribe(kk, specs, resume, false, id, s)),
    ],
    [1, fc.tuple(k, fc.option(resumeArb), fc.nat({ max: 99 }), settleArb).map(([kk, resume, id, s]) => new Subscribe(kk, [], resume, true, id, s))],
    [
      5,
      fc
        .tuple(k, fc.nat({ max: 30 }), fc.integer({ min: 1, max: 30 }), fc.nat({ max: PATTERNS.length - 1 }), fc.option(resumeArb, { freq: 3 }), settleArb)
        .map(([kk, from, n, pattern, resume, s]) => new Fill(kk, from, n, pattern, resume, s)),
    ],
    [
      5,
      fc
        .tuple(k, fc.array(fc.oneof({ weight: 5, arbitrary: fc.nat({ max: 5 }) }, { weight: 1, arbitrary: fc.constant(UNKNOWN) }), { minLength: 1, maxLength: 4 }), fc.nat({ max: 99 }), settleArb)
        .map(([kk, ids, id, s]) => new Unsubscribe(kk, ids, false, id, s)),
    ],
    [1, fc.tuple(k, fc.nat({ max: 99 }), settleArb).map(([kk, id, s]) => new Unsubscribe(kk, [], true, id, s))],
    [2, fc.tuple(k, fc.constantFrom<'empty' | 'undecodable'>('empty', 'undecodable'), settleArb).map(([kk, what, s]) => new Malformed(kk, what, s))],
    [24, fc.tuple(fc.array(eventArb, { minLength: 1, maxLength: 5 }), settleArb).map(([events, s]) => new Publish(events, false, s))],
    [1, fc.tuple(fc.array(eventArb, { minLength: 1, maxLength: 3 }), settleArb).map(([events, s]) => new Publish(events, true, s))],
    [8, fc.tuple(k, fc.boolean(), fc.nat({ max: 2 }), settleArb).map(([kk, stall, hw, s]) => new Reader(kk, stall, hw, s))],
    [3, fc.tuple(k, fc.integer({ min: 1, max: 3 }), settleArb).map(([kk, rounds, s]) => new Overflow(kk, rounds, s))],
    [
      3,
      fc
        .tuple(k, fc.oneof({ weight: 4, arbitrary: fc.constant<Outcome>('client-closed') }, { weight: 1, arbitrary: outcomeArb }), fc.boolean(), settleArb)
        .map(([kk, o, hold, s]) => new EndStream(kk, 'half-close', o, hold, s)),
    ],
    [3, fc.tuple(k, outcomeArb, fc.boolean(), settleArb).map(([kk, o, hold, s]) => new EndStream(kk, 'cancel', o, hold, s))],
    [2, settleArb.map((s) => new ReleaseClassifications(s))],
    [2, fc.tuple(k, settleArb).map(([kk, s]) => new Evict(kk, s))],
    [1, fc.tuple(fc.oneof({ weight: 1, arbitrary: fc.constant(true) }, { weight: 2, arbitrary: fc.constant(false) }), settleArb).map(([stop, s]) => new Shutdown(stop, s))],
    [2, fc.nat({ max: PEERS.length - 1 }).map((p) => new PeerActivity(p))],
    [6, fc.tuple(msArb, fc.constantFrom<'step' | 'jump'>('step', 'jump'), settleArb).map(([ms, mode, s]) => new Advance(ms, mode, s))],
    [4, fc.constant(null).map(() => new Settle())],
  ];
  return [fc.oneof(...weighted.map(([weight, arbitrary]) => ({ weight, arbitrary })))];
}
