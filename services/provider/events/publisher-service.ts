import type { sendUnaryData, ServerDuplexStream, ServerUnaryCall } from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import { TetherError, statusName } from '../../../shared/errors';
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
  ) {}

  readonly publish = (call: ServerUnaryCall<PublishRequest, PublishResponse>, callback: sendUnaryData<PublishResponse>): void => {
    try {
      callback(null, { sequences: this.take(call.request.events), epoch: this.router.epoch });
    } catch (err) {
      callback(this.refused(err, call.getPeer()).toServiceError(), null);
    }
  };

  /** Each batch is answered in order on the stream. When the answers back up, reading pauses until they drain. */
  readonly publishStream = (call: PublishStreamCall): void => {
    const peer = call.getPeer();
    this.streams.add(call);
    // A stream that never sends a batch must not be held for ever.
    const cancelOpenTimer = this.scheduler.after(this.openTimeoutMs, () => {
      this.streams.delete(call);
      this.log.warn({ peer }, 'publish stream sent nothing in time');
      call.emit('error', new TetherError(status.DEADLINE_EXCEEDED, 'no publish request in time').toServiceError());
    });
    const forget = () => {
      cancelOpenTimer();
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
        answer = { batchId: req.batchId, sequences: this.take(req.events), epoch: this.router.epoch, code: status.OK, message: '' };
      } catch (err) {
        const error = this.refused(err, peer);
        if (error.code === status.UNAVAILABLE) {
          this.endStream(call);
          return;
        }
        answer = { batchId: req.batchId, sequences: [], epoch: this.router.epoch, code: error.code, message: error.message };
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

  private take(events: PublishRequest['events']): string[] {
    if (!this.accepting()) throw TetherError.unavailable('the provider is not accepting events (starting or shutting down)');
    return this.router.publish(events);
  }

  private refused(err: unknown, peer: string): TetherError {
    const error = TetherError.from(err);
    this.metrics.publishRejected.inc({ code: statusName(error.code) });
    if (error.code === status.INTERNAL) this.log.error({ err }, 'publish failed');
    else this.log.warn({ peer, code: statusName(error.code), err: error.message }, 'publish refused');
    return error;
  }
}
