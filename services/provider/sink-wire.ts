import { BinaryWriter } from '@bufbuild/protobuf/wire';
import type { ServiceDefinition } from '@grpc/grpc-js';
import { OpenSinkResponse, SinkServiceService } from '../../shared/gen/tether/v1/sink';
import type { Outbound, QueuedDelivery } from './delivery-queue';

// Field numbers from sink.proto: OpenSinkResponse.events = 4, EventBatch.deliveries = 1,
// Delivery.event = 1, Delivery.subscription_ids = 2. Wire type 2 is length-delimited.
const RESPONSE_EVENTS = (4 << 3) | 2;
const BATCH_DELIVERIES = (1 << 3) | 2;
const DELIVERY_EVENT = (1 << 3) | 2;
const DELIVERY_SUBSCRIPTION_ID = (2 << 3) | 2;

/**
 * Encodes a batch by splicing each event's bytes, encoded once at publish, into the message: fan-out to
 * N sinks costs N framings, not N encodings. The result is byte-identical to OpenSinkResponse.encode.
 */
export function encodeBatch(batch: readonly QueuedDelivery[]): Buffer {
  const w = new BinaryWriter();
  w.uint32(RESPONSE_EVENTS).fork();
  for (const d of batch) {
    w.uint32(BATCH_DELIVERIES).fork();
    w.uint32(DELIVERY_EVENT).bytes(d.eventBytes);
    for (const id of d.subscriptionIds) w.uint32(DELIVERY_SUBSCRIPTION_ID).string(id);
    w.join();
  }
  w.join();
  const bytes = w.finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function encodeOutbound(out: Outbound): Buffer {
  if ('batch' in out) return encodeBatch(out.batch);
  const bytes = OpenSinkResponse.encode(out.control).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The generated SinkService definition with the splicing serializer on the server side. */
export const sinkServiceDefinition: ServiceDefinition = {
  openSink: { ...SinkServiceService.openSink, responseSerialize: encodeOutbound },
};
