import type { OpenSinkRequest } from '../../../shared/gen/tether/v1/sink';
import type { Identity } from '../security/identity';
import { classifyBreak } from '../tracking/break-classifier';
import type { SocketOwner } from '../tracking/socket-owner';
import { GrpcSinkStream, type SinkCall } from './grpc-sink-stream';
import { SinkSession, type SinkSessionDeps } from './sink-session';

/** Serves OpenSink: wires each grpc-js call's events to a SinkSession, and its socket to the classifier. */
export function createSinkHandler(deps: SinkSessionDeps & { readonly sockets: SocketOwner; readonly callerOf: (call: object) => Identity }) {
  const { config, sockets, scheduler, log } = deps;
  return function openSink(call: SinkCall): void {
    // The peer and its socket are captured now: grpc-js answers 'unknown' once the connection is gone.
    const peer = call.getPeer();
    const socket = sockets.state(peer);
    const stream = new GrpcSinkStream(call, scheduler, config.closeLingerMs, () => sockets.destroy(peer, 'connection-lost'));
    const session = new SinkSession(deps, stream, peer, (halfClosed) => classifyBreak(sockets, socket, config.classifyWindowMs, halfClosed), deps.callerOf(call));
    call.on('data', (request: OpenSinkRequest) => session.onMessage(request));
    call.on('end', () => session.onHalfClose(call.cancelled, () => call.cancelled));
    call.on('cancelled', () => session.onCancel());
    call.on('error', (err) => log.debug({ peer, err: err.message }, 'sink stream error'));
    // A listener attached after the call was already cancelled would never hear of it.
    if (call.cancelled) session.onCancel();
  };
}
