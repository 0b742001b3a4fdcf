import { Server, type ServiceDefinition } from '@grpc/grpc-js';
import { sinkServiceDefinition } from '../../services/provider/sinks/sink-wire';
import { TolerantServer } from '../../services/provider/transport/undecodable';

let deserialize: ((bytes: Buffer) => unknown) | undefined;

/**
 * The request the provider's OpenSink handler gets for bytes that do not decode: produced by the
 * provider's own tolerant deserializer (TolerantServer wraps each method's before handing the definition
 * to grpc-js; the definition is caught there, so no server is started and no grpc-js internals are read).
 */
export function undecodableRequest(bytes: Buffer = Buffer.from([0x0a, 0x05, 0x01])): unknown {
  if (!deserialize) {
    const original = Server.prototype.addService;
    let captured: ServiceDefinition | undefined;
    Server.prototype.addService = function capture(service: ServiceDefinition) {
      captured = service;
    };
    try {
      new TolerantServer({}, new Set()).addService(sinkServiceDefinition, {});
    } finally {
      Server.prototype.addService = original;
    }
    if (!captured) throw new Error('TolerantServer did not hand a service definition to grpc-js');
    deserialize = captured.openSink.requestDeserialize as (bytes: Buffer) => unknown;
  }
  return deserialize(bytes);
}
