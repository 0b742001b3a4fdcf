import pino from 'pino';
import type { CloseReason } from '../../shared/close-reason';
import type { Logger } from '../../shared/logger';
import { EventHistory } from '../../services/provider/events/event-history';
import { MemoryEventLog } from '../../services/provider/log/memory-event-log';
import { EventRouter } from '../../services/provider/events/event-router';
import type { ProviderConfig } from '../../services/provider/provider-config';
import type { ProviderMetrics } from '../../services/provider/provider-metrics';
import { SinkRequests } from '../../services/provider/sinks/sink-requests';
import { SinkSession } from '../../services/provider/sinks/sink-session';
import { SubscriptionRegistry } from '../../services/provider/subscriptions/subscription-registry';
import { ConnectionTracker } from '../../services/provider/tracking/connection-tracker';
import type { Reclaim } from '../../services/provider/tracking/reclaim-record';
import { FakeLivenessProbe } from './fake-liveness-probe';
import { FakeSinkStream } from './fake-sink-stream';
import { ManualScheduler, type TaskLabel } from './manual-scheduler';

/** What classify answers for a session: a reason, or a failure; at once, or when the test settles it. */
export interface ClassifyPlan {
  outcome: CloseReason | 'reject';
  hold: boolean;
}

/** One OpenSink stream: the provider's session over a fake stream with a test-driven consumer. */
export interface WorldSession {
  readonly key: number;
  readonly peer: string;
  readonly stream: FakeSinkStream;
  readonly session: SinkSession;
  classify: ClassifyPlan;
}

/** Told of each consumer action just before the provider sees it, so the model can apply it too. */
export interface ConsumerObserver {
  request(key: number, message: unknown): void;
  halfClose(key: number): void;
  cancel(key: number): void;
}

export const sessionOwner = (key: number): string => `s${key}`;

const silent: Logger = pino({ level: 'silent' });

/**
 * The provider's own objects wired as services/provider/provider.ts wires them (registry, history,
 * router, tracker with its sweep, the periodic history sweep, SinkRequests, one SinkSession per stream),
 * with a manual scheduler, fake streams and a fake liveness probe in place of grpc-js and sockets.
 */
export class World {
  readonly scheduler: ManualScheduler;
  readonly probe = new FakeLivenessProbe();
  readonly registry: SubscriptionRegistry;
  readonly history: EventHistory;
  readonly router: EventRouter;
  readonly tracker: ConnectionTracker;
  private readonly requests: SinkRequests;
  readonly sessions: WorldSession[] = [];
  readonly reclaims: Reclaim[] = [];
  readonly classifyCalls: Array<{ key: number; halfClosed: boolean }> = [];
  private held: Array<() => void> = [];
  accepting = true;
  private cancelHistorySweep: (() => void) | undefined;
  private readonly stopWatching: () => void;

  constructor(
    readonly config: ProviderConfig,
    metrics: ProviderMetrics,
    start: number,
    private readonly observer: ConsumerObserver,
  ) {
    this.scheduler = new ManualScheduler(start);
    const scheduler = this.scheduler;
    this.registry = new SubscriptionRegistry(config.purgeChunk);
    this.history = new EventHistory(config, () => scheduler.now());
    this.router = new EventRouter(config, this.registry, new MemoryEventLog(this.history), metrics);
    this.tracker = new ConnectionTracker(config, this.registry, this.probe, metrics, silent, scheduler, this.router);
    this.requests = new SinkRequests(config, silent, this.router);
    this.stopWatching = this.tracker.onReclaim(
      (record) => this.reclaims.push(record),
      () => {},
    );
    scheduler.within({ owner: 'tracker', kind: 'sweep' }, () => this.tracker.start());
    scheduler.within({ owner: 'history', kind: 'history-sweep' }, () => this.sweepHistory());
  }

  /** A new OpenSink stream from `peer`; its consumer has sent nothing yet. */
  openStream(peer: string, receiveLimit: number): WorldSession {
    const key = this.sessions.length;
    const owner = sessionOwner(key);
    const stream = new FakeSinkStream(owner, this.scheduler, receiveLimit);
    const deps = {
      config: this.config,
      tracker: this.tracker,
      requests: this.requests,
      source: this.router,
      scheduler: this.scheduler,
      log: silent,
      accepting: () => this.accepting,
    };
    const ws: WorldSession = {
      key,
      peer,
      stream,
      classify: { outcome: 'client-closed', hold: false },
      session: undefined as unknown as SinkSession,
    };
    const classify = (halfClosed: boolean): Promise<CloseReason> => {
      this.classifyCalls.push({ key, halfClosed });
      const { outcome, hold } = ws.classify;
      const answer = (resolve: (r: CloseReason) => void, reject: (e: Error) => void) =>
        outcome === 'reject' ? reject(new Error('classification failed')) : resolve(outcome);
      if (!hold) return new Promise(answer);
      return new Promise((resolve, reject) => this.held.push(() => answer(resolve, reject)));
    };
    const label = (kind: string): TaskLabel => ({ owner, kind });
    (ws as { session: SinkSession }).session = this.scheduler.within(label('open-timeout'), () => new SinkSession(deps, stream, peer, classify));
    stream.attach({
      request: (message) => {
        this.observer.request(key, message);
        this.scheduler.within(label('request'), () => ws.session.onMessage(message));
      },
      halfClose: () => {
        this.observer.halfClose(key);
        this.scheduler.within(label('classify'), () => ws.session.onHalfClose(stream.clientCancelled, () => stream.clientCancelled));
      },
      cancel: () => {
        this.observer.cancel(key);
        this.scheduler.within(label('cancel'), () => ws.session.onCancel());
      },
    });
    this.sessions.push(ws);
    return ws;
  }

  /** Answers every classification held so far. */
  releaseClassifications(): number {
    const held = this.held;
    this.held = [];
    for (const answer of held) answer();
    return held.length;
  }

  get heldClassifications(): number {
    return this.held.length;
  }

  /** The provider's drain, minus the gRPC server: refuse new sinks, close every sink, stop the timers. */
  shutdown(stopAccepting: boolean): void {
    if (stopAccepting) {
      this.accepting = false;
      this.cancelHistorySweep?.();
      this.cancelHistorySweep = undefined;
    }
    this.tracker.closeAll('shutdown');
    if (stopAccepting) this.tracker.stop();
  }

  get running(): boolean {
    return this.cancelHistorySweep !== undefined;
  }

  /** Promise continuations (classifications and their closes), then deferred work, until both are done. */
  async settle(runDeferred = true): Promise<void> {
    for (let round = 0; ; round++) {
      for (let i = 0; i < 6; i++) await Promise.resolve();
      if (!runDeferred || this.scheduler.deferredCount === 0) break;
      if (round > 1_000) throw new Error('deferred work keeps scheduling more deferred work');
      this.scheduler.runDeferred();
    }
    await this.registry.whenPurged();
  }

  dispose(): void {
    this.stopWatching();
    this.tracker.stop();
    this.cancelHistorySweep?.();
  }

  private sweepHistory(): void {
    this.history.evictExpired(this.scheduler.now());
    this.cancelHistorySweep = this.scheduler.after(Math.max(this.config.livenessSweepMs, 1_000), () => this.sweepHistory());
  }
}
