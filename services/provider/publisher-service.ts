import type { sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import { TetherError, statusName } from '../../shared/errors';
import type { PublishRequest, PublishResponse } from '../../shared/gen/tether/v1/publisher';
import type { Logger } from '../../shared/logger';
import type { EventRouter } from './event-router';
import type { ProviderMetrics } from './provider-metrics';

/** Serves Publish: one batch in, one sequence per event out, or a status naming the bad event. */
export function createPublishHandler(router: EventRouter, metrics: ProviderMetrics, log: Logger, accepting: () => boolean) {
  return function publish(call: ServerUnaryCall<PublishRequest, PublishResponse>, callback: sendUnaryData<PublishResponse>): void {
    try {
      if (!accepting()) throw TetherError.unavailable('the provider is not accepting events (starting or shutting down)');
      const sequences = router.publish(call.request.events);
      callback(null, { sequences, epoch: router.epoch });
    } catch (err) {
      const error = TetherError.from(err);
      metrics.publishRejected.inc({ code: statusName(error.code) });
      if (statusName(error.code) === 'INTERNAL') log.error({ err }, 'publish failed');
      else log.warn({ peer: call.getPeer(), code: statusName(error.code), err: error.message }, 'publish refused');
      callback(error.toServiceError(), null);
    }
  };
}
