import type { Metadata, ServiceDefinition, UntypedHandleCall, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';
import { TetherError } from '../../../shared/errors';
import type { Audit } from './audit';
import type { Authenticator } from './authenticator';
import type { Identity, Role } from './identity';

/** Who may call a method: anyone (health), any authenticated caller, or a caller with a role. */
export type Access = { readonly open: true } | { readonly role: Role | 'any' };

/**
 * Every method the provider serves and who may call it. A service added to the server with a method
 * missing here is refused at start-up: a new method is closed until someone decides who may call it.
 */
export const METHOD_ACCESS: Readonly<Record<string, Access>> = {
  '/tether.v1.SinkService/OpenSink': { role: 'consumer' },
  '/tether.v1.PublisherService/Publish': { role: 'publisher' },
  '/tether.v1.PublisherService/PublishStream': { role: 'publisher' },
  '/tether.v1.ConnectionTrackerService/ListSinks': { role: 'operator' },
  '/tether.v1.ConnectionTrackerService/ListSubscriptions': { role: 'operator' },
  '/tether.v1.ConnectionTrackerService/GetTotals': { role: 'operator' },
  '/tether.v1.ConnectionTrackerService/WatchReclaims': { role: 'operator' },
  '/tether.v1.ConnectionTrackerService/EvictSink': { role: 'operator' },
  '/tether.v1.ConnectionTrackerService/RevokeSubject': { role: 'operator' },
  '/grpc.health.v1.Health/Check': { open: true },
  '/grpc.health.v1.Health/Watch': { open: true },
  '/grpc.health.v1.Health/List': { open: true },
  '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo': { role: 'any' },
  '/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo': { role: 'any' },
};

/** What the guard reads of any grpc-js server call. */
interface AnyCall {
  readonly metadata: Metadata;
  getPeer(): string;
  /** grpc-js fills in the peer certificate only when TLS verified it against the client CA. */
  getAuthContext(): { sslPeerCertificate?: PeerCertificate };
  emit(event: 'error', err: object): boolean;
}
type Callback = (err: object | null, value?: unknown) => void;

/**
 * Authenticates and authorizes every call before its handler runs, for every service on the server
 * (wrapped as each is added), and hands the handler the caller's Identity through `identity(call)`.
 * A refused call never reaches its handler: unary calls get the status, streams end with it.
 */
export class CallGuard {
  private readonly identities = new WeakMap<object, Identity>();

  constructor(
    private readonly authenticator: Authenticator,
    private readonly audit: Audit,
  ) {}

  /** The verified identity of a call the guard admitted. */
  identity(call: object): Identity {
    const identity = this.identities.get(call);
    if (!identity) throw new Error('a handler ran for a call the guard did not admit');
    return identity;
  }

  wrap(definition: ServiceDefinition, implementation: UntypedServiceImplementation): UntypedServiceImplementation {
    const wrapped: UntypedServiceImplementation = {};
    for (const [name, method] of Object.entries(definition)) {
      const access = METHOD_ACCESS[method.path];
      if (!access) throw new Error(`no access rule for ${method.path}: add it to METHOD_ACCESS`);
      // grpc-js finds a handler by the method's name or its original (lower camel case) name.
      const key = name in implementation ? name : method.originalName;
      const handler = key === undefined ? undefined : (implementation[key] as ((call: AnyCall, callback?: Callback) => void) | undefined);
      if (!handler || key === undefined) continue;
      wrapped[key] = ('open' in access ? handler : this.guarded(method.path, access.role, handler)) as UntypedHandleCall;
    }
    return wrapped;
  }

  private guarded(path: string, role: Role | 'any', handler: (call: AnyCall, callback?: Callback) => void) {
    return (call: AnyCall, callback?: Callback): void => {
      const refuse = (err: unknown) => {
        const error = TetherError.from(err);
        if (callback) callback(error.toServiceError());
        else call.emit('error', error.toServiceError());
      };
      const admit = (identity: Identity) => {
        if (role !== 'any' && !identity.roles.has(role)) {
          const reason = `${identity.subject} lacks the ${role} role for ${path}`;
          this.audit.record('denied', { subject: identity.subject, peer: call.getPeer(), method: path, code: 'PERMISSION_DENIED', reason });
          return refuse(TetherError.denied(reason));
        }
        this.identities.set(call, identity);
        handler(call, callback);
      };
      let result: Identity | Promise<Identity>;
      try {
        result = this.authenticator.authenticate(call.metadata, { peer: call.getPeer(), method: path, certificate: call.getAuthContext().sslPeerCertificate });
      } catch (err) {
        return refuse(err);
      }
      if (result instanceof Promise) result.then(admit, refuse);
      else admit(result);
    };
  }
}
