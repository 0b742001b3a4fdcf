import type { ServerOptions, ServiceDefinition, UntypedServiceImplementation } from '@grpc/grpc-js';
import { TolerantServer } from '../transport/undecodable';
import type { CallGuard } from './call-guard';

/**
 * The provider's gRPC server: every service added to it, by the provider or by a library (health,
 * reflection), has each method wrapped by the CallGuard, so no call reaches a handler unauthenticated or
 * unauthorized, and a method without an access rule stops the start.
 */
export class GuardedServer extends TolerantServer {
  constructor(
    options: ServerOptions,
    handledByService: ReadonlySet<string>,
    private readonly guard: CallGuard,
  ) {
    super(options, handledByService);
  }

  override addService(service: ServiceDefinition, implementation: UntypedServiceImplementation): void {
    super.addService(service, this.guard.wrap(service, implementation));
  }
}
