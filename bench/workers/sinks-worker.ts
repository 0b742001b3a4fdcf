import { credentials } from '@grpc/grpc-js';
import { clientOptions } from '../../shared/client-options';
import { type OpenSinkResponse, SinkServiceClient } from '../../shared/gen/tether/v1/sink';

/** Opens `sinks` idle sinks, each on its own connection with one subscription; reports when all are acked. */
const args = JSON.parse(process.argv[2]) as { address: string; sinks: number; maxMs: number };
setTimeout(() => process.exit(3), args.maxMs).unref();
let acked = 0;
for (let i = 0; i < args.sinks; i++) {
  const client = new SinkServiceClient(args.address, credentials.createInsecure(), clientOptions());
  const call = client.openSink();
  call.on('data', (m: OpenSinkResponse) => {
    if (m.kind?.$case === 'ack' && ++acked === args.sinks) process.send?.({ type: 'ready' });
  });
  call.on('error', () => undefined);
  call.write({ kind: { $case: 'open', value: { consumerName: `idle-${i}`, maxReceiveMessageBytes: 0 } } });
  call.write({ kind: { $case: 'subscribe', value: { subscriptions: [{ subscriptionId: 'a', pattern: `idle.${i}`, attributes: {} }], requestId: '' } } });
}
