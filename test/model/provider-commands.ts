import { status } from '@grpc/grpc-js';
import { TetherError } from '../../shared/errors';
import { Event } from '../../shared/gen/tether/v1/event';
import { Base, PEERS, fail, pick, settle, settleAndVerify, settleTag, withSink } from './commands';
import { note } from './coverage';
import type { ModelSession, SinkModel } from './sink-model';
import type { World } from './world';

/** What publishers, operators and time do: publish, flood, evict, shut down, move the clock. */

export const TOPICS = ['a', 'b', 'a.b', 'a.c', 'b.b', 'b.x.c', 'c.a.b', 'a.b.c'];
/** Bad events: a topic that is no topic, or (the last entry) an event over the size limit. */
const BAD_TOPICS = ['', 'a..b', 'a.*', 'a b', 'a'];
const OVERSIZE = BAD_TOPICS.length - 1;
const TYPES = ['x', 'y'];
const FIXED_TIME = '2024-01-01T00:00:00Z';

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
  const plan = m.publish(events);
  const published = w.router.publish(events);
  if (!Array.isArray(published)) fail('the memory log answered a publish later, not at once');
  const sequences = published as string[];
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

export class Publish extends Base {
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
export class Overflow extends Base {
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

export class ReleaseClassifications extends Base {
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

export class Evict extends Base {
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

export class Shutdown extends Base {
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

export class PeerActivity extends Base {
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
export class Advance extends Base {
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

export class Settle extends Base {
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
