import type { CloseReason } from '../../../shared/close-reason';
import type { SocketOwner, SocketState } from './socket-owner';

/**
 * Names why a sink's stream ended, from how its socket ended (measured on grpc-js 1.14):
 * - kill -9 or reset: the remote FIN/RST reaches the socket before the call ends → crashed;
 * - keepalive timeout: grpc-js destroys the session locally, the socket closes without a remote FIN;
 * - we destroyed the socket for another sink on it → that recorded reason;
 * - the socket stays up → the consumer half-closed or cancelled just this stream → client-closed.
 * grpc-js cancels streams before it destroys their socket, so a cancel on a live socket waits a short
 * window to see whether the socket follows. A half-close on a live socket is a clean end at once.
 */
export async function classifyBreak(
  sockets: SocketOwner,
  socket: SocketState | undefined,
  windowMs: number,
  halfClosed: boolean,
): Promise<CloseReason> {
  if (!socket) return 'crashed';
  // Let socket events already in flight (a remote FIN read in the same turn) land first.
  await new Promise((resolve) => setImmediate(resolve));
  const untouched = () => !socket.closed && !socket.remoteEnded && !socket.closedBy;
  if (untouched() && !halfClosed) await sockets.waitClosed(socket.peer, windowMs);
  if (socket.closedBy) return socket.closedBy;
  if (socket.remoteEnded) return 'crashed';
  if (socket.closed) return 'keepalive-timeout';
  return 'client-closed';
}
