import { status } from '@grpc/grpc-js';
import type { CloseReason } from '../../../shared/close-reason';
import { TetherError, statusName } from '../../../shared/errors';
import type { Open, OpenSinkRequest } from '../../../shared/gen/tether/v1/sink';
import type { Logger } from '../../../shared/logger';
import { echo, nameProblem } from '../../../shared/text-bounds';
import { DEFAULT_RECEIVE_BYTES, type ProviderConfig, minReceiveBytes } from '../provider-config';
import type { Scheduler } from '../scheduler';
import type { Audit } from '../security/audit';
import { ANONYMOUS, type Identity, nameBelongsTo } from '../security/identity';
import type { ConnectionTracker } from '../tracking/connection-tracker';
import { isUndecodable } from '../transport/undecodable';
import type { ReplaySource } from './replay-cursor';
import type { Sink } from './sink';
import type { SinkRequests } from './sink-requests';
import type { SinkStream } from './sink-stream';

export interface SinkSessionDeps {
  readonly config: ProviderConfig;
  readonly tracker: ConnectionTracker;
  readonly requests: SinkRequests;
  readonly source: ReplaySource;
  readonly scheduler: Scheduler;
  readonly log: Logger;
  /** False while starting or draining: new sinks are refused with UNAVAILABLE. */
  readonly accepting: () => boolean;
  /** Refused opens are audited when set. */
  readonly audit?: Audit;
}

/**
 * One OpenSink stream, whatever carries it: the consumer's first message opens its sink, later ones add
 * and remove subscriptions (SinkRequests). A protocol violation closes the sink with a status. However
 * the stream ends, the sink's one close path reclaims it: the sink stops taking anything at the first
 * sign, and `classify` names the reason once the transport has shown how it ended.
 */
export class SinkSession {
  sink: Sink | undefined;
  private ended = false;
  private decided = false;
  private firstSignAt: number | undefined;
  private readonly cancelOpenTimer: () => void;
  /** Requests that arrived while a Subscribe waited for the log: applied in order when it is done. */
  private held: unknown[] | undefined;

  constructor(
    private readonly deps: SinkSessionDeps,
    private readonly stream: SinkStream,
    private readonly peer: string,
    private readonly classify: (halfClosed: boolean) => Promise<CloseReason>,
    private readonly caller: Identity = ANONYMOUS,
  ) {
    // A stream that never opens its sink holds nothing, but it must not hold a stream forever either.
    this.cancelOpenTimer = deps.scheduler.after(deps.config.openTimeoutMs, () =>
      this.refuseStream(new TetherError(status.DEADLINE_EXCEEDED, 'no open message in time')),
    );
  }

  onMessage(request: OpenSinkRequest | unknown): void {
    const { sink } = this;
    if (this.ended || (sink && sink.state !== 'open')) return;
    if (this.held) {
      this.held.push(request);
      return;
    }
    sink?.touch();
    try {
      if (isUndecodable(request)) throw new TetherError(status.INVALID_ARGUMENT, `undecodable request: ${request.reason}`);
      const kind = (request as OpenSinkRequest).kind;
      switch (kind?.$case) {
        case 'open':
          if (sink) throw new TetherError(status.FAILED_PRECONDITION, 'the sink is already open');
          this.cancelOpenTimer();
          this.sink = this.open(kind.value);
          return;
        case 'subscribe': {
          const waiting = this.deps.requests.subscribe(this.requireSink(), kind.value);
          if (waiting) this.hold(waiting);
          return;
        }
        case 'unsubscribe':
          this.deps.requests.unsubscribe(this.requireSink(), kind.value);
          return;
        default:
          this.deps.requests.refuse(this.requireSink(), '', TetherError.invalid('empty request: set open, subscribe or unsubscribe'));
      }
    } catch (err) {
      const error = TetherError.from(err);
      if (error.code === status.INTERNAL) this.deps.log.error({ peer: this.peer, err }, 'sink request failed');
      if (!this.sink) this.refuseStream(error);
      else {
        this.deps.log.warn({ sinkId: this.sink.id, code: statusName(error.code), err: error.message }, 'sink protocol violated');
        this.sink.close('protocol-error', this.deps.scheduler.now(), { code: error.code, message: error.message });
      }
    }
  }

  /** Reading pauses while a request waits; what arrived meanwhile is applied after it, in order. */
  private hold(waiting: Promise<void>): void {
    this.held = [];
    this.stream.pauseRequests();
    const release = () => {
      const held = this.held ?? [];
      this.held = undefined;
      this.stream.resumeRequests();
      for (const request of held) this.onMessage(request);
    };
    waiting.then(release, (err: unknown) => {
      this.deps.log.error({ err, peer: this.peer }, 'subscribe failed');
      release();
    });
  }

  /**
   * The stream's request side ended. Alone that is a clean half-close; but when grpc-js tears a dying
   * connection down, 'end' comes first and 'cancelled' follows within a few ticks, so the reason waits
   * for the classification window unless the stream is already known cancelled.
   */
  onHalfClose(cancelledAlready: boolean, isCancelledNow: () => boolean): void {
    this.firstSign();
    if (cancelledAlready) this.decide(false);
    else this.deps.scheduler.after(this.deps.config.classifyWindowMs, () => this.decide(!isCancelledNow()));
  }

  /** The stream was cancelled or reset, by the client or with its connection. */
  onCancel(): void {
    this.firstSign();
    this.decide(false);
  }

  private firstSign(): void {
    this.firstSignAt ??= this.deps.scheduler.now();
    this.cancelOpenTimer();
    this.sink?.beginClosing();
  }

  private decide(halfClosed: boolean): void {
    if (this.decided) return;
    this.decided = true;
    const current = this.sink;
    if (!current) {
      // Ended before opening: nothing was allocated; finish the stream if it can still be finished.
      if (!this.ended && halfClosed) this.stream.finish(status.OK, '');
      this.ended = true;
      return;
    }
    this.ended = true;
    if (current.state === 'closed') return;
    const detectedAt = this.firstSignAt ?? this.deps.scheduler.now();
    this.classify(halfClosed).then(
      (reason) => current.close(reason, detectedAt),
      (err: unknown) => {
        this.deps.log.error({ err, sinkId: current.id }, 'break classification failed');
        current.close('connection-lost', detectedAt);
      },
    );
  }

  /** Before the sink exists nothing is allocated: end the stream with the status. */
  private refuseStream(err: TetherError): void {
    if (this.ended) return;
    this.ended = true;
    this.cancelOpenTimer();
    this.deps.log.warn({ peer: this.peer, subject: this.caller.subject, code: statusName(err.code), err: err.message }, 'sink stream refused');
    // Denials, and quota refusals (they carry a retry delay; the provider-wide sink limit does not).
    if (err.code === status.PERMISSION_DENIED || (err.code === status.RESOURCE_EXHAUSTED && err.retryAfterMs !== undefined)) {
      this.deps.audit?.record(err.code === status.PERMISSION_DENIED ? 'denied' : 'quota-exceeded', {
        subject: this.caller.subject,
        peer: this.peer,
        method: 'OpenSink',
        code: statusName(err.code),
        reason: err.message,
      });
    }
    this.stream.finish(err.code, err.message, err.retryAfterMs);
  }

  private requireSink(): Sink {
    if (!this.sink) throw new TetherError(status.FAILED_PRECONDITION, 'send open before subscribe or unsubscribe');
    return this.sink;
  }

  private open(request: Open): Sink {
    const { config, tracker, log, source } = this.deps;
    if (!this.deps.accepting()) throw TetherError.unavailable('the provider is not accepting sinks (starting or shutting down)');
    const problem = nameProblem('open.consumer_name', request.consumerName, config.maxConsumerNameLength);
    if (problem) throw TetherError.invalid(problem);
    if (!nameBelongsTo(request.consumerName, this.caller)) {
      throw TetherError.denied(`consumer name ${echo(request.consumerName)} is not ${this.caller.subject} or ${this.caller.subject}/<suffix>`);
    }
    const receive = request.maxReceiveMessageBytes || DEFAULT_RECEIVE_BYTES;
    if (receive < minReceiveBytes(config)) {
      throw TetherError.invalid(`open.max_receive_message_bytes is ${receive}; this provider may send messages of up to ${minReceiveBytes(config)} bytes`);
    }
    const sink = tracker.open(this.stream, request.consumerName, this.peer, receive, this.caller);
    log.info({ sinkId: sink.id, subject: this.caller.subject, consumer: request.consumerName, peer: this.peer }, 'sink opened');
    sink.reply({
      kind: {
        $case: 'opened',
        value: {
          sinkId: sink.id,
          epoch: source.epoch,
          headSequence: String(source.headSequence),
          limits: {
            maxSubscriptionsPerSink: config.maxSubscriptionsPerSink,
            maxPatternLength: config.maxPatternLength,
            maxPatternDepth: config.maxPatternDepth,
            maxAttributes: config.maxAttributes,
            maxSpecsPerSubscribe: config.maxSpecsPerSubscribe,
            maxIdsPerUnsubscribe: config.maxIdsPerUnsubscribe,
            maxSubscriptionIdBytes: config.maxSubscriptionIdBytes,
            maxMessageBytes: receive,
          },
        },
      },
    });
    return sink;
  }
}
