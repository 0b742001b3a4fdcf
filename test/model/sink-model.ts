import { status } from '@grpc/grpc-js';
import { ALL_CLOSE_REASONS, CLOSE_REASONS, type CloseReason } from '../../shared/close-reason';
import { Event } from '../../shared/gen/tether/v1/event';
import { type OpenSinkRequest, type Subscribe, SubscriptionAck_Change, type Unsubscribe } from '../../shared/gen/tether/v1/sink';
import type { ProviderConfig } from '../../services/provider/provider-config';
import { deliverySize, fieldSize, patternMatches, validName, validPattern, validTopic } from './model-rules';
import { note } from './coverage';
import type { ClassifyPlan, World } from './world';

/** The smallest receive limit the protocol promises to honour (sink.proto: an event plus one id fit). */
export function modelMinReceive(c: ProviderConfig): number {
  return Math.max(c.maxEventBytes + c.maxSubscriptionIdBytes + 64, 64 * 1024);
}
const DEFAULT_RECEIVE = 4 * 1024 * 1024;
const MAX_LISTED_ERRORS = 64;

export interface ModelEvent {
  readonly id: string;
  readonly sequence: number;
  readonly topic: string;
  readonly tokens: readonly string[];
  readonly type: string;
  readonly source: string;
  readonly bytes: number;
  readonly storedAt: number;
}

/** One registration of a subscription id on a sink: from its ADDED ack to its REMOVED ack or the sink's end. */
export interface Generation {
  readonly id: string;
  readonly tokens: readonly string[];
  readonly attributes: ReadonlyArray<readonly [string, string]>;
  readonly resume: 'none' | 'same' | 'other' | 'behind';
  /** Events with a greater sequence are owed to it. */
  readonly startAfter: number;
  endHead?: number;
  endedBy?: 'unsubscribe' | 'close';
  /** Known not to be replaying any more, so its events go through the live queue. */
  certainLive: boolean;
}

type Reply =
  | { kind: 'opened'; head: number; receive: number }
  | { kind: 'ack'; requestId: string; change: SubscriptionAck_Change; ids: string[]; errors: Array<{ id: string; code: number }>; omitted: number }
  | { kind: 'error'; requestId: string; code: number }
  | { kind: 'gap'; ids: string[]; requestedEpoch: string; requestedAfter: string; firstAvailable: number };

/** What the provider must have done to a stream when it ended it. */
type ExpectedEnd = { kind: 'none' } | { kind: 'reset' } | { kind: 'finish'; code: number; closing?: CloseReason };

export interface ModelSink {
  id: string;
  state: 'open' | 'closing' | 'closed';
  reason?: CloseReason;
  openedAt: number;
  receive: number;
  readonly subs: Map<string, Generation>;
  readonly gensById: Map<string, Generation[]>;
  readonly replies: Reply[];
  /** Lower and upper bounds on the live deliveries (and bytes) queued for it. */
  low: { count: number; bytes: number };
  high: { count: number; bytes: number };
  end?: ExpectedEnd;
  /** Messages written when it stopped being open: after that only a `closing` may be written. */
  writtenAtLeave?: number;
  /** What its stream looked like when last verified. */
  verified?: string;
  /** Last sign of life the provider can see: a message, or a change in its connection's byte count. */
  lastActivity: number;
  lastBytesRead: number;
}

export interface ModelSession {
  readonly key: number;
  readonly peer: string;
  ended: boolean;
  decided: boolean;
  firstSignAt?: number;
  openTimerLive: boolean;
  classifyTimerLive: boolean;
  halfClosed: boolean;
  cancelled: boolean;
  /** The consumer has half-closed or cancelled (its end may still be held behind paused requests). */
  clientDone: boolean;
  clientCancelled: boolean;
  end?: ExpectedEnd;
  sink?: ModelSink;
  classify: ClassifyPlan;
  held?: { reason: CloseReason; detectedAt: number };
  classifyCalls: boolean[];
}

interface ExpectedReclaim {
  readonly sinceLastActivityMs: number;
  readonly key: number;
  readonly sinkId: string;
  readonly reason: CloseReason;
  readonly count: number;
  readonly detectedAt: number;
  readonly openedAt: number;
}

export class ModelViolation extends Error {}

function fail(message: string): never {
  throw new ModelViolation(message);
}

/**
 * A plain model of the provider as a consumer and an operator see it: which sinks are open, what each
 * holds, what each subscription is owed, how each sink must end and be counted. It is driven by the same
 * consumer actions and timer firings as the provider (the fakes report them), and `verify` compares the
 * two after every command.
 */
export class SinkModel {
  readonly sessions: ModelSession[] = [];
  readonly events: ModelEvent[] = [];
  head = 0;
  /** The oldest sequence the count and byte bounds of the history still allow. */
  private countFirst = 1;
  private countBytes = 0;
  accepting = true;
  running = true;
  epoch = '';
  private readonly expectedReclaims = new Map<string, ExpectedReclaim>();
  private readonly reclaimedSinks = new Map<CloseReason, number>(ALL_CLOSE_REASONS.map((r) => [r, 0]));
  private readonly reclaimedSubs = new Map<CloseReason, number>(ALL_CLOSE_REASONS.map((r) => [r, 0]));
  /** Subscription ids of the 'split' profile are long; the model maps its short names through this. */
  constructor(
    readonly config: ProviderConfig,
    private readonly now: () => number,
  ) {}

  // ---------------------------------------------------------------- history

  /** The oldest sequence a resume can still get now, or head + 1. */
  firstRetained(): number {
    const oldest = this.now() - this.config.historyMaxAgeMs;
    for (let seq = this.countFirst; seq <= this.head; seq++) {
      if (this.events[seq - 1].storedAt >= oldest) return seq;
    }
    return this.head + 1;
  }

  private retain(event: ModelEvent): void {
    const c = this.config;
    if (c.historyMaxEvents === 0 || c.historyMaxAgeMs === 0) {
      this.countFirst = this.head + 1;
      this.countBytes = 0;
      return;
    }
    this.countBytes += event.bytes;
    while (this.countFirst <= this.head && (this.head - this.countFirst + 1 > c.historyMaxEvents || this.countBytes > c.historyMaxBytes)) {
      this.countBytes -= this.events[this.countFirst - 1].bytes;
      this.countFirst++;
    }
  }

  // ---------------------------------------------------------------- consumers

  newSession(key: number, peer: string): ModelSession {
    const s: ModelSession = {
      key,
      peer,
      ended: false,
      decided: false,
      openTimerLive: true,
      classifyTimerLive: false,
      halfClosed: false,
      cancelled: false,
      clientDone: false,
      clientCancelled: false,
      classify: { outcome: 'client-closed', hold: false },
      classifyCalls: [],
    };
    this.sessions.push(s);
    return s;
  }

  liveSinks(): ModelSink[] {
    return this.sessions.flatMap((s) => (s.sink && s.sink.state !== 'closed' ? [s.sink] : []));
  }

  /** A consumer message reaches the session (SinkSession.onMessage). */
  request(world: World, key: number, message: unknown): void {
    const s = this.sessions[key];
    const sink = s.sink;
    if (s.ended || (sink && sink.state !== 'open')) return;
    if (sink) sink.lastActivity = this.now();
    const decoded = message as OpenSinkRequest;
    const kind = typeof message === 'object' && message !== null && 'kind' in message ? decoded.kind : undefined;
    const undecodable = !(typeof message === 'object' && message !== null && 'kind' in message);
    if (undecodable) return this.violate(world, s, status.INVALID_ARGUMENT);
    switch (kind?.$case) {
      case 'open': {
        if (sink) return this.violate(world, s, status.FAILED_PRECONDITION);
        s.openTimerLive = false;
        const receive = kind.value.maxReceiveMessageBytes || DEFAULT_RECEIVE;
        if (!this.accepting) return this.refuse(s, status.UNAVAILABLE);
        if (!validName(kind.value.consumerName, this.config.maxConsumerNameLength)) return this.refuse(s, status.INVALID_ARGUMENT);
        if (receive < modelMinReceive(this.config)) return this.refuse(s, status.INVALID_ARGUMENT);
        if (this.liveSinks().length >= this.config.maxSinks) return this.refuse(s, status.RESOURCE_EXHAUSTED);
        s.sink = {
          id: '',
          state: 'open',
          openedAt: this.now(),
          receive,
          subs: new Map(),
          gensById: new Map(),
          replies: [{ kind: 'opened', head: this.head, receive }],
          low: { count: 0, bytes: 0 },
          high: { count: 0, bytes: 0 },
          lastActivity: this.now(),
          lastBytesRead: -1,
        };
        return;
      }
      case 'subscribe':
        if (!sink) return this.refuse(s, status.FAILED_PRECONDITION);
        return this.subscribe(sink, kind.value);
      case 'unsubscribe':
        if (!sink) return this.refuse(s, status.FAILED_PRECONDITION);
        return this.unsubscribe(sink, kind.value);
      default:
        if (!sink) return this.refuse(s, status.FAILED_PRECONDITION);
        sink.replies.push({ kind: 'error', requestId: '', code: status.INVALID_ARGUMENT });
    }
  }

  private refuse(s: ModelSession, code: number): void {
    s.ended = true;
    s.openTimerLive = false;
    s.end = { kind: 'finish', code };
  }

  private violate(world: World, s: ModelSession, code: number): void {
    if (!s.sink) return this.refuse(s, code);
    this.close(world, s, 'protocol-error', this.now(), code);
  }

  private subscribe(sink: ModelSink, request: Subscribe): void {
    const c = this.config;
    const requestId = request.requestId;
    if (request.subscriptions.length > c.maxSpecsPerSubscribe) {
      sink.replies.push({ kind: 'error', requestId, code: status.INVALID_ARGUMENT });
      return;
    }
    const resume = request.resume;
    let after: number | undefined;
    if (resume) {
      const requested = BigInt(resume.afterSequence || '0');
      if (resume.epoch === this.epoch && requested > BigInt(this.head)) {
        sink.replies.push({ kind: 'error', requestId, code: status.OUT_OF_RANGE });
        return;
      }
      after = resume.epoch === this.epoch ? Number(requested) : undefined;
    }
    const first = this.firstRetained();
    let kind: Generation['resume'] = 'none';
    let startAfter = this.head;
    if (resume) {
      if (after === undefined) [kind, startAfter] = ['other', 0];
      else if (after + 1 < first) [kind, startAfter] = ['behind', after];
      else [kind, startAfter] = ['same', after];
    }
    const added: string[] = [];
    const errors: Array<{ id: string; code: number }> = [];
    for (const spec of request.subscriptions) {
      const code = this.specProblem(sink, spec.subscriptionId, spec.pattern, spec.attributes ?? {});
      if (code !== undefined) {
        errors.push({ id: truncate(spec.subscriptionId, c.maxSubscriptionIdBytes), code });
        continue;
      }
      const gen: Generation = {
        id: spec.subscriptionId,
        tokens: spec.pattern.split('.'),
        attributes: Object.entries(spec.attributes ?? {}),
        resume: kind,
        startAfter,
        certainLive: kind === 'none',
      };
      sink.subs.set(gen.id, gen);
      const gens = sink.gensById.get(gen.id) ?? [];
      gens.push(gen);
      sink.gensById.set(gen.id, gens);
      added.push(gen.id);
    }
    sink.replies.push({
      kind: 'ack',
      requestId,
      change: SubscriptionAck_Change.CHANGE_ADDED,
      ids: added,
      errors: errors.slice(0, MAX_LISTED_ERRORS),
      omitted: Math.max(0, errors.length - MAX_LISTED_ERRORS),
    });
    if (resume && added.length > 0 && kind !== 'same') {
      sink.replies.push({
        kind: 'gap',
        ids: added,
        requestedEpoch: resume.epoch || this.epoch,
        // What the consumer asked for, echoed (as uint64 on the wire), whichever epoch it named.
        requestedAfter: String(BigInt(resume.afterSequence || '0')),
        firstAvailable: first,
      });
    }
  }

  /** The refusal code of one spec, in the order the protocol lists them, or undefined when it is applied. */
  private specProblem(sink: ModelSink, id: string, pattern: string, attributes: Record<string, string>): number | undefined {
    const c = this.config;
    if (!validName(id, c.maxSubscriptionIdBytes)) return status.INVALID_ARGUMENT;
    if (sink.subs.has(id)) return status.ALREADY_EXISTS;
    if (sink.subs.size >= c.maxSubscriptionsPerSink) return status.RESOURCE_EXHAUSTED;
    if (!validPattern(pattern, c)) return status.INVALID_ARGUMENT;
    const entries = Object.entries(attributes);
    if (entries.length > c.maxAttributes) return status.INVALID_ARGUMENT;
    for (const [key, value] of entries) {
      if (!validName(key, c.maxPatternLength) || (value !== '' && !validName(value, c.maxPatternLength))) return status.INVALID_ARGUMENT;
    }
    return undefined;
  }

  private unsubscribe(sink: ModelSink, request: Unsubscribe): void {
    if (request.subscriptionIds.length > this.config.maxIdsPerUnsubscribe) {
      sink.replies.push({ kind: 'error', requestId: request.requestId, code: status.INVALID_ARGUMENT });
      return;
    }
    const removed: string[] = [];
    const errors: Array<{ id: string; code: number }> = [];
    for (const id of request.subscriptionIds) {
      const gen = sink.subs.get(id);
      if (!gen) {
        errors.push({ id: truncate(id, this.config.maxSubscriptionIdBytes), code: status.NOT_FOUND });
        continue;
      }
      gen.endHead = this.head;
      gen.endedBy = 'unsubscribe';
      sink.subs.delete(id);
      removed.push(id);
    }
    sink.replies.push({
      kind: 'ack',
      requestId: request.requestId,
      change: SubscriptionAck_Change.CHANGE_REMOVED,
      ids: removed,
      errors: errors.slice(0, MAX_LISTED_ERRORS),
      omitted: Math.max(0, errors.length - MAX_LISTED_ERRORS),
    });
  }

  /** The consumer's half-close reaches the session: the sink stops, and a classification window starts. */
  halfClose(world: World, key: number): void {
    const s = this.sessions[key];
    s.halfClosed = true;
    this.firstSign(world, s);
    s.classifyTimerLive = true;
  }

  cancel(world: World, key: number): void {
    const s = this.sessions[key];
    s.cancelled = true;
    this.firstSign(world, s);
    this.decide(world, s, false);
  }

  private firstSign(world: World, s: ModelSession): void {
    s.firstSignAt ??= this.now();
    s.openTimerLive = false;
    if (s.sink?.state === 'open') {
      s.sink.state = 'closing';
      s.sink.writtenAtLeave = world.sessions[s.key].stream.written.length;
    }
  }

  private decide(world: World, s: ModelSession, halfClosed: boolean): void {
    if (s.decided) return;
    s.decided = true;
    const sink = s.sink;
    if (!sink) {
      if (!s.ended && halfClosed) s.end = { kind: 'finish', code: status.OK };
      s.ended = true;
      return;
    }
    s.ended = true;
    if (sink.state === 'closed') return;
    s.classifyCalls.push(halfClosed);
    const reason: CloseReason = s.classify.outcome === 'reject' ? 'connection-lost' : s.classify.outcome;
    const detectedAt = s.firstSignAt ?? this.now();
    if (s.classify.hold) s.held = { reason, detectedAt };
    else this.close(world, s, reason, detectedAt);
  }

  /** The test answers every held classification. */
  releaseClassifications(world: World): void {
    for (const s of this.sessions) {
      if (!s.held) continue;
      const { reason, detectedAt } = s.held;
      s.held = undefined;
      if (s.sink && s.sink.state !== 'closed') this.close(world, s, reason, detectedAt);
    }
  }

  // ---------------------------------------------------------------- operators and time

  /** tracker.evict: the count it returns, or undefined when it must refuse (no such open sink). */
  evict(world: World, key: number): number | undefined {
    const s = this.sessions[key];
    if (!s.sink || s.sink.state === 'closed') return undefined;
    const count = s.sink.subs.size;
    this.close(world, s, 'evicted', this.now());
    return count;
  }

  shutdown(world: World, stopAccepting: boolean): void {
    if (stopAccepting) {
      this.accepting = false;
      this.running = false;
    }
    for (const s of this.sessions) if (s.sink && s.sink.state !== 'closed') this.close(world, s, 'shutdown', this.now());
  }

  /** A timer is about to fire. */
  timer(world: World, owner: string, kind: string, at: number): void {
    if (owner === 'tracker' && kind === 'sweep') return this.sweep(world, at);
    if (owner === 'history') return;
    const key = Number(owner.slice(1));
    const s = this.sessions[key];
    if (!owner.startsWith('s') || !s) fail(`a timer of unknown owner ${owner} (${kind}) fired`);
    if (kind === 'open-timeout') {
      if (!s.openTimerLive) fail(`session ${key}: its open timeout fired although it was cancelled`);
      s.openTimerLive = false;
      if (!s.ended) this.refuse(s, status.DEADLINE_EXCEEDED);
      return;
    }
    if (kind === 'classify') {
      if (!s.classifyTimerLive) fail(`session ${key}: a classification window fired that the model did not expect`);
      s.classifyTimerLive = false;
      this.decide(world, s, !s.cancelled);
      return;
    }
    fail(`session ${key}: an unexpected timer (${kind}) fired`);
  }

  /** One tracker sweep at `now`: a sink blocked on flow control past the drain timeout is a slow consumer. */
  sweep(world: World, now: number): void {
    for (const s of this.sessions) {
      const sink = s.sink;
      if (!sink || sink.state === 'closed') continue;
      const read = world.probe.bytesRead(s.peer);
      if (read !== sink.lastBytesRead) {
        sink.lastBytesRead = read;
        sink.lastActivity = now;
      }
      const blockedAt = world.sessions[s.key].stream.blockedAt;
      if (blockedAt !== null && now - blockedAt > this.config.sinkDrainTimeoutMs) this.close(world, s, 'slow-consumer', now);
    }
  }

  // ---------------------------------------------------------------- publishing

  /** Records a valid batch; returns, per session with an open sink, whether overflow must or may close it. */
  publish(world: World, events: readonly Event[]): Map<number, { must: boolean; may: boolean }> {
    const c = this.config;
    const out = new Map<number, { must: boolean; may: boolean }>();
    const batch: ModelEvent[] = events.map((e, i) => {
      const sequence = this.head + 1 + i;
      return {
        id: e.id,
        sequence,
        topic: e.topic,
        tokens: e.topic.split('.'),
        type: e.type,
        source: e.source,
        bytes: Event.encode({ ...e, sequence: String(sequence) }).finish().length,
        storedAt: this.now(),
      };
    });
    for (const e of batch) {
      this.events.push(e);
      this.head = e.sequence;
      this.retain(e);
    }
    for (const s of this.sessions) {
      const sink = s.sink;
      if (!sink || sink.state !== 'open') continue;
      for (const e of batch) {
        const matched = [...sink.subs.values()].filter((g) => matches(g, e));
        if (matched.length === 0) continue;
        const ids = matched.map((g) => g.id);
        sink.high.count += ids.length;
        sink.high.bytes += deliverySize(e.bytes, ids) + (ids.length - 1) * fieldSize(e.bytes);
        const live = matched.filter((g) => g.certainLive).map((g) => g.id);
        if (live.length > 0) {
          sink.low.count += 1;
          sink.low.bytes += deliverySize(e.bytes, live);
        }
      }
      out.set(s.key, {
        must: sink.low.count > c.sinkQueueMaxEvents || sink.low.bytes > c.sinkQueueMaxBytes,
        may: sink.high.count > c.sinkQueueMaxEvents || sink.high.bytes > c.sinkQueueMaxBytes,
      });
    }
    return out;
  }

  /** The provider closed a sink as a slow consumer during a publish the model allowed that for. */
  overflowed(world: World, key: number, blockedBefore: boolean, writtenBefore: number): void {
    const s = this.sessions[key];
    if (!s.sink) return;
    s.sink.writtenAtLeave = writtenBefore;
    this.close(world, s, 'slow-consumer', this.now(), undefined, blockedBefore);
  }

  /**
   * After deferred work ran to the end: a sink that is not blocked flushed everything (its queue is
   * empty and its replays done); one that stayed blocked since before kept all it had queued.
   */
  settled(world: World, blockBefore: Map<number, number | null>): void {
    for (const s of this.sessions) {
      const sink = s.sink;
      if (!sink || sink.state !== 'open') continue;
      const blockedAt = world.sessions[s.key].stream.blockedAt;
      if (blockedAt === null) {
        sink.low = { count: 0, bytes: 0 };
        sink.high = { count: 0, bytes: 0 };
        for (const g of sink.subs.values()) g.certainLive = true;
      } else if (blockBefore.get(s.key) !== world.sessions[s.key].stream.block) {
        sink.low = { count: 0, bytes: 0 };
      }
    }
  }

  // ---------------------------------------------------------------- the one way out

  private close(world: World, s: ModelSession, reason: CloseReason, detectedAt: number, code?: number, wasBlocked?: boolean): void {
    const sink = s.sink;
    if (!sink || sink.state === 'closed') return;
    const stream = world.sessions[s.key].stream;
    const blocked = wasBlocked ?? stream.blockedAt !== null;
    if (sink.state === 'open') sink.writtenAtLeave ??= stream.written.length;
    sink.state = 'closed';
    sink.reason = reason;
    for (const gen of sink.subs.values()) {
      gen.endHead = this.head;
      gen.endedBy = 'close';
    }
    const count = sink.subs.size;
    sink.subs.clear();
    s.openTimerLive = false;
    this.reclaimedSinks.set(reason, (this.reclaimedSinks.get(reason) ?? 0) + 1);
    this.reclaimedSubs.set(reason, (this.reclaimedSubs.get(reason) ?? 0) + count);
    sink.id ||= world.sessions[s.key].session.sink?.id ?? '';
    if (!sink.id) fail(`session ${s.key}: the model closes a sink the provider never opened`);
    note(`reclaim ${reason}${blocked ? ' (blocked)' : ''}${s.halfClosed || s.cancelled ? ' (stream ended first)' : ''}`);
    const lastActivity = Math.max(sink.lastActivity, stream.lastDrainAt ?? -Infinity);
    this.expectedReclaims.set(sink.id, { sinceLastActivityMs: Math.max(0, detectedAt - lastActivity), key: s.key, sinkId: sink.id, reason, count, detectedAt, openedAt: sink.openedAt });
    switch (reason) {
      case 'crashed':
      case 'keepalive-timeout':
      case 'connection-lost':
        sink.end = { kind: 'none' };
        break;
      case 'client-closed':
        sink.end = blocked ? { kind: 'reset' } : { kind: 'finish', code: status.OK };
        break;
      default:
        sink.end = blocked ? { kind: 'reset' } : { kind: 'finish', code: code ?? FINAL_STATUS[reason], closing: reason };
    }
  }

  // ---------------------------------------------------------------- verification

  /** Compares the provider with the model; throws a ModelViolation naming the first difference. */
  verify(world: World, settled: boolean): void {
    for (const ws of world.sessions) {
      if (ws.stream.violations.length > 0) fail(ws.stream.violations.join('\n'));
    }
    this.verifyCounts(world);
    this.verifyReclaims(world);
    this.verifyTimers(world, settled);
    for (const s of this.sessions) {
      this.verifyStreamEnd(world, s);
      if (s.sink) this.verifyReader(world, s, s.sink, settled);
    }
  }

  private verifyCounts(world: World): void {
    const live = this.liveSinks();
    const modelSubs = live.reduce((n, k) => n + k.subs.size, 0);
    const trackerSinks = world.tracker.list();
    const heldByOpen = trackerSinks.filter((k) => k.state !== 'closed').reduce((n, k) => n + k.subscriptionCount, 0);
    if (trackerSinks.some((k) => k.state === 'closed')) fail('the tracker still lists a closed sink');
    if (world.registry.liveCount !== heldByOpen || heldByOpen !== modelSubs) {
      fail(`live subscriptions: registry ${world.registry.liveCount}, held by open and closing sinks ${heldByOpen}, model ${modelSubs}`);
    }
    if (world.tracker.liveSinks !== live.length) fail(`live sinks: tracker ${world.tracker.liveSinks}, model ${live.length}`);
    const totals = world.tracker.totals();
    if (totals.liveSubscriptions !== modelSubs) fail(`totals().liveSubscriptions ${totals.liveSubscriptions}, model ${modelSubs}`);
    if (totals.detectionLatency.count !== this.expectedReclaims.size) fail(`totals() counts ${totals.detectionLatency.count} detection latencies, model ${this.expectedReclaims.size} reclaims`);
    for (const r of ALL_CLOSE_REASONS) {
      if (totals.reclaimedSinks[r] !== this.reclaimedSinks.get(r)) fail(`reclaimed sinks (${r}): tracker ${totals.reclaimedSinks[r]}, model ${this.reclaimedSinks.get(r)}`);
      if (totals.reclaimedSubscriptions[r] !== this.reclaimedSubs.get(r)) {
        fail(`reclaimed subscriptions (${r}): tracker ${totals.reclaimedSubscriptions[r]}, model ${this.reclaimedSubs.get(r)}`);
      }
    }
    for (const s of this.sessions) {
      const real = world.sessions[s.key].session.sink;
      const sink = s.sink;
      if (!sink) {
        if (real) fail(`session ${s.key}: the provider opened a sink the model refused or never saw opened`);
        continue;
      }
      if (!real) fail(`session ${s.key}: the model opened a sink the provider did not`);
      sink.id ||= real.id;
      if (real.state !== sink.state) fail(`session ${s.key}: sink is ${real.state}, model says ${sink.state}${sink.reason ? ` (${sink.reason})` : ''}`);
      if (real.subscriptionCount !== sink.subs.size) fail(`session ${s.key}: sink holds ${real.subscriptionCount} subscriptions, model ${sink.subs.size}`);
      for (const id of sink.subs.keys()) if (!real.subscription(id)) fail(`session ${s.key}: subscription ${short(id)} missing from the sink`);
      if (sink.state === 'closed' && real.closeReason !== sink.reason) fail(`session ${s.key}: closed as ${real.closeReason}, model ${sink.reason}`);
    }
  }

  private verifyReclaims(world: World): void {
    const seen = new Set<string>();
    for (const r of world.reclaims) {
      if (seen.has(r.sinkId)) fail(`sink ${r.sinkId} was reported reclaimed twice`);
      seen.add(r.sinkId);
      const want = this.expectedReclaims.get(r.sinkId);
      if (!want) fail(`sink of session ${this.keyOf(r.sinkId)} reported reclaimed (${r.reason}, ${r.subscriptionCount}) but the model has it ${this.stateOf(r.sinkId)}`);
      if (r.reason !== want.reason || r.subscriptionCount !== want.count) {
        fail(`session ${want.key}: reclaimed as ${r.reason} with ${r.subscriptionCount} subscriptions, model ${want.reason} with ${want.count}`);
      }
      if (r.detectedAt !== want.detectedAt) fail(`session ${want.key}: reclaim detectedAt ${r.detectedAt}, model ${want.detectedAt}`);
      if (r.sinkAgeMs !== want.detectedAt - want.openedAt) fail(`session ${want.key}: sinkAgeMs ${r.sinkAgeMs}, model ${want.detectedAt - want.openedAt}`);
      if (r.sinceLastActivityMs !== want.sinceLastActivityMs) fail(`session ${want.key}: sinceLastActivityMs ${r.sinceLastActivityMs}, model ${want.sinceLastActivityMs}`);
    }
    for (const want of this.expectedReclaims.values()) {
      if (!seen.has(want.sinkId)) fail(`session ${want.key}: closed as ${want.reason} but never reported through onReclaim`);
    }
  }

  private verifyTimers(world: World, settled: boolean): void {
    if (settled && world.scheduler.deferredCount > 0) fail(`${world.scheduler.deferredCount} deferred tasks left after running deferred work`);
    const counts = new Map<string, number>();
    for (const { label } of world.scheduler.pending()) {
      const k = `${label.owner}/${label.kind}`;
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    const expect = (k: string, n: number) => {
      const got = counts.get(k) ?? 0;
      if (got !== n) fail(`pending timers ${k}: ${got}, model ${n}`);
      counts.delete(k);
    };
    expect('tracker/sweep', this.running ? 1 : 0);
    expect('history/history-sweep', this.running ? 1 : 0);
    for (const s of this.sessions) {
      expect(`s${s.key}/open-timeout`, s.openTimerLive ? 1 : 0);
      expect(`s${s.key}/classify`, s.classifyTimerLive ? 1 : 0);
      const stream = world.sessions[s.key].stream;
      if (s.sink && s.sink.state !== 'open' && stream.drainListenerCount > 0) {
        fail(`session ${s.key}: ${stream.drainListenerCount} drain listener(s) left on the stream of a ${s.sink.state} sink`);
      }
      const calls = world.classifyCalls.filter((c) => c.key === s.key).map((c) => c.halfClosed);
      if (calls.length !== s.classifyCalls.length || calls.some((h, i) => h !== s.classifyCalls[i])) {
        fail(`session ${s.key}: classify called with [${calls}], model [${s.classifyCalls}]`);
      }
    }
    for (const [k, n] of counts) fail(`${n} unexpected pending timer(s) ${k}`);
  }

  private verifyStreamEnd(world: World, s: ModelSession): void {
    const stream = world.sessions[s.key].stream;
    const want = s.sink ? s.sink.end : s.end;
    const got = stream.providerEnd;
    if (!want) {
      if (got) fail(`session ${s.key}: the provider ended the stream (${describeEnd(got)}) while the model expects it open`);
      return;
    }
    if (want.kind === 'none') {
      if (got) fail(`session ${s.key}: the provider ended the stream (${describeEnd(got)}) of a sink whose transport was already gone`);
      return;
    }
    if (!got) fail(`session ${s.key}: the stream was not ended; the model expects ${describeEnd(want)}`);
    if (got.kind !== want.kind || (got.kind === 'finish' && want.kind === 'finish' && got.code !== want.code)) {
      fail(`session ${s.key}: the stream ended with ${describeEnd(got)}, the model expects ${describeEnd(want)}`);
    }
    const sink = s.sink;
    if (!sink || sink.writtenAtLeave === undefined) return;
    const after = stream.written.slice(sink.writtenAtLeave);
    const closing = want.kind === 'finish' ? want.closing : undefined;
    if (after.length > (closing ? 1 : 0)) fail(`session ${s.key}: ${after.length} message(s) written after the sink stopped being open`);
    if (closing) {
      const last = after[0];
      const message = last && 'control' in last ? last.control : undefined;
      if (message?.kind?.$case !== 'closing' || message.kind.value.reason !== closing || message.kind.value.reconnect !== CLOSE_REASONS[closing].reconnect) {
        fail(`session ${s.key}: the stream did not end with closing(${closing})`);
      }
    }
  }

  /**
   * What the consumer read, against what it is owed: every reply in order, every delivery for a
   * registered subscription in increasing order and matching it, and no missing event that is not
   * explained by a gap or by the end of the subscription's stream.
   */
  private verifyReader(world: World, s: ModelSession, sink: ModelSink, settled: boolean): void {
    const ws = world.sessions[s.key];
    const stream = ws.stream;
    const quiescent =
      settled &&
      sink.state === 'open' &&
      !stream.stalled &&
      stream.blockedAt === null &&
      stream.unread === 0 &&
      stream.inboundPending === 0 &&
      !stream.requestsPaused &&
      !stream.readerEnd;
    // Nothing this check reads has changed since it last passed: skip it.
    let gens = 0;
    let ended = 0;
    for (const list of sink.gensById.values()) for (const g of list) [gens, ended] = [gens + 1, ended + (g.endHead === undefined ? 0 : 1)];
    const fingerprint = [stream.read.length, sink.replies.length, this.head, sink.state, quiescent, this.firstRetained(), gens, ended, stream.readerEnd?.kind].join();
    if (sink.verified === fingerprint) return;
    const where = `session ${s.key}`;
    const current = new Map<string, Generation>();
    const addedSeen = new Map<string, number>();
    const received = new Map<Generation, number[]>();
    const gaps = new Map<Generation, number[]>();
    const removedRead = new Set<Generation>();
    let reply = 0;
    let progress = 0;
    let errorsSeen = false;
    let closingRead = false;
    const expectReply = (what: string): Reply => {
      const r = sink.replies[reply];
      if (!r) fail(`${where}: read ${what} but the model expects no further reply`);
      return r;
    };
    const finishReply = (r: Reply, ids: number) => {
      if (progress === ids && (r.kind !== 'ack' || errorsSeen)) {
        reply++;
        progress = 0;
        errorsSeen = false;
      }
    };
    for (const item of stream.read) {
      if (closingRead) fail(`${where}: read something after closing`);
      if (item.kind === 'batch') {
        for (const d of item.deliveries) {
          const event = this.events[d.sequence - 1];
          if (!event || event.topic !== d.topic || event.type !== d.type || event.id !== d.id || event.source !== d.source) {
            fail(`${where}: delivery of event ${d.sequence} (${d.id} ${d.topic}) that is not the one published with that sequence`);
          }
          if (new Set(d.ids).size !== d.ids.length) fail(`${where}: event ${d.sequence} names a subscription twice in one delivery`);
          for (const id of d.ids) {
            const gen = current.get(id);
            if (!gen) fail(`${where}: event ${d.sequence} delivered to ${short(id)}, which is not subscribed at that point of the stream`);
            if (!matches(gen, event)) fail(`${where}: event ${d.sequence} (${event.topic}/${event.type}) delivered to ${short(id)} which does not match it`);
            if (d.sequence <= gen.startAfter) fail(`${where}: event ${d.sequence} delivered to ${short(id)}, owed only events after ${gen.startAfter}`);
            if (gen.endHead !== undefined && d.sequence > gen.endHead) fail(`${where}: event ${d.sequence} delivered to ${short(id)} after it ended at ${gen.endHead}`);
            const list = received.get(gen) ?? [];
            const last = list[list.length - 1];
            if (last !== undefined && d.sequence === last) fail(`${where}: event ${d.sequence} delivered twice to ${short(id)}`);
            if (last !== undefined && d.sequence < last) fail(`${where}: event ${d.sequence} delivered to ${short(id)} after event ${last}`);
            list.push(d.sequence);
            received.set(gen, list);
          }
        }
        continue;
      }
      const m = item.message.kind;
      switch (m?.$case) {
        case 'heartbeat':
          if (Number(m.value.headSequence) > this.head) fail(`${where}: heartbeat head ${m.value.headSequence} beyond ${this.head}`);
          break;
        case 'closing':
          closingRead = true;
          break;
        case 'opened': {
          const r = expectReply('opened');
          if (r.kind !== 'opened') fail(`${where}: read opened, the model expects ${r.kind}`);
          const v = m.value;
          const c = this.config;
          const limits = v.limits;
          const limitsOk =
            limits?.maxMessageBytes === r.receive &&
            limits.maxSubscriptionsPerSink === c.maxSubscriptionsPerSink &&
            limits.maxSpecsPerSubscribe === c.maxSpecsPerSubscribe &&
            limits.maxIdsPerUnsubscribe === c.maxIdsPerUnsubscribe &&
            limits.maxSubscriptionIdBytes === c.maxSubscriptionIdBytes &&
            limits.maxPatternLength === c.maxPatternLength &&
            limits.maxPatternDepth === c.maxPatternDepth &&
            limits.maxAttributes === c.maxAttributes;
          if (v.sinkId !== sink.id || v.epoch !== this.epoch || Number(v.headSequence) !== r.head || !limitsOk) {
            fail(`${where}: opened ${JSON.stringify({ ...v, sinkId: v.sinkId === sink.id })} does not match the model (head ${r.head}, receive ${r.receive})`);
          }
          reply++;
          break;
        }
        case 'error': {
          const r = expectReply('error');
          if (r.kind !== 'error' || r.code !== m.value.code || r.requestId !== m.value.requestId || m.value.subscriptionId !== '') {
            fail(`${where}: read error ${m.value.code} for request ${JSON.stringify(m.value.requestId)}, the model expects ${describeReply(r)}`);
          }
          reply++;
          break;
        }
        case 'ack': {
          const r = expectReply('ack');
          const v = m.value;
          if (r.kind !== 'ack' || r.requestId !== v.requestId || r.change !== v.change) fail(`${where}: read ack for ${JSON.stringify(v.requestId)}, the model expects ${describeReply(r)}`);
          const want = r.ids.slice(progress, progress + v.subscriptionIds.length);
          if (v.subscriptionIds.length !== want.length || v.subscriptionIds.some((id, i) => id !== want[i])) {
            fail(`${where}: ack ${JSON.stringify(v.requestId)} names [${v.subscriptionIds.map(short)}], the model expects [${want.map(short)}] at ${progress}`);
          }
          if (errorsSeen) fail(`${where}: ack chunk after the chunk carrying the refusals`);
          progress += want.length;
          if (v.errors.length > 0 || v.errorsOmitted > 0 || progress === r.ids.length) {
            if (progress !== r.ids.length) fail(`${where}: refusals listed before the last chunk of ack ${JSON.stringify(v.requestId)}`);
            const codes = v.errors.map((e) => `${short(e.subscriptionId)}:${e.code}`);
            const expected = r.errors.map((e) => `${short(e.id)}:${e.code}`);
            if (codes.join() !== expected.join() || v.errorsOmitted !== r.omitted) {
              fail(`${where}: ack ${JSON.stringify(v.requestId)} refused [${codes}] (+${v.errorsOmitted}), the model expects [${expected}] (+${r.omitted})`);
            }
            errorsSeen = true;
          }
          for (const id of want) {
            if (r.change === SubscriptionAck_Change.CHANGE_ADDED) {
              const n = addedSeen.get(id) ?? 0;
              const gen = sink.gensById.get(id)?.[n];
              if (!gen) fail(`${where}: ADDED ack for ${short(id)} the model never registered`);
              addedSeen.set(id, n + 1);
              current.set(id, gen);
            } else {
              const gen = current.get(id);
              if (!gen) fail(`${where}: REMOVED ack for ${short(id)} that was not subscribed`);
              removedRead.add(gen);
              current.delete(id);
            }
          }
          finishReply(r, r.ids.length);
          break;
        }
        case 'gap': {
          const v = m.value;
          const r = sink.replies[reply];
          if (r?.kind === 'gap') {
            const want = r.ids.slice(progress, progress + v.subscriptionIds.length);
            if (v.subscriptionIds.some((id, i) => id !== want[i]) || v.subscriptionIds.length === 0) fail(`${where}: gap names [${v.subscriptionIds.map(short)}], expected [${want.map(short)}]`);
            if (v.requestedEpoch !== r.requestedEpoch || v.requestedAfterSequence !== r.requestedAfter || Number(v.firstAvailableSequence) !== r.firstAvailable || v.epoch !== this.epoch) {
              fail(`${where}: gap ${JSON.stringify({ ...v, subscriptionIds: v.subscriptionIds.length })} does not match the model ${JSON.stringify({ ...r, ids: r.ids.length })}`);
            }
            progress += want.length;
            finishReply(r, r.ids.length);
          } else {
            // A replay overtaken by retention: legitimate only for a resuming subscription, naming a real loss.
            const first = Number(v.firstAvailableSequence);
            if (first > this.firstRetained()) fail(`${where}: replay gap says history starts at ${first}, the model keeps from ${this.firstRetained()}`);
            if (first <= Number(v.requestedAfterSequence) + 1) fail(`${where}: replay gap from ${v.requestedAfterSequence} to ${first} loses nothing`);
            if (v.epoch !== this.epoch) fail(`${where}: replay gap in epoch ${v.epoch}`);
          }
          for (const id of v.subscriptionIds) {
            const gen = current.get(id);
            if (!gen) fail(`${where}: gap names ${short(id)}, which is not subscribed at that point of the stream`);
            if (gen.resume === 'none') fail(`${where}: gap for ${short(id)}, which did not resume`);
            const list = gaps.get(gen) ?? [];
            list.push(Number(v.firstAvailableSequence));
            gaps.set(gen, list);
          }
          break;
        }
        default:
          fail(`${where}: read an empty control message`);
      }
    }
    if (quiescent && (reply !== sink.replies.length || progress !== 0)) {
      fail(`${where}: a settled, reading consumer got ${reply} of ${sink.replies.length} replies; next owed: ${describeReply(sink.replies[reply])}`);
    }
    const firstRetained = this.firstRetained();
    const streamEnded = sink.state !== 'open' || stream.readerEnd !== undefined;
    for (const [id, gens] of sink.gensById) {
      gens.slice(0, addedSeen.get(id) ?? 0).forEach((gen) => {
        const got = received.get(gen) ?? [];
        const gotSet = new Set(got);
        const last = got[got.length - 1] ?? gen.startAfter;
        const end = gen.endHead ?? this.head;
        const strictTail =
          gen.endedBy === 'unsubscribe' ? gen.resume === 'none' && removedRead.has(gen) : !streamEnded && gen.endedBy === undefined && quiescent;
        const gapFirsts = gaps.get(gen) ?? [];
        for (const e of this.events) {
          if (e.sequence <= gen.startAfter || e.sequence > end || gotSet.has(e.sequence) || !matches(gen, e)) continue;
          if (e.sequence > last && !strictTail) continue;
          const explained = e.sequence < firstRetained && gapFirsts.some((f) => f > e.sequence);
          if (!explained) {
            fail(
              `${where}: ${short(id)} (${gen.tokens.join('.')}, ${gen.resume}, after ${gen.startAfter}${gen.endedBy ? `, ended by ${gen.endedBy} at ${end}` : ''}) ` +
                `never got event ${e.sequence} (${e.topic}); got [${got}], gaps from [${gapFirsts}], history from ${firstRetained}`,
            );
          }
        }
      });
    }
    sink.verified = fingerprint;
  }

  private keyOf(sinkId: string): string {
    return String(this.sessions.find((s) => s.sink?.id === sinkId)?.key ?? '?');
  }

  private stateOf(sinkId: string): string {
    return this.sessions.find((s) => s.sink?.id === sinkId)?.sink?.state ?? 'unknown';
  }
}

const FINAL_STATUS: Record<CloseReason, number> = {
  'slow-consumer': status.RESOURCE_EXHAUSTED,
  'protocol-error': status.FAILED_PRECONDITION,
  evicted: status.OK,
  shutdown: status.OK,
  'client-closed': status.OK,
  crashed: status.OK,
  'keepalive-timeout': status.OK,
  'connection-lost': status.OK,
};

/** Refusals echo an id cut to the id limit (whole characters). */
function truncate(value: string, maxBytes: number): string {
  if (Buffer.byteLength(value, 'utf8') <= maxBytes) return value;
  if (/^[\x00-\x7f]*$/.test(value)) return value.slice(0, maxBytes);
  let out = '';
  for (const ch of value) {
    if (Buffer.byteLength(out + ch, 'utf8') > maxBytes) break;
    out += ch;
  }
  return out;
}

export function matches(gen: Generation, event: ModelEvent): boolean {
  if (!patternMatches(gen.tokens, event.tokens)) return false;
  return gen.attributes.every(([k, v]) => (k === 'type' ? event.type : k === 'source' ? event.source : undefined) === v);
}

/** Long ids of the 'split' profile, shortened for messages. */
export function short(id: string): string {
  return id.length > 12 ? `${id.slice(0, 2)}…(${id.length})` : JSON.stringify(id);
}

function describeEnd(end: { kind: string; code?: number; closing?: string }): string {
  return end.kind === 'finish' ? `finish(${status[end.code ?? 0]}${end.closing ? `, after closing ${end.closing}` : ''})` : end.kind;
}

function describeReply(r: Reply | undefined): string {
  if (!r) return 'nothing';
  if (r.kind === 'ack') return `ack ${JSON.stringify(r.requestId)} ${SubscriptionAck_Change[r.change]} [${r.ids.map(short)}]`;
  if (r.kind === 'error') return `error ${status[r.code]} for ${JSON.stringify(r.requestId)}`;
  if (r.kind === 'gap') return `gap for [${r.ids.map(short)}] from ${r.firstAvailable}`;
  return r.kind;
}

export { validTopic };
