import { makeGenericClientConstructor } from '@grpc/grpc-js';
import { SinkServiceClient, SinkServiceService } from '../gen/tether/v1/sink';
import { decodeSinkResponse } from './sink-response-decoder';

/**
 * The generated SinkService client with the lazy response decoder: event batches arrive as deliveries of
 * `LazyEvent`s. What the consumer service uses, and what client code should copy.
 */
export const LazySinkServiceClient = makeGenericClientConstructor(
  { ...SinkServiceService, openSink: { ...SinkServiceService.openSink, responseDeserialize: decodeSinkResponse } },
  'tether.v1.SinkService',
) as unknown as typeof SinkServiceClient;
