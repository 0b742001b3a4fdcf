import { Server, ServerCredentials, type ServerDuplexStream, type ServiceDefinition } from '@grpc/grpc-js';
import { OpenSinkResponse, SinkServiceService, SubscriptionAck } from '../../shared/gen/tether/v1/sink';
import { PublisherServiceService, type PublishStreamRequest, type PublishStreamResponse } from '../../shared/gen/tether/v1/publisher';
import { decodePublishStreamRequest } from '../../services/provider/events/publish-wire';
import { encodeBatch } from '../../services/provider/sinks/sink-wire';
import { deliveryBodySize } from '../../services/provider/sinks/wire-size';
import type { LazyEvent } from '../../shared/wire/lazy-event';

/**
 * The latency floor for a Node design: a bare grpc-js relay speaking Tether's protocol. A publish batch
 * arrives on a PublishStream and its events' bytes go, as they arrived, in one EventBatch to every open
 * sink stream; the batch is answered. No validation, routing, history, queue bound or tracking.
 */
export class RelayServer {
  private readonly server = new Server();
  private readonly sinks = new Set<ServerDuplexStream<unknown, Buffer>>();
  port = 0;

  constructor() {
    const sink: ServiceDefinition = { openSink: { ...SinkServiceService.openSink, responseSerialize: (b: Buffer) => b } };
    this.server.addService(sink, {
      openSink: (call: ServerDuplexStream<unknown, Buffer>) => {
        // The consumer opens, then subscribes: one ack makes it ready.
        let first = true;
        call.on('data', () => {
          if (first) {
            first = false;
            this.sinks.add(call);
            return;
          }
          call.write(Buffer.from(OpenSinkResponse.encode({ kind: { $case: 'ack', value: SubscriptionAck.fromPartial({}) } }).finish()));
        });
        call.on('cancelled', () => this.sinks.delete(call));
        call.on('error', () => this.sinks.delete(call));
      },
    });
    const publisher: ServiceDefinition = { publishStream: { ...PublisherServiceService.publishStream, requestDeserialize: decodePublishStreamRequest } };
    this.server.addService(publisher, {
      publishStream: (call: ServerDuplexStream<PublishStreamRequest, PublishStreamResponse>) => {
        call.on('data', (req: PublishStreamRequest) => {
          const deliveries = req.events.map((e) => {
            const eventBytes = (e as LazyEvent).encoded;
            return { eventBytes, subscriptionIds: ['s0'], size: deliveryBodySize(eventBytes.length, ['s0']), replay: false };
          });
          const message = encodeBatch(deliveries);
          for (const s of this.sinks) s.write(message);
          call.write({ batchId: req.batchId, sequences: [], epoch: '', code: 0, message: '', retryAfterMs: 0 });
        });
        call.on('error', () => undefined);
      },
    });
  }

  async start(): Promise<void> {
    this.port = await new Promise((resolve, reject) =>
      this.server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
    );
  }

  async stop(): Promise<void> {
    this.server.forceShutdown();
  }
}
