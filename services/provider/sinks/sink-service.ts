import { status } from '@grpc/grpc-js';
import { TetherError, statusName } from '../../../shared/errors';
import type { Open, OpenSinkRequest } from '../../../shared/gen/tether/v1/sink';
import type { Logger } from '../../../shared/logger';
import { nameProblem } from '../../../shared/text-bounds';
import { DEFAULT_RECEIVE_BYTES, type ProviderConfig, minReceiveBytes } from '../provider-config';
import type { Scheduler } from '../scheduler';
import { classifyBreak } from '../tracking/break-classifier';
import type { ConnectionTracker } from '../tracking/connection-tracker';
import type { SocketOwner } from '../tracking/socket-owner';
import { isUndecodable } from '../transport/undecodable';
import { GrpcSinkStream, type SinkCall } from './grpc-sink-stream';
import type { ReplaySource } from './replay-cursor';
import type { Sink } from './sink';
import type { SinkRequests } from './sink-requests';

export interface SinkServiceDeps {
  readonly config: ProviderConfig;
  readonly tracker: ConnectionTracker;
  readonly requests: SinkRequests;
  readonly source: ReplaySource;
  readonly sockets: SocketOwner;
  readonly scheduler: Scheduler;
  readonly log: Logger;
  /** False while starting or draining: new sinks are refused with UNAVAILABLE. */
  readonly accepting: () => boolean;
}

/**
 * Serves OpenSink: the consumer's first message opens its sink, later ones add and remove subscriptions
 * (SinkRequests). A protocol violation closes the sink with a status; however the stream ends, the sink's
 * one close path reclaims it.
 */
export function createSinkHandler(deps: SinkServiceDeps) {
  const { config, tracker, requests, sockets, scheduler, log } = deps;

  return function openSink(call: SinkCall): void {
    // The peer is captured now: grpc-js answers 'unknown' once the connection is gone.
    const peer = call.getPeer();
    const socket = sockets.state(peer);
    const stream = new GrpcSinkStream(call, scheduler, config.closeLingerMs, () => sockets.destroy(peer, 'connection-lost'));
    let sink: Sink | undefined;
    let ended = false;

    /** Before the sink exists nothing is allocated: end the call with the status. */
    const refuseCall = (err: TetherError) => {
      if (ended) return;
      ended = true;
      cancelOpenTimer();
      log.warn({ peer, code: statusName(err.code), err: err.message }, 'sink stream refused');
      stream.finish(err.code, err.message);
    };

    // A stream that never opens its sink holds nothing, but it must not hold a stream forever either.
    const cancelOpenTimer = scheduler.after(config.openTimeoutMs, () => refuseCall(new TetherError(status.DEADLINE_EXCEEDED, 'no open message in time')));

    // 'end' alone is a half-close; but when grpc-js tears a dying connection down, 'end' comes first and
    // 'cancelled' follows within a few ticks. So the sink stops taking anything at the first sign, and
    // the reason is decided after a short window by how the socket ended (break-classifier).
    let firstSignAt: number | undefined;
    let decided = false;
    const firstSign = () => {
      firstSignAt ??= scheduler.now();
      cancelOpenTimer();
      sink?.beginClosing();
    };
    const decide = (halfClosed: boolean) => {
      if (decided) return;
      decided = true;
      const current = sink;
      if (!current) {
        // Ended before opening: nothing was allocated; finish the call if it can still be finished.
        if (!ended && halfClosed && !call.cancelled) stream.finish(status.OK, '');
        ended = true;
        return;
      }
      ended = true;
      if (current.state === 'closed') return;
      const detectedAt = firstSignAt ?? scheduler.now();
      classifyBreak(sockets, socket, config.classifyWindowMs, halfClosed).then(
        (reason) => current.close(reason, detectedAt),
        (err: unknown) => {
          log.error({ err, sinkId: current.id }, 'break classification failed');
          current.close('connection-lost', detectedAt);
        },
      );
    };
    call.on('end', () => {
      firstSign();
      if (call.cancelled) decide(false);
      else scheduler.after(config.classifyWindowMs, () => decide(!call.cancelled));
    });
    call.on('cancelled', () => {
      firstSign();
      decide(false);
    });
    call.on('error', (err) => log.debug({ peer, err: err.message }, 'sink stream error'));

    call.on('data', (request: OpenSinkRequest) => {
      if (ended || (sink && sink.state !== 'open')) return;
      sink?.touch();
      try {
        if (isUndecodable(request)) throw protocolError(status.INVALID_ARGUMENT, `undecodable request: ${request.reason}`);
        const kind = request.kind;
        switch (kind?.$case) {
          case 'open':
            if (sink) throw protocolError(status.FAILED_PRECONDITION, 'the sink is already open');
            cancelOpenTimer();
            sink = open(stream, peer, kind.value);
            return;
          case 'subscribe':
            requests.subscribe(requireSink(sink), kind.value);
            return;
          case 'unsubscribe':
            requests.unsubscribe(requireSink(sink), kind.value);
            return;
          default:
            if (!sink) throw protocolError(status.FAILED_PRECONDITION, 'send open first');
            requests.refuse(sink, '', TetherError.invalid('empty request: set open, subscribe or unsubscribe'));
        }
      } catch (err) {
        const error = TetherError.from(err);
        if (error.code === status.INTERNAL) log.error({ peer, err }, 'sink request failed');
        if (!sink) refuseCall(error);
        else {
          log.warn({ sinkId: sink.id, code: statusName(error.code), err: error.message }, 'sink protocol violated');
          sink.close('protocol-error', scheduler.now(), { code: error.code, message: error.message });
        }
      }
    });
    if (call.cancelled) {
      firstSign();
      decide(false);
    }
  };

  function open(stream: GrpcSinkStream, peer: string, request: Open): Sink {
    if (!deps.accepting()) throw TetherError.unavailable('the provider is not accepting sinks (starting or shutting down)');
    const problem = nameProblem('open.consumer_name', request.consumerName, config.maxConsumerNameLength);
    if (problem) throw TetherError.invalid(problem);
    const receive = request.maxReceiveMessageBytes || DEFAULT_RECEIVE_BYTES;
    if (receive < minReceiveBytes(config)) {
      throw TetherError.invalid(`open.max_receive_message_bytes is ${receive}; this provider may send messages of up to ${minReceiveBytes(config)} bytes`);
    }
    const sink = tracker.open(stream, request.consumerName, peer, receive);
    log.info({ sinkId: sink.id, consumer: request.consumerName, peer }, 'sink opened');
    sink.reply({
      kind: {
        $case: 'opened',
        value: {
          sinkId: sink.id,
          epoch: deps.source.epoch,
          headSequence: String(deps.source.headSequence),
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

/** A request that breaks the sink protocol: FAILED_PRECONDITION, or INVALID_ARGUMENT for bytes that do not decode. */
function protocolError(code: status, message: string): TetherError {
  return new TetherError(code, message);
}

function requireSink(sink: Sink | undefined): Sink {
  if (!sink) throw protocolError(status.FAILED_PRECONDITION, 'send open before subscribe or unsubscribe');
  return sink;
}
