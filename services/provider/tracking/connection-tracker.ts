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

type ReclaimListener = (record: Reclaim) => void;
type EndListener = () => void;

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

  /** Registers a new sink on a stream; refuses past the sink limit. */
  open(stream: SinkStream, consumerName: string, peer: string, maxMessageBytes: number): Sink {
    if (this.sinks.size >= this.config.maxSinks) {
      throw TetherError.exhausted(`the provider holds ${this.sinks.size} sinks; the limit is ${this.config.maxSinks}`);
    }
    const limits: SinkLimits = {
      maxEvents: this.config.sinkQueueMaxEvents,
      maxBytes: this.config.sinkQueueMaxBytes,
      batchMaxEvents: this.config.batchMaxEvents,
      batchMaxBytes: this.config.batchMaxBytes,
      maxMessageBytes,
      maxControlReplies: this.config.sinkControlQueueMax,
      replayScanPerTurn: this.config.replayScanPerTurn,
    };
    const sink = new Sink(
      { id: randomUUID(), consumerName, peer },
      stream,
      limits,
      {
        add: (sub) => this.registry.add(sub),
        remove: (sub) => this.registry.remove(sub),
        retire: (subs) => this.registry.retire(subs),
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

  evict(sinkId: string, message: string): number {
    const sink = this.sinks.get(sinkId);
    if (!sink) throw TetherError.notFound(`no open sink ${sinkId}`);
    const count = sink.subscriptionCount;
    sink.close('evicted', this.scheduler.now(), { message: message || 'evicted by an operator' });
    return count;
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
    const record: Reclaim = {
      replicaId: this.config.replicaId,
      sinkId: sink.id,
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
