import { Server, ServerCredentials, type ServerDuplexStream, type ServiceDefinition } from '@grpc/grpc-js';
import { Event } from '../../shared/gen/tether/v1/event';
import { SinkServiceService } from '../../shared/gen/tether/v1/sink';
import { encodeBatch } from '../../services/provider/sinks/sink-wire';
import { deliveryBodySize } from '../../services/provider/sinks/wire-size';

/**
 * The ceiling: a bare grpc-js server that streams pre-encoded events to every connected stream as fast
 * as flow control allows, `perMessage` events per gRPC message. No matching, no queues, no tracking.
 */
export class RawStreamServer {
  private readonly server = new Server();
  private readonly streams = new Set<ServerDuplexStream<unknown, Buffer>>();
  /** Called with the time a stream ended, for the reclaim-latency comparison. */
  onCancelled: (at: number) => void = () => undefined;
  port = 0;

  constructor() {
    const def: ServiceDefinition = { openSink: { ...SinkServiceService.openSink, responseSerialize: (b: Buffer) => b } };
    this.server.addService(def, {
      openSink: (call: ServerDuplexStream<unknown, Buffer>) => {
        call.once('data', () => this.streams.add(call));
        call.on('cancelled', () => {
          this.streams.delete(call);
          this.onCancelled(Date.now());
        });
        call.on('error', () => this.streams.delete(call));
      },
    });
  }

  async start(): Promise<void> {
    this.port = await new Promise((resolve, reject) =>
      this.server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
    );
  }

  get connected(): number {
    return this.streams.size;
  }

  /** Sends `count` events of `payloadBytes` to every stream; resolves when all are written. */
  async blast(count: number, payloadBytes: number, perMessage: number): Promise<void> {
    const eventBytes = Event.encode({ id: 'x', source: 'raw', type: 't', topic: 'bench.x', time: '', dataContentType: '', extensions: {}, data: Buffer.alloc(payloadBytes, 7), sequence: '1' }).finish();
    const message = encodeBatch(Array.from({ length: perMessage }, () => ({ eventBytes, subscriptionIds: ['s'], size: deliveryBodySize(eventBytes.length, ['s']), replay: false })));
    await Promise.all(
      [...this.streams].map(async (call) => {
        for (let sent = 0; sent < count; sent += perMessage) {
          if (!call.write(message)) await new Promise((r) => call.once('drain', r));
        }
      }),
    );
  }

  async stop(): Promise<void> {
    for (const s of this.streams) s.end();
    this.server.forceShutdown();
  }
}
