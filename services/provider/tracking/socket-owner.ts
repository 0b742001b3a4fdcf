import * as net from 'node:net';
import { type ConnectionInjector, type Server, ServerCredentials } from '@grpc/grpc-js';
import type { CloseReason } from '../../../shared/close-reason';
import type { TlsTerminator } from '../security/tls-terminator';
import type { LivenessProbe } from './liveness-probe';

/** What the tracker can learn about one accepted connection. */
export interface SocketState {
  readonly peer: string;
  /** The remote end closed or reset the connection (FIN or RST): the peer process is gone. */
  remoteEnded: boolean;
  /** We tore the connection down ourselves, and why. */
  closedBy: CloseReason | undefined;
  closed: boolean;
  /** The raw TCP socket: its byte counter is read for liveness, its close seen, and it is what we destroy. */
  readonly socket: net.Socket;
  readonly closedWaiters: Set<() => void>;
}

/**
 * Accepts TCP connections itself and hands them to grpc-js through the public connection injector, so
 * the provider owns every socket: it sees how each one ended, reads its byte counters for liveness and
 * can destroy it. grpc-js offers no public way to abort one flow-controlled stream; destroying its
 * socket is what releases a consumer that stopped reading.
 *
 * Under TLS the handshake runs here too (TlsTerminator) and grpc-js gets the TLS socket. Liveness still
 * reads the raw socket's byte counter (a keepalive answer is TLS bytes too), and a close is still the raw
 * socket's; but once TLS owns the stream, a remote FIN or reset surfaces only on the TLS socket, so
 * that is where `remoteEnded` is learnt.
 */
export class SocketOwner implements LivenessProbe {
  private readonly sockets = new Map<string, SocketState>();
  private readonly listener: net.Server;
  private readonly injector: ConnectionInjector;

  constructor(
    server: Server,
    maxConnections: number,
    private readonly tls?: TlsTerminator,
  ) {
    this.injector = server.createConnectionInjector(ServerCredentials.createInsecure());
    this.listener = net.createServer({ noDelay: true }, (socket) => this.accept(socket));
    // Past the bound the kernel-accepted socket is closed at once; sinks have their own limit too.
    this.listener.maxConnections = maxConnections;
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.listener.once('error', reject);
      this.listener.listen(port, host, () => {
        this.listener.off('error', reject);
        resolve((this.listener.address() as net.AddressInfo).port);
      });
    });
  }

  get connectionCount(): number {
    return this.sockets.size;
  }

  state(peer: string): SocketState | undefined {
    return this.sockets.get(peer);
  }

  bytesRead(peer: string): number {
    return this.sockets.get(peer)?.socket.bytesRead ?? -1;
  }

  /** Resolves true once the peer's socket has closed, false if it is still open after `ms`. */
  waitClosed(peer: string, ms: number): Promise<boolean> {
    const state = this.sockets.get(peer);
    if (!state || state.closed) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        state.closedWaiters.delete(done);
        resolve(true);
      };
      const timer = setTimeout(() => {
        state.closedWaiters.delete(done);
        resolve(false);
      }, ms);
      timer.unref();
      state.closedWaiters.add(done);
    });
  }

  /** Tears a connection down; every stream on it ends at once. */
  destroy(peer: string, reason: CloseReason): void {
    const state = this.sockets.get(peer);
    if (!state || state.closed) return;
    state.closedBy ??= reason;
    state.socket.destroy();
  }

  /** Stops accepting; with `force`, also destroys every open connection. */
  close(force: boolean): Promise<void> {
    if (force) for (const peer of this.sockets.keys()) this.destroy(peer, 'shutdown');
    return new Promise((resolve) => this.listener.close(() => resolve()));
  }

  private accept(socket: net.Socket): void {
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    const state: SocketState = { peer, remoteEnded: false, closedBy: undefined, closed: false, socket, closedWaiters: new Set() };
    this.sockets.set(peer, state);
    // Only an end or reset the peer started says it is gone. When grpc-js kills a session (keepalive), Node
    // half-closes our side first; a proxy in between answers that FIN with its own, which is no crash.
    const watchEnd = (transport: net.Socket) => {
      transport.on('end', () => {
        if (!transport.writableEnded) state.remoteEnded = true;
      });
      transport.on('error', () => {
        // ECONNRESET and the like: the peer vanished. http2 reports it to the calls; we only note it.
        if (!transport.writableEnded) state.remoteEnded = true;
      });
    };
    watchEnd(socket);
    socket.on('close', () => {
      state.closed = true;
      // A new connection may already reuse this ip:port; a stale close must not delete its entry.
      if (this.sockets.get(peer) === state) this.sockets.delete(peer);
      for (const waiter of [...state.closedWaiters]) waiter();
    });
    if (!this.tls) {
      this.injector.injectConnection(socket);
      return;
    }
    this.tls.accept(socket, peer, (secure) => {
      watchEnd(secure);
      this.injector.injectConnection(secure);
    });
  }
}
