import { Server, ServerCredentials } from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { TetherError } from '../../shared/errors';
import { HttpEndpoint } from '../../shared/http-endpoint';
import type { Logger } from '../../shared/logger';
import { parseSubscriptionList } from '../../shared/subscription-spec';
import { hasClientAuth } from '../../shared/client-credentials';
import { type ConsumerConfig, consumerHost } from './consumer-config';
import { ConsumerMetrics } from './consumer-metrics';
import { EventHandler } from './event-handler';
import { PositionFlusher } from './position-flusher';
import { type Position, PositionStore } from './position-store';
import { ReceivedState } from './received-state';
import { SinkClient } from './sink-client';

/** Health service name that is SERVING only while the sink is open and subscribed. */
export const SINK_HEALTH_SERVICE = 'tether.consumer.Sink';

/**
 * The consumer service: one sink to the provider carrying all its subscriptions, a gRPC health
 * endpoint, and HTTP `/metrics` and `/status` (what it has received).
 */
export class Consumer {
  readonly state: ReceivedState;
  readonly metrics: ConsumerMetrics;
  private readonly sink: SinkClient;
  private readonly handler: EventHandler;
  private readonly health = new HealthImplementation({ '': 'NOT_SERVING', [SINK_HEALTH_SERVICE]: 'NOT_SERVING' });
  private readonly healthServer = new Server();
  private readonly http: HttpEndpoint;
  private readonly positions: PositionStore | undefined;
  private readonly flusher: PositionFlusher | undefined;
  healthPort = 0;
  metricsPort = -1;

  constructor(
    private readonly config: ConsumerConfig,
    private readonly log: Logger,
  ) {
    const subscriptions = parseSubscriptionList(config.subscriptions, config.maxSubscriptions);
    this.state = new ReceivedState(new Set(subscriptions.map((s) => s.subscriptionId)));
    this.metrics = new ConsumerMetrics({
      connected: () => this.sink.subscribed,
      lastSequence: () => this.state.lastSequence,
      queueDepth: () => this.handler.depth,
    });
    if (config.stateFile) {
      this.positions = new PositionStore(config.stateFile);
      this.flusher = new PositionFlusher(this.positions, () => ({ epoch: this.state.epoch, lastSequence: this.state.lastSequence }), {
        file: config.stateFile,
        flushMs: config.stateFlushMs,
        errors: this.metrics.stateWriteErrors,
        log,
      });
    }
    this.sink = new SinkClient(config, subscriptions, this.state, () => this.handler, this.metrics, log, () => this.onSinkChange());
    this.handler = new EventHandler(
      this.state,
      log,
      {
        queueMax: config.queueMax,
        delayMs: config.handlerDelayMs,
        logEvents: config.logEvents === 1,
        onHandled: (e) => {
          for (const id of e.subscriptionIds) if (this.state.isKnown(id)) this.metrics.received.inc({ subscription: id });
        },
      },
      this.sink.flow,
    );
    this.health.addToServer(this.healthServer);
    this.http = new HttpEndpoint({
      '/metrics': async () => ({ type: this.metrics.registry.contentType, body: await this.metrics.registry.metrics() }),
      '/status': () => ({ type: 'application/json', body: JSON.stringify(this.status()) }),
    });
  }

  status() {
    return {
      name: this.config.name,
      sinkId: this.sink.sinkId,
      subscribed: this.sink.subscribed,
      connects: this.sink.connects,
      queueDepth: this.handler.depth,
      ...this.state.snapshot(),
    };
  }

  async start(): Promise<void> {
    // Before anything listens: a consumer that cannot keep its position refuses to start (one line, exit 1).
    const saved = this.openPositions();
    if (saved) {
      this.state.restore(saved.epoch, saved.lastSequence);
      this.log.info({ file: this.config.stateFile, ...saved }, 'resuming from the saved position');
    }
    this.flusher?.start();
    const host = consumerHost(this.config);
    if (!hasClientAuth(this.config)) {
      this.log.warn({ host }, this.config.host ? 'no credentials configured: /status and /metrics are open to this address' : 'no credentials configured: /status and /metrics listen on loopback only');
    }
    this.healthPort = await new Promise<number>((resolve, reject) =>
      this.healthServer.bindAsync(`${host}:${this.config.healthPort}`, ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
    );
    this.metricsPort = await this.http.listen(host, this.config.metricsPort);
    this.health.setStatus('', 'SERVING');
    this.sink.start();
    this.log.info({ provider: this.config.providerAddress, healthPort: this.healthPort, metricsPort: this.metricsPort }, 'consumer started');
  }

  async stop(graceMs?: number): Promise<void> {
    await this.sink.stop(graceMs);
    this.flusher?.stop();
    this.health.setStatus('', 'NOT_SERVING');
    this.healthServer.forceShutdown();
    await this.http.close();
  }

  private openPositions(): Position | undefined {
    try {
      return this.positions?.open();
    } catch (err) {
      throw TetherError.failedPrecondition(`CONSUMER_STATE_FILE=${this.config.stateFile}: ${(err as Error).message}`);
    }
  }

  private onSinkChange(): void {
    this.health.setStatus(SINK_HEALTH_SERVICE, this.sink.subscribed ? 'SERVING' : 'NOT_SERVING');
  }
}
