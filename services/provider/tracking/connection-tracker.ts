import { randomUUID } from 'node:crypto';
import { ALL_CLOSE_REASONS, type CloseReason } from '../../../shared/close-reason';
import { TetherError } from '../../../shared/errors';
import type { Logger } from '../../../shared/logger';
import type { ProviderConfig } from '../provider-config';
import type { ProviderMetrics } from '../provider-metrics';
import { LatencyWindow, type Reclaim } from './reclaim-record';
import type { Scheduler } from '../scheduler';
import type { ReplaySource } from '../sinks/replay-cursor';
import { Sink, type SinkLimits } from '../sinks/sink';
import type { SinkStream } from '../sinks/sink-stream';
import type { SubscriptionRegistry } from '../subscriptions/subscription-registry';
import type { LivenessProbe } from './liveness-probe';
import type { Audit } from '../security/audit';
import { ANONYMOUS, type Identity } from '../security/identity';

type ReclaimListener = (record: Reclaim) => void;
type EndListener = () => void;

/** What the tracker keeps per identity for quotas: open sinks and their subscriptions. */
export interface SinkAccounting {
  /** Counts a new sink of the caller, or throws RESOURCE_EXHAUSTED over its quota. */
  openSink(caller: Identity): void;
  closeSink(subject: string): void;
  subscriptionsChanged(subject: string, delta: number): void;
}

export interface TrackerSecurity {
  readonly accounting: SinkAccounting;
  /** Evictions, revocations and expiries are audited when set. */
  readonly audit?: Audit;
}

const NO_SECURITY: TrackerSecurity = {
  accounting: { openSink: () => undefined, closeSink: () => undefined, subscriptionsChanged: () => undefined },
};

/**
 * Knows every open sink and reclaims each one, with all of its subscriptions, the moment its channel is
 * known to be broken. Stream events drive most closes; one sweep timer for all sinks samples socket
 * reads (keepalive answers count as life), closes sinks stuck on flow control and sends idle heartbeats.
 */
export class ConnectionTracker {
  private readonly sinks = new Map<string, Sink>();
  private readonly reclaimedSinks = new Map<CloseReason, number>(ALL_CLOSE_REASONS.map((r) => [r, 0]));
  private readonly reclaimedSubscriptions = new Map<CloseReason, number>(ALL_CLOSE_REASONS.map((r) => [r, 0]));
  private readonly latencies: LatencyWindow;
  private readonly listeners = new Map<ReclaimListener, EndListener>();
  /** Parts of the provider that see every record (the fleet publishes them): not watchers, not bounded by them. */
  private readonly observers: ReclaimListener[] = [];
  /** Sinks closed when this replica fenced itself, not yet reported: see `takeFenced`. */
  private fenced: Reclaim[] = [];
  private cancelSweep: (() => void) | undefined;

  constructor(
    private readonly config: ProviderConfig,
    private readonly registry: SubscriptionRegistry,
    private readonly probe: LivenessProbe,
    private readonly metrics: ProviderMetrics,
    private readonly log: Logger,
    private readonly scheduler: Scheduler,
    private readonly replaySource: ReplaySource,
    private readonly security: TrackerSecurity = NO_SECURITY,
  ) {
    this.latencies = new LatencyWindow(config.latencyWindow);
  }

  get liveSinks(): number {
    return this.sinks.size;
  }

  get liveSubscriptions(): number {
    return this.registry.liveCount;
  }

  /** Counts sinks opened and closed, so the fleet can tell cheaply whether its sink table changed. */
  changes = 0;

  get watcherCount(): number {
    return this.listeners.size;
  }

  /** Registers a new sink on a stream; refuses past the sink limit and past the caller's sink quota. */
  open(stream: SinkStream, consumerName: string, peer: string, maxMessageBytes: number, caller: Identity = ANONYMOUS): Sink {
    if (this.sinks.size >= this.config.maxSinks) {
      throw TetherError.exhausted(`the provider holds ${this.sinks.size} sinks; the limit is ${this.config.maxSinks}`);
    }
    const { accounting } = this.security;
    accounting.openSink(caller);
    const limits: SinkLimits = {
      maxEvents: this.config.sinkQueueMaxEvents,
      maxBytes: this.config.sinkQueueMaxBytes,
      batchMaxEvents: this.config.batchMaxEvents,
      batchMaxBytes: this.config.batchMaxBytes,
      maxMessageBytes,
      maxControlReplies: this.config.sinkControlQueueMax,
      replayScanPerTurn: this.config.replayScanPerTurn,
    };
    const subject = caller.subject;
    const sink = new Sink(
      { id: randomUUID(), consumerName, peer, caller },
      stream,
      limits,
      {
        add: (sub) => {
          this.registry.add(sub);
          accounting.subscriptionsChanged(subject, 1);
        },
        remove: (sub) => {
          this.registry.remove(sub);
          accounting.subscriptionsChanged(subject, -1);
        },
        retire: (subs) => {
          this.registry.retire(subs);
          accounting.subscriptionsChanged(subject, -subs.length);
        },
        closed: (s, reason, count, detectedAt) => this.onClosed(s, reason, count, detectedAt),
      },
      this.scheduler,
      this.replaySource,
    );
    this.sinks.set(sink.id, sink);
    this.changes++;
    return sink;
  }

  get(sinkId: string): Sink | undefined {
    return this.sinks.get(sinkId);
  }

  list(): Sink[] {
    return [...this.sinks.values()];
  }

  /** An operator (`by`, empty without authentication) closes one sink. */
  evict(sinkId: string, message: string, by = ''): number {
    const sink = this.sinks.get(sinkId);
    if (!sink) throw TetherError.notFound(`no open sink ${sinkId}`);
    const count = sink.subscriptionCount;
    this.security.audit?.record('evicted', { subject: sink.identity.caller.subject, by, sinkId, consumer: sink.identity.consumerName, reason: message || 'evicted by an operator' });
    sink.close('evicted', this.scheduler.now(), { message: message || 'evicted by an operator' });
    return count;
  }

  /**
   * Closes every sink of a subject at once, each through its one close path (revocation). Returns how
   * many sinks and subscriptions were reclaimed, and the latest credential expiry among them.
   */
  closeSubject(subject: string, reason: 'revoked', message: string): { sinks: number; subscriptions: number; latestExpiry: number } {
    const now = this.scheduler.now();
    let sinks = 0;
    let subscriptions = 0;
    let latestExpiry = Number.NEGATIVE_INFINITY;
    for (const sink of [...this.sinks.values()]) {
      if (sink.identity.caller.via === 'none' || sink.identity.caller.subject !== subject) continue;
      sinks++;
      subscriptions += sink.subscriptionCount;
      latestExpiry = Math.max(latestExpiry, sink.identity.caller.expiresAt);
      sink.close(reason, now, { message });
    }
    return { sinks, subscriptions, latestExpiry };
  }

  /** The latest credential expiry among a subject's open sinks (to size a revocation). */
  latestExpiry(subject: string): number {
    let latest = Number.NEGATIVE_INFINITY;
    for (const sink of this.sinks.values()) if (sink.identity.caller.subject === subject) latest = Math.max(latest, sink.identity.caller.expiresAt);
    return latest;
  }

  closeAll(reason: CloseReason): void {
    for (const sink of [...this.sinks.values()]) sink.close(reason);
  }

  /** Subscribes to reclaim records until the returned function is called or `endWatchers` runs. */
  onReclaim(listener: ReclaimListener, onEnd: EndListener): () => void {
    if (this.listeners.size >= this.config.maxReclaimWatchers) {
      throw TetherError.exhausted(`${this.listeners.size} reclaim watchers are open; the limit is ${this.config.maxReclaimWatchers}`);
    }
    this.listeners.set(listener, onEnd);
    return () => this.listeners.delete(listener);
  }

  /** Sees every reclaim record this replica makes, for as long as the provider runs. */
  observe(listener: ReclaimListener): void {
    this.observers.push(listener);
  }

  /** Ends every reclaim watcher (on shutdown). */
  endWatchers(): void {
    const ends = [...this.listeners.values()];
    this.listeners.clear();
    for (const end of ends) end();
  }

  totals() {
    return {
      liveSinks: this.sinks.size,
      liveSubscriptions: this.registry.liveCount,
      reclaimedSinks: Object.fromEntries(this.reclaimedSinks) as Record<CloseReason, number>,
      reclaimedSubscriptions: Object.fromEntries(this.reclaimedSubscriptions) as Record<CloseReason, number>,
      detectionLatency: this.latencies.summary(),
    };
  }

  start(): void {
    this.stop();
    const tick = () => {
      this.sweep(this.scheduler.now());
      this.cancelSweep = this.scheduler.after(this.config.livenessSweepMs, tick);
    };
    this.cancelSweep = this.scheduler.after(this.config.livenessSweepMs, tick);
  }

  stop(): void {
    this.cancelSweep?.();
    this.cancelSweep = undefined;
  }

  /**
   * One pass over every sink: bytes read on its connection count as life; a sink blocked on flow control
   * past the drain timeout is closed as a slow consumer (its stream alone is reset); an idle one gets a
   * heartbeat. Public so tests can drive it with their own clock.
   */
  sweep(now: number): void {
    for (const sink of [...this.sinks.values()]) {
      const caller = sink.identity.caller;
      if (caller.expiresAt <= now) {
        const message = `the ${caller.via === 'token' ? 'token' : 'client certificate'} of ${caller.subject} expired at ${new Date(caller.expiresAt).toISOString()}`;
        this.security.audit?.record('credentials-expired', { subject: caller.subject, sinkId: sink.id, consumer: sink.identity.consumerName, reason: message });
        sink.close('credentials-expired', now, { message });
        continue;
      }
      const read = this.probe.bytesRead(sink.identity.peer);
      if (read !== sink.lastBytesRead) {
        sink.lastBytesRead = read;
        sink.touch(now);
      }
      if (sink.blockedSince !== null && now - sink.blockedSince > this.config.sinkDrainTimeoutMs) {
        sink.close('slow-consumer', now, { message: `no drain progress for ${this.config.sinkDrainTimeoutMs} ms` });
      } else if (now - sink.lastWriteAt >= this.config.heartbeatMs) {
        sink.heartbeat();
      }
    }
  }

  /**
   * The sinks closed as replica-lost when this replica fenced itself. They are reported (counted,
   * announced) only by whoever claims the lost incarnation of this replica: this replica if it gets back
   * to NATS first, another otherwise, so each is reported once across the fleet.
   */
  takeFenced(): Reclaim[] {
    const out = this.fenced;
    this.fenced = [];
    return out;
  }

  /** Records a reclaim this replica reports for the fleet (a lost replica's sink, or its own fenced ones). */
  report(record: Reclaim): void {
    this.reclaimedSinks.set(record.reason, (this.reclaimedSinks.get(record.reason) ?? 0) + 1);
    this.reclaimedSubscriptions.set(record.reason, (this.reclaimedSubscriptions.get(record.reason) ?? 0) + record.subscriptionCount);
    this.latencies.add(record.sinceLastActivityMs);
    this.metrics.recordReclaim(record.reason, record.subscriptionCount, record.sinceLastActivityMs);
    this.log.info(
      { sinkId: record.sinkId, consumer: record.consumerName, replica: record.replicaId, reason: record.reason, subscriptions: record.subscriptionCount },
      'sink reclaimed',
    );
    this.announce(record);
  }

  private onClosed(sink: Sink, reason: CloseReason, subscriptionCount: number, detectedAt: number): void {
    this.sinks.delete(sink.id);
    this.changes++;
    this.security.accounting.closeSink(sink.identity.caller.subject);
    const record: Reclaim = {
      replicaId: this.config.replicaId,
      sinkId: sink.id,
      subject: sink.identity.caller.subject,
      consumerName: sink.identity.consumerName,
      peer: sink.identity.peer,
      subscriptionCount,
      reason,
      detectedAt,
      sinceLastActivityMs: Math.max(0, detectedAt - sink.lastActivity),
      sinkAgeMs: detectedAt - sink.openedAt,
    };
    if (reason === 'replica-lost') {
      this.log.warn({ sinkId: record.sinkId, consumer: record.consumerName, subscriptions: subscriptionCount }, 'sink closed: this replica is cut off from the shared log');
      if (this.fenced.length < this.config.maxSinks) this.fenced.push(record);
      return;
    }
    this.reclaimedSinks.set(reason, (this.reclaimedSinks.get(reason) ?? 0) + 1);
    this.reclaimedSubscriptions.set(reason, (this.reclaimedSubscriptions.get(reason) ?? 0) + subscriptionCount);
    this.latencies.add(record.sinceLastActivityMs);
    this.metrics.recordReclaim(reason, subscriptionCount, record.sinceLastActivityMs);
    this.log.info(
      {
        sinkId: record.sinkId,
        subject: record.subject,
        consumer: record.consumerName,
        peer: record.peer,
        reason,
        subscriptions: subscriptionCount,
        sinceLastActivityMs: record.sinceLastActivityMs,
        reclaimMs: this.scheduler.now() - detectedAt,
      },
      'sink reclaimed',
    );
    this.announce(record);
  }

  private announce(record: Reclaim): void {
    for (const listener of [...this.observers, ...this.listeners.keys()]) {
      // A listener that throws must not break the close path it is called from.
      try {
        listener(record);
      } catch (err) {
        this.log.error({ err, sinkId: record.sinkId }, 'reclaim listener failed');
      }
    }
  }
}
