import type { CloseReason } from '../../shared/close-reason';
import { OpenSinkRequest, type SubscriptionSpec } from '../../shared/gen/tether/v1/sink';
import { Base, PEERS, notCancelled, pick, requestTarget, sendable, settleTag } from './commands';
import { type ModelSession, type SinkModel, modelMinReceive } from './sink-model';
import { undecodableRequest } from './undecodable-request';
import type { World } from './world';

/** What a consumer does on its stream: open, subscribe, unsubscribe, send garbage, stall, end. */

const MAX_SESSIONS = 7;
export const PATTERNS = ['a', 'b', 'a.b', 'a.*', '*.b', 'a.>', '>', '*', 'b.*.c', '*.*', 'c.>', '*.a.>'];
export const BAD_PATTERNS = ['', 'a..b', 'a.>.b', 'a b', 'a.b.c.d'];
const ATTRIBUTES: Array<Record<string, string>> = [{}, { type: 'x' }, { type: 'y' }, { source: 's' }, { '': 'v' }, { type: 'x', source: 's' }];

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
export type NameKind = keyof typeof consumerNames;
export type ReceiveKind = 'default' | 'min' | 'small';

function receiveLimit(m: SinkModel, kind: ReceiveKind): number {
  return kind === 'default' ? 0 : kind === 'min' ? modelMinReceive(m.config) : 1024;
}

function openMessage(m: SinkModel, name: NameKind, receive: ReceiveKind): OpenSinkRequest {
  return { kind: { $case: 'open', value: { consumerName: consumerNames[name], maxReceiveMessageBytes: receiveLimit(m, receive) } } };
}

export class NewStream extends Base {
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
export class SendOpen extends Base {
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

export class Subscribe extends Base {
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

export class Unsubscribe extends Base {
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

export const UNKNOWN = 99;

/** Subscribes `count` good ids from `from` on in one request: fills a sink, or passes its limit. */
export class Fill extends Base {
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

export class Malformed extends Base {
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

export class Reader extends Base {
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

export class EndStream extends Base {
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
