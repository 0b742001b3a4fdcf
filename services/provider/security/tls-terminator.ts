import type * as net from 'node:net';
import * as tls from 'node:tls';
import type { Audit } from './audit';
import { commonName } from './cert-identities';
import type { ServerTlsMaterial } from './tls-credentials';
import type { WatchedFiles } from './watched-files';

/**
 * Runs the TLS handshake on a raw TCP socket the provider accepted, and hands on the TLS socket only
 * when it may carry calls. The provider does TLS itself (Node's tls, never listening on its own) instead
 * of giving grpc-js TLS credentials, because it must see the connection: grpc-js would hide the TLS
 * socket, and with it the remote FIN that tells a crashed consumer from a keepalive timeout, and every
 * handshake refusal would go unaudited. With a client CA, a certificate that does not verify (wrong CA,
 * expired, none) is audited with the reason and the name it claimed, and the connection is closed.
 */
export class TlsTerminator {
  private readonly server: tls.Server;
  private readonly mutual: boolean;
  /** Handshakes under way, by peer address (the raw and the TLS socket report the same one). */
  private readonly pending = new Map<string, (socket: tls.TLSSocket) => void>();

  constructor(
    material: WatchedFiles<ServerTlsMaterial>,
    handshakeTimeoutMs: number,
    private readonly audit: Audit,
  ) {
    this.mutual = material.current.options.ca !== undefined;
    this.server = tls.createServer({
      ...material.current.options,
      requestCert: this.mutual,
      // Verified below, so a refusal can be audited with its reason; the connection is closed then.
      rejectUnauthorized: false,
      ALPNProtocols: ['h2'],
      handshakeTimeout: handshakeTimeoutMs,
      minVersion: 'TLSv1.2',
    });
    material.onChange((next) => this.server.setSecureContext(next.options));
    this.server.on('secureConnection', (socket: tls.TLSSocket) => this.onSecure(socket));
    this.server.on('tlsClientError', (err, socket) => {
      this.audit.record('tls-rejected', { peer: peerOf(socket), code: (err as NodeJS.ErrnoException).code, reason: `TLS handshake failed: ${err.message.slice(0, 200)}` });
    });
  }

  get mutualTls(): boolean {
    return this.mutual;
  }

  /** Starts the handshake on a raw socket; `ready` gets the TLS socket once it may carry HTTP/2. */
  accept(raw: net.Socket, peer: string, ready: (socket: tls.TLSSocket) => void): void {
    this.pending.set(peer, ready);
    raw.once('close', () => {
      if (this.pending.get(peer) === ready) this.pending.delete(peer);
    });
    this.server.emit('connection', raw);
  }

  private onSecure(socket: tls.TLSSocket): void {
    const peer = peerOf(socket);
    const ready = this.pending.get(peer);
    this.pending.delete(peer);
    if (!ready) {
      socket.destroy();
      return;
    }
    if (socket.alpnProtocol !== 'h2') {
      this.audit.record('tls-rejected', { peer, reason: 'the client did not negotiate HTTP/2 (ALPN h2)' });
      socket.destroy();
      return;
    }
    if (this.mutual && !socket.authorized) {
      const claimed = commonName(socket.getPeerCertificate());
      const code = String(socket.authorizationError ?? 'NO_CERTIFICATE');
      this.audit.record('tls-rejected', { claimed, peer, code, reason: `client certificate refused: ${code}` });
      socket.destroy();
      return;
    }
    ready(socket);
  }
}

function peerOf(socket: net.Socket | undefined): string {
  return socket ? `${socket.remoteAddress}:${socket.remotePort}` : 'unknown';
}
