import { status } from '@grpc/grpc-js';
import { TetherError, statusName } from '../../../shared/errors';
import type { OpenSinkRequest, Subscribe, Unsubscribe } from '../../../shared/gen/tether/v1/sink';
import { SubscriptionAck_Change } from '../../../shared/gen/tether/v1/sink';
import type { Logger } from '../../../shared/logger';
import { parsePattern } from '../../../shared/topic-pattern';
import { classifyBreak } from '../tracking/break-classifier';
import type { ConnectionTracker } from '../tracking/connection-tracker';
import type { EventRouter } from '../events/event-router';
import type { ProviderConfig } from '../provider-config';
import type { Sink, SinkCall, SinkSubscription } from './sink';
import type { SocketOwner } from '../tracking/socket-owner';
import type { SubscriptionRegistry } from '../subscriptions/subscription-registry';

export interface SinkServiceDeps {
  readonly config: ProviderConfig;
  readonly tracker: ConnectionTracker;
  readonly registry: SubscriptionRegistry;
  readonly router: EventRouter;
  readonly sockets: SocketOwner;
  readonly log: Logger;
  /** False while starting or draining: new sinks are refused with UNAVAILABLE. */
  readonly accepting: () => boolean;
}

/**
 * Serves OpenSink: the consumer's first message opens its sink, later ones add and remove
 * subscriptions. Bad requests get an in-band error naming the subscription; protocol violations end
 * the stream with a status. However the stream ends, the sink's one close path reclaims it.
 */
export function createSinkHandler(deps: SinkServiceDeps) {
  const { config, tracker, registry, router, sockets, log } = deps;

  return function openSink(call: SinkCall): void {
    const peer = call.getPeer();
    let sink: Sink | undefined;
    let ended = false;

    const fail = (err: TetherError) => {
      log.warn({ peer, code: statusName(err.code), err: err.message }, 'sink request refused');
      if (sink) sink.close('protocol-error', Date.now(), err.message);
      else if (!ended) {
        ended = true;
        call.emit('error', err.toServiceError());
      }
    };

    // A stream that never opens its sink holds nothing, but it must not hold a stream forever either.
    const openTimer = setTimeout(() => fail(new TetherError(status.DEADLINE_EXCEEDED, 'no open message in time')), config.openTimeoutMs);
    openTimer.unref();

    // 'end' alone is a half-close; but when grpc-js tears a dying connection down, 'end' comes first and
    // 'cancelled' follows within the same few ticks. So 'end' waits a short window for a 'cancelled'.
    let decided = false;
    let firstSignAt: number | undefined;
    const decide = (halfClosed: boolean) => {
      const detectedAt = firstSignAt ?? Date.now();
      clearTimeout(openTimer);
      ended = true;
      const current = sink;
      // Half-closed before opening: nothing was allocated; finish the call so it does not linger.
      if (!current && halfClosed && !call.cancelled && !decided) {
        decided = true;
        call.end();
        return;
      }
      if (decided || !current || current.closed) return;
      decided = true;
      void classifyBreak(sockets, current.identity.socket, config.classifyWindowMs, halfClosed).then((reason) => current.close(reason, detectedAt));
    };
    call.on('end', () => {
      firstSignAt ??= Date.now();
      if (call.cancelled) decide(false);
      else setTimeout(() => decide(true), config.classifyWindowMs).unref();
    });
    call.on('cancelled', () => {
      firstSignAt ??= Date.now();
      decide(false);
    });
    call.on('error', (err) => log.debug({ peer, err: err.message }, 'sink stream error'));

    call.on('data', (request: OpenSinkRequest) => {
      if (ended || sink?.closed) return;
      sink?.touch();
      try {
        const kind = request.kind;
        switch (kind?.$case) {
          case 'open':
            if (sink) throw new TetherError(status.FAILED_PRECONDITION, 'the sink is already open');
            clearTimeout(openTimer);
            sink = open(call, peer, kind.value.consumerName);
            return;
          case 'subscribe':
            subscribe(requireSink(sink), kind.value);
            return;
          case 'unsubscribe':
            unsubscribe(requireSink(sink), kind.value);
            return;
          default:
            throw TetherError.invalid('empty request: set open, subscribe or unsubscribe');
        }
      } catch (err) {
        const error = TetherError.from(err);
        if (error.code === status.INTERNAL) log.error({ peer, err }, 'sink request failed');
        // On an open sink a bad request is answered in-band; only a protocol violation ends the sink.
        if (sink && error.code !== status.FAILED_PRECONDITION) {
          log.warn({ sinkId: sink.id, code: statusName(error.code), err: error.message }, 'sink request refused');
          sink.send({ kind: { $case: 'error', value: { subscriptionId: '', code: error.code, message: error.message, requestId: '' } } });
        } else fail(error);
      }
    });
  };

  function open(call: SinkCall, peer: string, consumerName: string): Sink {
    if (!deps.accepting()) throw TetherError.unavailable('the provider is not accepting sinks (starting or shutting down)');
    if (consumerName.length === 0) throw TetherError.invalid('open.consumer_name is empty');
    if (consumerName.length > config.maxConsumerNameLength) {
      throw TetherError.invalid(`open.consumer_name is ${consumerName.length} characters; the limit is ${config.maxConsumerNameLength}`);
    }
    const sink = tracker.open(call, consumerName, peer);
    log.info({ sinkId: sink.id, consumer: consumerName, peer }, 'sink opened');
    sink.send({
      kind: {
        $case: 'opened',
        value: {
          sinkId: sink.id,
          epoch: router.epoch,
          headSequence: String(router.headSequence),
          limits: {
            maxSubscriptionsPerSink: config.maxSubscriptionsPerSink,
            maxPatternLength: config.maxPatternLength,
            maxPatternDepth: config.maxPatternDepth,
            maxAttributes: config.maxAttributes,
            maxSpecsPerSubscribe: config.maxSubscriptionsPerSink,
            maxIdsPerUnsubscribe: config.maxSubscriptionsPerSink,
            maxSubscriptionIdBytes: config.maxPatternLength,
            maxMessageBytes: 4 * 1024 * 1024,
          },
        },
      },
    });
    return sink;
  }

  function subscribe(sink: Sink, request: Subscribe): void {
    const added: SinkSubscription[] = [];
    for (const spec of request.subscriptions) {
      try {
        const sub = buildSubscription(sink, spec.subscriptionId, spec.pattern, spec.attributes ?? {});
        registry.add(sub);
        sink.subscriptions.set(sub.id, sub);
        added.push(sub);
      } catch (err) {
        const error = TetherError.from(err);
        log.info({ sinkId: sink.id, subscriptionId: spec.subscriptionId, code: statusName(error.code), err: error.message }, 'subscription refused');
        sink.send({ kind: { $case: 'error', value: { subscriptionId: spec.subscriptionId, code: error.code, message: error.message, requestId: request.requestId } } });
      }
    }
    if (added.length === 0) return;
    sink.send({ kind: { $case: 'ack', value: { subscriptionIds: added.map((s) => s.id), change: SubscriptionAck_Change.CHANGE_ADDED, requestId: request.requestId, errors: [], errorsOmitted: 0 } } });
    if (request.resume) {
      const gap = router.replay(sink, added, request.resume);
      if (gap) log.info({ sinkId: sink.id, ...gap, subscriptionIds: gap.subscriptionIds.length }, 'resume gap reported');
    }
  }

  function buildSubscription(sink: Sink, id: string, pattern: string, attributes: Record<string, string>): SinkSubscription {
    if (id.length === 0) throw TetherError.invalid('subscription_id is empty');
    if (id.length > config.maxPatternLength) throw TetherError.invalid(`subscription_id is longer than ${config.maxPatternLength} characters`);
    if (sink.subscriptions.has(id)) throw new TetherError(status.ALREADY_EXISTS, `subscription ${id} already exists on this sink`);
    if (sink.subscriptions.size >= config.maxSubscriptionsPerSink) {
      throw TetherError.exhausted(`the sink holds ${sink.subscriptions.size} subscriptions; the limit is ${config.maxSubscriptionsPerSink}`);
    }
    parsePattern(pattern, config);
    const entries = Object.entries(attributes);
    if (entries.length > config.maxAttributes) {
      throw TetherError.invalid(`${entries.length} attribute matches; the limit is ${config.maxAttributes}`);
    }
    return { id, owner: sink, pattern, attributes: entries.length > 0 ? entries.flat() : null };
  }

  function unsubscribe(sink: Sink, request: Unsubscribe): void {
    const removed: string[] = [];
    for (const id of request.subscriptionIds) {
      const sub = sink.subscriptions.get(id);
      if (!sub) {
        sink.send({ kind: { $case: 'error', value: { subscriptionId: id, code: status.NOT_FOUND, message: `no subscription ${id} on this sink`, requestId: request.requestId } } });
        continue;
      }
      sink.subscriptions.delete(id);
      registry.remove(sub);
      removed.push(id);
    }
    if (removed.length > 0) {
      sink.send({ kind: { $case: 'ack', value: { subscriptionIds: removed, change: SubscriptionAck_Change.CHANGE_REMOVED, requestId: request.requestId, errors: [], errorsOmitted: 0 } } });
    }
  }
}

function requireSink(sink: Sink | undefined): Sink {
  if (!sink) throw new TetherError(status.FAILED_PRECONDITION, 'send open before subscribe or unsubscribe');
  return sink;
}
