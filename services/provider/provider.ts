import { ReflectionService } from '@grpc/reflection';
import type { NatsConnection } from '@nats-io/nats-core';
import type { ServingStatus } from 'grpc-health-check';
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
import { publisherServiceDefinition } from './events/publish-wire';
import { type ProviderConfig, authConfigured, listenHost } from './provider-config';
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
import { GuardedServer } from './security/guarded-server';
import { ProviderSecurity } from './security/provider-security';
import { SubjectRevoker } from './security/subject-revoker';
import { HealthService } from './transport/health-service';

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
  readonly security: ProviderSecurity;
  private readonly server: GuardedServer;
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
    const security = new ProviderSecurity(config, log, this.metrics.registry, scheduler);
    this.security = security;
    this.server = new GuardedServer(
      {
        'grpc.keepalive_time_ms': config.keepaliveTimeMs,
        'grpc.keepalive_timeout_ms': config.keepaliveTimeoutMs,
        'grpc.max_receive_message_length': config.maxMessageBytes,
        'grpc.max_concurrent_streams': config.maxStreamsPerConnection,
      },
      HANDLE_UNDECODABLE,
      security.guard,
    );
    this.sockets = new SocketOwner(this.server, config.maxConnections, security.tls);
    this.tracker = new ConnectionTracker(config, this.registry, this.sockets, this.metrics, log, scheduler, this.router, {
      accounting: security.quotas,
      audit: security.audit,
    });
    const fleet = link ? new NatsFleet(config, this.tracker, () => link.nc as NatsConnection, log) : undefined;
    this.fleet = fleet ?? new SoloFleet();
    // A fenced replica (cut off from the shared log) takes no new sinks: its consumers go elsewhere.
    const accepting = () => this.accepting && !fleet?.fenced;
    const callerOf = (call: object) => security.guard.identity(call);
    const catchUpMs = this.eventLog.kind === 'jetstream' ? config.resumeCatchUpMs : 0;
    const requests = new SinkRequests(config, log, this.router, catchUpMs, security.quotas, security.audit);
    this.server.addService(sinkServiceDefinition, {
      openSink: createSinkHandler({ config, tracker: this.tracker, requests, source: this.router, sockets: this.sockets, scheduler, log, accepting, audit: security.audit, callerOf }),
    });
    this.publishers = new PublisherHandlers(this.router, this.metrics, log, accepting, scheduler, config.openTimeoutMs, config.publishStreamMaxPending, {
      callerOf,
      quotas: security.quotas,
      audit: security.audit,
      deadlines: security.deadlines,
    });
    this.server.addService(publisherServiceDefinition, { publish: this.publishers.publish, publishStream: this.publishers.publishStream });
    const revoker = new SubjectRevoker(security.enabled, this.tracker, security.revocations, security.deadlines, security.audit, scheduler);
    this.server.addService(
      ConnectionTrackerServiceService,
      createTrackerHandlers(this.tracker, this.router, this.fleet, config, log, { callerOf, revoker, deadlines: security.deadlines }),
    );
    this.health = new HealthService({ '': 'NOT_SERVING' }, config.maxHealthWatchers);
    this.health.addToServer(this.server);
    if (config.reflection === 1) new ReflectionService(loadReflectionDefinition()).addToServer(this.server);
    this.metricsEndpoint = new HttpEndpoint({
      '/metrics': async () => ({ type: this.metrics.registry.contentType, body: await this.metrics.registry.metrics() }),
    });
  }

  async start(): Promise<void> {
    const host = listenHost(this.config);
    if (!authConfigured(this.config)) {
      this.log.warn(
        { host },
        this.config.host
          ? 'no authentication configured: anyone who reaches this address may publish, read every event and evict consumers'
          : 'no authentication configured: listening on loopback only (set TETHER_AUTH_JWKS_FILE or TETHER_AUTH_CERT_IDENTITIES_FILE to serve other hosts)',
      );
    }
    this.security.start();
    await this.eventLog.start();
    await this.fleet.start();
    // Publishing needs the log's server; everything else goes on while it is away.
    this.eventLog.onWritableChange((writable) => {
      if (this.accepting) this.health.setStatus('tether.v1.PublisherService', writable ? 'SERVING' : 'NOT_SERVING');
    });
    this.port = await this.sockets.listen(host, this.config.port);
    this.metricsPort = await this.metricsEndpoint.listen(host, this.config.metricsPort);
    this.tracker.start();
    this.sweepHistory();
    this.accepting = true;
    this.setHealth('SERVING');
    if (!this.eventLog.writable) this.health.setStatus('tether.v1.PublisherService', 'NOT_SERVING');
    this.log.info(
      {
        host,
        port: this.port,
        metricsPort: this.metricsPort,
        eventLog: this.eventLog.kind,
        replica: this.config.replicaId,
        tls: this.security.tls ? (this.security.tls.mutualTls ? 'mutual' : 'server') : 'off',
        authentication: this.security.enabled,
        epoch: this.router.epoch,
      },
      'provider serving',
    );
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
    this.security.stop();
    this.log.info({ clean }, 'provider stopped');
  }

  /** Expired events leave the history even when nothing is published or read; idle quota entries go too. */
  private sweepHistory(): void {
    this.eventLog.evictExpired(this.scheduler.now());
    this.security.quotas.sweep(this.scheduler.now());
    this.cancelHistorySweep = this.scheduler.after(Math.max(this.config.livenessSweepMs, 1_000), () => this.sweepHistory());
  }

  private setHealth(status: ServingStatus): void {
    this.health.setStatus('', status);
    for (const name of SERVICE_NAMES) this.health.setStatus(name, status);
  }
}
