import type { Server, ServerWritableStream, UntypedServiceImplementation } from '@grpc/grpc-js';
import { HealthImplementation, type ServingStatus } from 'grpc-health-check';
import { TetherError } from '../../../shared/errors';

type WatchCall = ServerWritableStream<{ service: string }, { status: string }>;
type Method = (...args: never[]) => void;

/**
 * grpc-health-check's Health service, with its Watch streams counted and bounded (the library keeps
 * every watcher for ever) and ended on shutdown, so an open watch never holds a draining provider.
 */
export class HealthService {
  private readonly impl: HealthImplementation;
  private readonly watches = new Set<WatchCall>();

  constructor(
    initial: Record<string, ServingStatus>,
    private readonly maxWatches: number,
  ) {
    this.impl = new HealthImplementation(initial);
  }

  get watchCount(): number {
    return this.watches.size;
  }

  setStatus(service: string, value: ServingStatus): void {
    this.impl.setStatus(service, value);
  }

  addToServer(server: Server): void {
    this.impl.addToServer({
      addService: (definition, implementation) => {
        const methods = implementation as Record<string, Method>;
        const watch = methods.watch as unknown as (call: WatchCall) => void;
        const wrapped: UntypedServiceImplementation = {
          ...methods,
          watch: (call: WatchCall) => {
            if (this.watches.size >= this.maxWatches) {
              call.emit('error', TetherError.exhausted(`${this.watches.size} health watches are open; the limit is ${this.maxWatches}`).toServiceError());
              return;
            }
            this.watches.add(call);
            const forget = () => this.watches.delete(call);
            call.on('cancelled', forget);
            call.on('finish', forget);
            watch(call);
          },
        };
        server.addService(definition as Parameters<Server['addService']>[0], wrapped);
      },
    });
  }

  /** Ends every watch (after the NOT_SERVING they were just sent). */
  endWatches(): void {
    for (const call of [...this.watches]) {
      this.watches.delete(call);
      if (!call.cancelled) call.end();
    }
  }
}
