import {
  Metadata,
  Server,
  type ServerInterceptor,
  ServerInterceptingCall,
  ServerListenerBuilder,
  type ServerOptions,
  type ServiceDefinition,
  type UntypedServiceImplementation,
  status,
} from '@grpc/grpc-js';

const UNDECODABLE = Symbol('undecodable');

/** A request whose bytes did not decode: handed on instead of a thrown error, so it can be answered properly. */
export interface Undecodable {
  readonly [UNDECODABLE]: true;
  readonly reason: string;
}

export function isUndecodable(value: unknown): value is Undecodable {
  return typeof value === 'object' && value !== null && UNDECODABLE in value;
}

/** Every method's deserializer, made to return an Undecodable instead of throwing. */
function tolerant(definition: ServiceDefinition): ServiceDefinition {
  const out: Record<string, ServiceDefinition[string]> = {};
  for (const [name, method] of Object.entries(definition)) {
    const decode = method.requestDeserialize;
    out[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer) => {
        try {
          return decode(bytes);
        } catch (err) {
          const undecodable: Undecodable = { [UNDECODABLE]: true, reason: (err as Error).message.slice(0, 120) };
          return undecodable;
        }
      },
    };
  }
  return out as ServiceDefinition;
}

/**
 * grpc-js answers bytes that do not decode with INTERNAL ("Error deserializing request"), which tells a
 * client developer the server broke. This answers INVALID_ARGUMENT instead, for every service on the
 * server, health and reflection included. Methods in `handledByService` get the Undecodable itself, so
 * they can close what they own with the right reason (a sink as protocol-error).
 */
function rejectUndecodable(handledByService: ReadonlySet<string>): ServerInterceptor {
  return (method, call) => {
    if (handledByService.has(method.path)) return new ServerInterceptingCall(call);
    return new ServerInterceptingCall(call, {
      start: (next) =>
        next(
          new ServerListenerBuilder()
            .withOnReceiveMessage((message, nextMessage) => {
              if (!isUndecodable(message)) return nextMessage(message);
              call.sendStatus({ code: status.INVALID_ARGUMENT, details: `undecodable request: ${message.reason}`, metadata: new Metadata() });
            })
            .build(),
        ),
    });
  };
}

/** A grpc-js Server whose every service answers undecodable requests with INVALID_ARGUMENT. */
export class TolerantServer extends Server {
  constructor(options: ServerOptions, handledByService: ReadonlySet<string>) {
    super({ ...options, interceptors: [...(options.interceptors ?? []), rejectUndecodable(handledByService)] });
  }

  override addService(service: ServiceDefinition, implementation: UntypedServiceImplementation): void {
    super.addService(tolerant(service), implementation);
  }
}
