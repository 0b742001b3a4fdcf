import type { CloseReason } from '../../shared/close-reason';
import type { SocketOwner, SocketState } from './socket-owner';

/**
 * Names why a sink's stream ended, from how its socket ended (measured on grpc-js 1.14):
 * - kill -9 or reset: the remote FIN/RST reaches the socket before the call ends → crashed;
 * - keepalive timeout: grpc-js destroys the session locally, the socket closes without a remote FIN;
 * - we destroyed the socket for another sink on it → that recorded reason;
 * - the socket stays open → the consumer ended or cancelled just this stream → client-closed.
 * grpc-js cancels the streams before it destroys the socket, so an open socket gets a short window.
 */
export async function classifyBreak(
  sockets: SocketOwner,
  socket: SocketState | undefined,
  windowMs: number,
): Promise<CloseReason> {
  if (!socket) return 'crashed';
  if (!socket.closed && !socket.remoteEnded && !socket.closedBy) await sockets.waitClosed(socket.peer, windowMs);
  if (socket.closedBy) return socket.closedBy;
  if (socket.remoteEnded) return 'crashed';
  if (socket.closed) return 'keepalive-timeout';
  return 'client-closed';
}
