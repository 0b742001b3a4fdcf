import type { sendUnaryData, ServerDuplexStream, ServerUnaryCall } from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import { TetherError, statusName } from '../../../shared/errors';
import { echo } from '../../../shared/text-bounds';
import type {
  PublishRequest,
  PublishResponse,
  PublishStreamRequest,
  PublishStreamResponse,
} from '../../../shared/gen/tether/v1/publisher';
import type { Logger } from '../../../shared/logger';
import type { EventRouter } from './event-router';
import type { ProviderMetrics } from '../provider-metrics';
import type { Scheduler } from '../scheduler';
import type { Audit } from '../security/audit';
import { ANONYMOUS, type Identity } from '../security/identity';
import type { QuotaLedger } from '../security/quotas';
import type { StreamDeadlines } from '../security/stream-deadlines';

/** Who publishes, what they may publish, and how their streams end when credentials do. */
export interface PublishSecurity {
  readonly callerOf: (call: object) => Identity;
  readonly quotas: QuotaLedger;
  readonly audit: Audit;
  readonly deadlines: StreamDeadlines;
}

type PublishStreamCall = ServerDuplexStream<PublishStreamRequest, PublishStreamResponse>;

/** Serves Publish and PublishStream: a batch in, one sequence per event out, or a status naming the bad event. */
export class PublisherHandlers {
  private readonly streams = new Set<PublishStreamCall>();

  constructor(
    private readonly router: EventRouter,
    private readonly metrics: ProviderMetrics,
    private readonly log: Logger,
    private readonly accepting: () => boolean,
    private readonly scheduler: Scheduler,
    private readonly openTimeoutMs: number,
    private readonly security?: PublishSecurity,
  ) {}

  readonly publish = (call: ServerUnaryCall<PublishRequest, PublishResponse>, callback: sendUnaryData<PublishResponse>): void => {
    const caller = this.callerOf(call);
    try {
      callback(null, { sequences: this.take(call.request.events, caller), epoch: this.router.epoch });
    } catch (err) {
      callback(this.refused(err, call.getPeer(), caller, 'Publish').toServiceError(), null);
    }
  };

  /** Each batch is answered in order on the stream. When the answers back up, reading pauses until they drain. */
  readonly publishStream = (call: PublishStreamCall): void => {
    const peer = call.getPeer();
    const caller = this.callerOf(call);
    this.streams.add(call);
    // Credentials that expire or are revoked end the stream; the publisher reconnects with fresh ones.
    const unwatch =
      this.security?.deadlines.watch(caller, (why) => {
        this.streams.delete(call);
        const message = why === 'revoked' ? `the credentials of ${caller.subject} were revoked` : `the credentials of ${caller.subject} expired`;
        call.emit('error', TetherError.unauthenticated(message).toServiceError());
      }) ?? (() => undefined);
    // A stream that never sends a batch must not be held for ever.
    const cancelOpenTimer = this.scheduler.after(this.openTimeoutMs, () => {
      this.streams.delete(call);
      this.log.warn({ peer }, 'publish stream sent nothing in time');
      call.emit('error', new TetherError(status.DEADLINE_EXCEEDED, 'no publish request in time').toServiceError());
    });
    const forget = () => {
      cancelOpenTimer();
      unwatch();
      this.streams.delete(call);
    };
    call.on('cancelled', forget);
    call.on('error', forget);
    call.on('end', () => {
      forget();
      call.end();
    });
    if (call.cancelled) forget();
    call.on('data', (req: PublishStreamRequest) => {
      cancelOpenTimer();
      let answer: PublishStreamResponse;
      try {
        answer = { batchId: req.batchId, sequences: this.take(req.events, caller), epoch: this.router.epoch, code: status.OK, message: '', retryAfterMs: 0 };
      } catch (err) {
        const error = this.refused(err, peer, caller, 'PublishStream');
        if (error.code === status.UNAVAILABLE) {
          this.endStream(call);
          return;
        }
        answer = { batchId: req.batchId, sequences: [], epoch: this.router.epoch, code: error.code, message: error.message, retryAfterMs: error.retryAfterMs ?? 0 };
      }
      if (!call.write(answer)) {
        call.pause();
        call.once('drain', () => call.resume());
      }
    });
  };

  /** On shutdown: every publish stream ends with UNAVAILABLE so publishers reconnect elsewhere or later. */
  endStreams(): void {
    for (const call of [...this.streams]) this.endStream(call);
  }

  private endStream(call: PublishStreamCall): void {
    this.streams.delete(call);
    call.emit('error', TetherError.unavailable('the provider is shutting down').toServiceError());
  }

  private callerOf(call: object): Identity {
    return this.security ? this.security.callerOf(call) : ANONYMOUS;
  }

  /** Authorizes the whole batch (every topic within the publish allow-list), takes it from the quota, publishes. */
  private take(events: PublishRequest['events'], caller: Identity): string[] {
    if (!this.accepting()) throw TetherError.unavailable('the provider is not accepting events (starting or shutting down)');
    if (caller.via !== 'none') {
      let bytes = 0;
      for (const event of events) {
        if (!caller.publish.allowsTopic(event.topic.split('.'))) {
          throw TetherError.denied(`topic ${echo(event.topic)} is not within the publish allow-list of ${caller.subject}; the batch was not published`);
        }
        bytes += event.data.length;
      }
      this.security?.quotas.takePublish(caller, events.length, bytes, this.scheduler.now());
    }
    return this.router.publish(events);
  }

  private refused(err: unknown, peer: string, caller: Identity, method: string): TetherError {
    const error = TetherError.from(err);
    this.metrics.publishRejected.inc({ code: statusName(error.code) });
    if (error.code === status.INTERNAL) this.log.error({ err }, 'publish failed');
    else if (error.code === status.PERMISSION_DENIED || error.code === status.RESOURCE_EXHAUSTED) {
      const event = error.code === status.PERMISSION_DENIED ? 'denied' : 'quota-exceeded';
      this.security?.audit.record(event, { subject: caller.subject, peer, method, code: statusName(error.code), reason: error.message });
    } else this.log.warn({ peer, subject: caller.subject, code: statusName(error.code), err: error.message }, 'publish refused');
    return error;
  }
}
