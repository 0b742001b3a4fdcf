import * as crypto from 'node:crypto';
import * as tls from 'node:tls';
import type { Logger } from '../../../shared/logger';
import { WatchedFiles } from './watched-files';

export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  /** Set: client certificates are required and verified against it (mTLS). */
  readonly clientCaFile: string;
}

export interface ServerTlsMaterial {
  readonly options: tls.SecureContextOptions;
  /** The server certificate's notAfter, epoch ms (logged, and warned about when near). */
  readonly notAfter: number;
  readonly subject: string;
}

/**
 * Reads and checks the server's certificate chain, private key and client CA: the key must match the
 * certificate and Node must accept the whole as a secure context. Checked before use, so a rotation
 * caught half-written (new certificate, old key) is refused and the previous material stays in force.
 */
export function parseTlsMaterial([cert, key, ca]: Buffer[]): ServerTlsMaterial {
  const leaf = new crypto.X509Certificate(cert);
  if (!leaf.checkPrivateKey(crypto.createPrivateKey(key))) throw new Error('the private key does not match the certificate');
  const options: tls.SecureContextOptions = { cert, key, ...(ca && { ca }) };
  tls.createSecureContext(options);
  return { options, notAfter: Date.parse(leaf.validTo), subject: leaf.subject.replace(/\n/g, ', ') };
}

/** The server's TLS material, reloaded without a restart when a file changes or on SIGHUP. */
export function watchTlsFiles(files: TlsFiles, checkMs: number, log: Logger): WatchedFiles<ServerTlsMaterial> {
  const paths = [files.certFile, files.keyFile, ...(files.clientCaFile ? [files.clientCaFile] : [])];
  return new WatchedFiles('TLS certificate', paths, parseTlsMaterial, checkMs, log);
}
