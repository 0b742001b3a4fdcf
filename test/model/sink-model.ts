import { status } from '@grpc/grpc-js';
import { ALL_CLOSE_REASONS, type CloseReason } from '../../shared/close-reason';
import { Event } from '../../shared/gen/tether/v1/event';
import type { OpenSinkRequest } from '../../shared/gen/tether/v1/sink';
import type { ProviderConfig } from '../../services/provider/provider-config';
import { note } from './coverage';
import { verifyModel } from './model-checks';
import { modelSubscribe, modelUnsubscribe } from './model-requests';
import { deliverySize, fieldSize, validName } from './model-rules';
import { type ExpectedReclaim, type ModelEvent, type ModelSession, type ModelSink, fail, matches } from './model-types';
import type { World } from './world';

export { ModelViolation, type ModelSession } from './model-types';

/** The smallest receive limit the protocol promises to honour (sink.proto: an event plus one id fit). */
export function modelMinReceive(c: ProviderConfig): number {
  return Math.max(c.maxEventBytes + c.maxSubscriptionIdBytes + 64, 64 * 1024);
}
const DEFAULT_RECEIVE = 4 * 1024 * 1024;

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
  readonly expectedReclaims = new Map<string, ExpectedReclaim>();
  readonly reclaimedSinks = new Map<CloseReason, number>(ALL_CLOSE_REASONS.map((r) => [r, 0]));
  readonly reclaimedSubs = new Map<CloseReason, number>(ALL_CLOSE_REASONS.map((r) => [r, 0]));
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
        return modelSubscribe(this, sink, kind.value);
      case 'unsubscribe':
        if (!sink) return this.refuse(s, status.FAILED_PRECONDITION);
        return modelUnsubscribe(this, sink, kind.value);
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
  publish(events: readonly Event[]): Map<number, { must: boolean; may: boolean }> {
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

  /** Compares the provider with the model; throws a ModelViolation naming the first difference. */
  verify(world: World, settled: boolean): void {
    verifyModel(this, world, settled);
  }
}

const FINAL_STATUS: Record<CloseReason, number> = {
  'replica-lost': status.UNAVAILABLE,
  'slow-consumer': status.RESOURCE_EXHAUSTED,
  'protocol-error': status.FAILED_PRECONDITION,
  evicted: status.OK,
  shutdown: status.OK,
  'client-closed': status.OK,
  crashed: status.OK,
  'keepalive-timeout': status.OK,
  'connection-lost': status.OK,
  'credentials-expired': status.UNAUTHENTICATED,
  revoked: status.UNAUTHENTICATED,
};
