import { type ClientDuplexStream, status } from '@grpc/grpc-js';
import { AddressList } from '../../shared/address-list';
import { Backoff } from '../../shared/backoff';
import { ClientCredentials } from '../../shared/client-credentials';
import { clientOptions } from '../../shared/client-options';
import { LazySinkServiceClient } from '../../shared/wire/lazy-sink-client';
import { retryPushbackMs, statusName } from '../../shared/errors';
import { type OpenSinkRequest, type OpenSinkResponse, SinkServiceClient, type SubscriptionSpec } from '../../shared/gen/tether/v1/sink';
import type { Logger } from '../../shared/logger';
import type { ConsumerConfig } from './consumer-config';
import type { ConsumerMetrics } from './consumer-metrics';
import type { EventHandler } from './event-handler';
import type { ReceivedState } from './received-state';

type Call = ClientDuplexStream<OpenSinkRequest, OpenSinkResponse>;

/**
 * Keeps one sink open to the provider: opens it, registers every subscription in one message (resuming
 * after the last handled sequence once it has one), reads immediately, and on any break reconnects with
 * jittered capped exponential backoff, to the next address of its list: with several provider replicas
 * a consumer fails over and resumes from the same position on another. A provider that sends nothing,
 * not even a heartbeat, for idleTimeoutMs is treated as gone.
 */
export class SinkClient {
  private readonly addresses: AddressList;
  /** One client per provider address, made when first used. */
  private readonly clients = new Map<string, SinkServiceClient>();
  private readonly credentials: ClientCredentials;
  private readonly backoff: Backoff;
  private call: Call | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  sinkId = '';
  subscribed = false;
  connects = 0;

  constructor(
    private readonly config: ConsumerConfig,
    private readonly subscriptions: readonly SubscriptionSpec[],
    private readonly state: ReceivedState,
    private readonly handler: () => EventHandler,
    private readonly metrics: ConsumerMetrics,
    private readonly log: Logger,
    private readonly onChange: () => void,
  ) {
    this.addresses = new AddressList(config.providerAddress);
    this.credentials = new ClientCredentials(config);
    this.backoff = new Backoff(config.backoffInitialMs, config.backoffMaxMs);
  }

  /** Flow control for the handler: pause and resume reading from the current stream. */
  readonly flow = {
    // While we hold the stream back ourselves, the provider's silence is ours: the idle timer waits.
    pause: () => {
      this.readingPaused = true;
      clearTimeout(this.idleTimer);
      this.call?.pause();
    },
    resume: () => {
      this.readingPaused = false;
      if (this.call) this.armIdle(this.call);
      this.call?.resume();
    },
  };
  private readingPaused = false;

  start(): void {
    this.stopped = false;
    this.connect();
  }

  /**
   * A clean goodbye: half-close the sink and wait (up to `graceMs`) for the provider to end it, so the
   * provider records client-closed rather than a crash; then release everything.
   */
  async stop(graceMs = 1_000): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    const call = this.call;
    if (call && this.sinkId) {
      const ended = new Promise<void>((resolve) => {
        call.once('status', () => resolve());
        call.once('error', () => resolve());
      });
      call.end();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([ended, new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
      clearTimeout(timer);
    }
    this.drop('stopping');
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }

  private connect(): void {
    if (this.stopped) return;
    this.connects++;
    // A rotated client certificate takes new connections; a refreshed token is read on every call.
    if (this.credentials.channelChanged) {
      for (const client of this.clients.values()) client.close();
      this.clients.clear();
      this.log.info('client certificate files changed: reconnecting with them');
    }
    const call = this.client().openSink();
    this.call = call;
    call.on('data', (msg: OpenSinkResponse) => this.onMessage(call, msg));
    call.on('error', (err: Error & { code?: number }) => this.onBroken(call, `${statusName(err.code ?? status.UNKNOWN)}: ${err.message}`, retryPushbackMs(err)));
    call.on('end', () => this.onBroken(call, 'the provider ended the sink'));
    call.write({ kind: { $case: 'open', value: { consumerName: this.config.name, maxReceiveMessageBytes: 0 } } });
    const resume = this.state.resumePoint();
    call.write({ kind: { $case: 'subscribe', value: { subscriptions: [...this.subscriptions], resume, requestId: '' } } });
    this.armIdle(call);
  }

  private onMessage(call: Call, msg: OpenSinkResponse): void {
    if (call !== this.call) return;
    this.armIdle(call);
    const kind = msg.kind;
    switch (kind?.$case) {
      case 'opened':
        this.sinkId = kind.value.sinkId;
        this.state.opened(kind.value.epoch, Number(kind.value.headSequence));
        this.log.info({ sinkId: this.sinkId, epoch: kind.value.epoch, subscriptions: this.subscriptions.length }, 'sink opened');
        return;
      case 'ack': {
        const ack = kind.value;
        this.subscribed = true;
        this.backoff.reset();
        this.log.info({ sinkId: this.sinkId, change: ack.change, count: ack.subscriptionIds.length }, 'subscriptions acknowledged');
        const refused = ack.errors.length + ack.errorsOmitted;
        if (refused > 0) {
          const first = ack.errors[0];
          this.log.warn({ sinkId: this.sinkId, refused, subscriptionId: first?.subscriptionId, code: statusName(first?.code ?? 0), err: first?.message }, 'subscriptions refused');
        }
        this.onChange();
        return;
      }
      case 'error':
        // The whole Subscribe was refused (over a limit, or a resume position ahead of the provider's
        // head): nothing was registered. Reconnecting with backoff tries again from the saved position.
        this.log.error({ sinkId: this.sinkId, code: statusName(kind.value.code), err: kind.value.message }, 'subscribe refused');
        this.onBroken(call, `subscribe refused: ${kind.value.message}`);
        return;
      case 'gap': {
        const gap = kind.value;
        const report = {
          requestedEpoch: gap.requestedEpoch,
          requestedAfterSequence: Number(gap.requestedAfterSequence),
          epoch: gap.epoch,
          firstAvailableSequence: Number(gap.firstAvailableSequence),
          reason: gap.reason,
        };
        this.state.gap(report);
        this.metrics.gaps.inc();
        this.log.warn({ sinkId: this.sinkId, ...report }, 'provider reported a gap: events were lost');
        return;
      }
      case 'events':
        for (const d of kind.value.deliveries) {
          if (d.event) this.handler().push({ event: d.event, subscriptionIds: d.subscriptionIds });
        }
        return;
      case 'closing':
        this.log.info({ sinkId: this.sinkId, reason: kind.value.reason, message: kind.value.message, reconnect: kind.value.reconnect }, 'provider is closing the sink');
        if (!kind.value.reconnect) {
          // The provider says trying again cannot help (a protocol error): stop instead of looping.
          this.stopped = true;
          this.log.error({ sinkId: this.sinkId, reason: kind.value.reason }, 'provider asked this consumer not to reconnect; the sink stays closed');
        }
        return;
      case 'heartbeat':
        return;
    }
  }

  /** The client for the current address. */
  private client(): SinkServiceClient {
    const address = this.addresses.current;
    let client = this.clients.get(address);
    if (!client) {
      client = new LazySinkServiceClient(address, this.credentials.channel(), clientOptions(this.config.keepaliveTimeMs, this.config.keepaliveTimeoutMs, this.config.receiveWindowBytes));
      this.clients.set(address, client);
    }
    return client;
  }

  get address(): string {
    return this.addresses.current;
  }

  /** `pushbackMs`: the provider said when trying again can succeed (a quota); never retry sooner. */
  private onBroken(call: Call, why: string, pushbackMs?: number): void {
    if (call !== this.call) return;
    this.drop(why);
    if (this.stopped) return;
    const delay = Math.max(this.backoff.next(), pushbackMs ?? 0);
    const from = this.addresses.current;
    const to = this.addresses.advance();
    this.metrics.reconnects.inc();
    this.log.warn({ why, retryInMs: delay, attempt: this.backoff.attempts, from, to }, 'sink broken; reconnecting');
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  /** Forgets the current call; events it queued but did not handle are replayed after reconnecting. */
  private drop(why: string): void {
    const call = this.call;
    this.call = undefined;
    this.subscribed = false;
    clearTimeout(this.idleTimer);
    this.handler().clear();
    this.readingPaused = false; // the handler's queue is gone, and with it the reason to hold back
    this.onChange();
    if (call) {
      call.removeAllListeners('data');
      call.on('error', () => undefined);
      call.cancel();
      this.log.debug({ why }, 'sink call dropped');
    }
  }

  private armIdle(call: Call): void {
    clearTimeout(this.idleTimer);
    if (this.readingPaused) return;
    this.idleTimer = setTimeout(() => this.onBroken(call, `nothing from the provider for ${this.config.idleTimeoutMs} ms`), this.config.idleTimeoutMs);
    this.idleTimer.unref();
  }
}
