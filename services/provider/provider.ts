import { ReflectionService } from '@grpc/reflection';
import type { NatsConnection } from '@nats-io/nats-core';
import type { ServingStatus } from 'grpc-health-check';
import { PublisherServiceService } from '../../shared/gen/tether/v1/publisher';
import { ConnectionTrackerServiceService } from '../../shared/gen/tether/v1/tracker';
import { HttpEndpoint } from '../../shared/http-endpoint';
import type { Logger } from '../../shared/logger';
import { loadReflectionDefinition } from '../../shared/proto-files';
import { EventHistory } from './events/event-history';
import { EventRouter } from './events/event-router';
import type { EventLog } from './log/event-log';
import { JetStreamEventLog } from './log/jetstream-event-log';
import { MemoryEventLog } from './log/memory-event-log';
import { NatsLink } from './log/nats-link';
import { PublisherHandlers } from './events/publisher-service';
import type { ProviderConfig } from './provider-config';
import { ProviderMetrics } from './provider-metrics';
import { type Scheduler, realScheduler } from './scheduler';
import { SinkRequests } from './sinks/sink-requests';
import { createSinkHandler } from './sinks/sink-service';
import { sinkServiceDefinition } from './sinks/sink-wire';
import { SubscriptionRegistry } from './subscriptions/subscription-registry';
import { ConnectionTracker } from './tracking/connection-tracker';
import type { FleetView } from './tracking/fleet-view';
import { NatsFleet } from './tracking/nats-fleet';
import { SocketOwner } from './tracking/socket-owner';
import { SoloFleet } from './tracking/solo-fleet';
import { createTrackerHandlers } from './tracking/tracker-service';
import { HealthService } from './transport/health-service';
import { TolerantServer } from './transport/undecodable';

export const SERVICE_NAMES = ['tether.v1.SinkService', 'tether.v1.PublisherService', 'tether.v1.ConnectionTrackerService'];

/** Methods that answer an undecodable request themselves (a sink closes as protocol-error). */
const HANDLE_UNDECODABLE = new Set(['/tether.v1.SinkService/OpenSink']);

/**
 * The event provider, and the one place its parts are wired: registry, history, router, tracker and the
 * gRPC server whose sockets it owns. Health says NOT_SERVING until `start` has finished and again from
 * the first moment of `stop`.
 */
export class Provider {
  readonly registry: SubscriptionRegistry;
  readonly history: EventHistory;
  readonly eventLog: EventLog;
  readonly router: EventRouter;
  readonly tracker: ConnectionTracker;
  readonly metrics: ProviderMetrics;
  readonly sockets: SocketOwner;
  readonly fleet: FleetView;
  private readonly server: TolerantServer;
  private readonly health: HealthService;
  private readonly publishers: PublisherHandlers;
  private readonly metricsEndpoint: HttpEndpoint;
  private accepting = false;
  private stopping: Promise<void> | undefined;
  private cancelHistorySweep: (() => void) | undefined;
  port = 0;
  metricsPort = -1;

  constructor(
    readonly config: ProviderConfig,
    private readonly log: Logger,
    private readonly scheduler: Scheduler = realScheduler,
  ) {
    this.registry = new SubscriptionRegistry(config.purgeChunk);
    this.history = new EventHistory(config, () => scheduler.now());
    const link = config.eventLog === 'jetstream' ? new NatsLink(config, log) : undefined;
    this.eventLog = link ? new JetStreamEventLog(config, link, this.history, log) : new MemoryEventLog(this.history);
    this.metrics = new ProviderMetrics({
      liveSinks: () => this.tracker.liveSinks,
      liveSubscriptions: () => this.registry.liveCount,
      queueDepths: () => this.tracker.list().map((s) => s.queueDepth),
      historySize: () => this.eventLog.cachedEvents,
      headSequence: () => this.router.headSequence,
      reclaimWatchers: () => this.tracker.watcherCount,
    });
    this.router = new EventRouter(config, this.registry, this.eventLog, this.metrics);
    this.router.onLogGap = (firstMissing, firstAvailable) => {
      for (const sink of this.tracker.list()) sink.logGap(firstMissing, firstAvailable);
    };
    this.server = new TolerantServer(
      {
        'grpc.keepalive_time_ms': config.keepaliveTimeMs,
        'grpc.keepalive_timeout_ms': config.keepaliveTimeoutMs,
        'grpc.max_receive_message_length': config.maxMessageBytes,
        'grpc.max_concurrent_streams': config.maxStreamsPerConnection,
      },
      HANDLE_UNDECODABLE,
    );
    this.sockets = new SocketOwner(this.server, config.maxConnections);
    this.tracker = new ConnectionTracker(config, this.registry, this.sockets, this.metrics, log, scheduler, this.router);
    const fleet = link ? new NatsFleet(config, this.tracker, () => link.nc as NatsConnection, log) : undefined;
    this.fleet = fleet ?? new SoloFleet();
    // A fenced replica (cut off from the shared log) takes no new sinks: its consumers go elsewhere.
    const accepting = () => this.accepting && !fleet?.fenced;
    const requests = new SinkRequests(config, log, this.router, this.eventLog.kind === 'jetstream' ? config.resumeCatchUpMs : 0);
    this.server.addService(sinkServiceDefinition, {
      openSink: createSinkHandler({ config, tracker: this.tracker, requests, source: this.router, sockets: this.sockets, scheduler, log, accepting }),
    });
    this.publishers = new PublisherHandlers(this.router, this.metrics, log, accepting, scheduler, config.openTimeoutMs, config.publishStreamMaxPending);
    this.server.addService(PublisherServiceService, { publish: this.publishers.publish, publishStream: this.publishers.publishStream });
    this.server.addService(ConnectionTrackerServiceService, createTrackerHandlers(this.tracker, this.router, this.fleet, config, log));
    this.health = new HealthService({ '': 'NOT_SERVING' }, config.maxHealthWatchers);
    this.health.addToServer(this.server);
    new ReflectionService(loadReflectionDefinition()).addToServer(this.server);
    this.metricsEndpoint = new HttpEndpoint({
      '/metrics': async () => ({ type: this.metrics.registry.contentType, body: await this.metrics.registry.metrics() }),
    });
  }

  async start(): Promise<void> {
    await this.eventLog.start();
    await this.fleet.start();
    // Publishing needs the log's server; everything else goes on while it is away.
    this.eventLog.onWritableChange((writable) => {
      if (this.accepting) this.health.setStatus('tether.v1.PublisherService', writable ? 'SERVING' : 'NOT_SERVING');
    });
    this.port = await this.sockets.listen(this.config.host, this.config.port);
    this.metricsPort = await this.metricsEndpoint.listen(this.config.host, this.config.metricsPort);
    this.tracker.start();
    this.sweepHistory();
    this.accepting = true;
    this.setHealth('SERVING');
    if (!this.eventLog.writable) this.health.setStatus('tether.v1.PublisherService', 'NOT_SERVING');
    this.log.info({ port: this.port, metricsPort: this.metricsPort, eventLog: this.eventLog.kind, replica: this.config.replicaId, epoch: this.router.epoch }, 'provider serving');
  }

  /**
   * Drains: NOT_SERVING, refuse new sinks and events, tell every consumer it is going away and end its
   * stream, end every other stream (reclaim and health watches, publish streams), then force-close
   * whatever is still open after the grace period. Idempotent.
   */
  stop(graceMs = this.config.shutdownGraceMs): Promise<void> {
    this.stopping ??= this.drain(graceMs);
    return this.stopping;
  }

  private async drain(graceMs: number): Promise<void> {
    this.accepting = false;
    this.setHealth('NOT_SERVING');
    this.log.info({ sinks: this.tracker.liveSinks, graceMs }, 'provider draining');
    this.cancelHistorySweep?.();
    this.tracker.closeAll('shutdown');
    await this.fleet.stop().catch((err: unknown) => this.log.warn({ err }, 'leaving the fleet failed'));
    this.tracker.endWatchers();
    this.publishers.endStreams();
    this.health.endWatches();
    this.tracker.stop();
    const closed = new Promise<boolean>((resolve) => this.server.tryShutdown(() => resolve(true)));
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), graceMs);
    });
    const clean = await Promise.race([closed, graceOver]);
    clearTimeout(timer);
    if (!clean) {
      this.log.warn('grace period over: forcing the remaining connections closed');
      this.server.forceShutdown();
    }
    await Promise.all([this.sockets.close(true), this.metricsEndpoint.close(), this.eventLog.stop()]);
    this.log.info({ clean }, 'provider stopped');
  }

  /** Expired events leave the history even when nothing is published or read. */
  private sweepHistory(): void {
    this.eventLog.evictExpired(this.scheduler.now());
    this.cancelHistorySweep = this.scheduler.after(Math.max(this.config.livenessSweepMs, 1_000), () => this.sweepHistory());
  }

  private setHealth(status: ServingStatus): void {
    this.health.setStatus('', status);
    for (const name of SERVICE_NAMES) this.health.setStatus(name, status);
  }
}
