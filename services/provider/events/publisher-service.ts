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
    private readonly maxPendingPerStream: number,
    private readonly security?: PublishSecurity,
  ) {}

  /** Answered at once by the memory log, or once a durable log has stored the batch. */
  readonly publish = (call: ServerUnaryCall<PublishRequest, PublishResponse>, callback: sendUnaryData<PublishResponse>): void => {
    const peer = call.getPeer();
    const caller = this.callerOf(call);
    const fail = (err: unknown) => callback(this.refused(err, peer, caller, 'Publish').toServiceError(), null);
    try {
      const sequences = this.take(call.request.events, call.request.idempotencyKey, caller);
      if (Array.isArray(sequences)) callback(null, { sequences, epoch: this.router.epoch });
      else sequences.then((s) => callback(null, { sequences: s, epoch: this.router.epoch }), fail);
    } catch (err) {
      fail(err);
    }
  };

  /**
   * Each batch is answered in order on the stream. When the answers back up, or too many batches wait for
   * a durable log to store them, reading pauses until they drain.
   */
  readonly publishStream = (call: PublishStreamCall): void => {
    const peer = call.getPeer();
    const caller = this.callerOf(call);
    this.streams.add(call);
    let pending = 0;
    let answers: Promise<unknown> = Promise.resolve();
    let paused = false;
    let gone = false;
    const write = (answer: PublishStreamResponse) => {
      if (gone || !this.streams.has(call)) return;
      if (!call.write(answer) && !paused) {
        paused = true;
        call.pause();
        call.once('drain', () => {
          paused = false;
          if (pending < this.maxPendingPerStream) call.resume();
        });
      }
    };
    // A stream that never sends a batch must not be held for ever.
    const cancelOpenTimer = this.scheduler.after(this.openTimeoutMs, () => {
      this.streams.delete(call);
      this.log.warn({ peer }, 'publish stream sent nothing in time');
      call.emit('error', new TetherError(status.DEADLINE_EXCEEDED, 'no publish request in time').toServiceError());
    });
    // Credentials that expire or are revoked end the stream; the publisher reconnects with fresh ones.
    const unwatch =
      this.security?.deadlines.watch(caller, (why) => {
        this.streams.delete(call);
        const message = why === 'revoked' ? `the credentials of ${caller.subject} were revoked` : `the credentials of ${caller.subject} expired`;
        call.emit('error', TetherError.unauthenticated(message).toServiceError());
      }) ?? (() => undefined);
    const forget = () => {
      gone = true;
      cancelOpenTimer();
      unwatch();
      this.streams.delete(call);
    };
    call.on('cancelled', forget);
    call.on('error', forget);
    call.on('end', () => {
      // The publisher half-closed: answer what is still waiting for the log, then end.
      cancelOpenTimer();
      void answers.then(() => {
        if (gone || !this.streams.has(call)) return;
        forget();
        call.end();
      });
    });
    if (call.cancelled) forget();
    const refusal = (batchId: string, err: unknown): PublishStreamResponse | undefined => {
      const error = this.refused(err, peer, caller, 'PublishStream');
      if (error.code === status.UNAVAILABLE) {
        this.endStream(call, error.message);
        return undefined;
      }
      return { batchId, sequences: [], epoch: this.router.epoch, code: error.code, message: error.message, retryAfterMs: error.retryAfterMs ?? 0 };
    };
    call.on('data', (req: PublishStreamRequest) => {
      cancelOpenTimer();
      const ok = (sequences: string[]): PublishStreamResponse => ({ batchId: req.batchId, sequences, epoch: this.router.epoch, code: status.OK, message: '', retryAfterMs: 0 });
      let result: string[] | Promise<string[]> | undefined;
      let failure: unknown;
      try {
        result = this.take(req.events, req.idempotencyKey, caller);
      } catch (err) {
        failure = err;
      }
      if (pending === 0 && !(result instanceof Promise)) {
        // Answered at once (the memory log, or a refusal) with nothing waiting before it.
        const answer = result ? ok(result) : refusal(req.batchId, failure);
        if (answer) write(answer);
        return;
      }
      // A durable log answers later: keep the answers in request order and bound how many wait.
      pending++;
      if (pending >= this.maxPendingPerStream && !paused) call.pause();
      const settled = result ? Promise.resolve(result).then(ok, (err: unknown) => refusal(req.batchId, err)) : Promise.resolve(refusal(req.batchId, failure));
      answers = answers.then(async () => {
        const answer = await settled;
        pending--;
        if (answer) write(answer);
        if (!paused && pending < this.maxPendingPerStream) call.resume();
      });
    });
  };

  /** On shutdown: every publish stream ends with UNAVAILABLE so publishers reconnect elsewhere or later. */
  endStreams(): void {
    for (const call of [...this.streams]) this.endStream(call);
  }

  private endStream(call: PublishStreamCall, message = 'the provider is shutting down'): void {
    if (!this.streams.delete(call)) return;
    call.emit('error', TetherError.unavailable(message).toServiceError());
  }

  private callerOf(call: object): Identity {
    return this.security ? this.security.callerOf(call) : ANONYMOUS;
  }

  /** Authorizes the whole batch (every topic within the publish allow-list), takes it from the quota, publishes. */
  private take(events: PublishRequest['events'], idempotencyKey: string, caller: Identity): string[] | Promise<string[]> {
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
    return this.router.publish(events, idempotencyKey);
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
