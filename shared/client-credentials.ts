import * as fs from 'node:fs';
import { type ChannelCredentials, credentials, Metadata } from '@grpc/grpc-js';
import { optionalStr } from './config';

/** The client-side credential settings every Tether client takes (consumer, sample publisher, CLI). */
export const clientCredentialSettings = {
  caFile: optionalStr('TETHER_CA_FILE', 'PEM CA that verifies the provider: set, the client connects over TLS.'),
  certFile: optionalStr('TETHER_CERT_FILE', 'PEM client certificate for mTLS (with TETHER_KEY_FILE).'),
  keyFile: optionalStr('TETHER_KEY_FILE', 'PEM private key of TETHER_CERT_FILE.'),
  tokenFile: optionalStr('TETHER_TOKEN_FILE', "File holding a bearer token (JWT), re-read when it changes; implies TLS (the system's CAs without TETHER_CA_FILE)."),
};

export interface ClientCredentialFiles {
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly tokenFile: string;
}

/** Problems with a set of client credential files, for a service's config check. */
export function clientCredentialProblems(c: ClientCredentialFiles): string[] {
  const problems: string[] = [];
  if ((c.certFile === '') !== (c.keyFile === '')) problems.push('TETHER_CERT_FILE and TETHER_KEY_FILE are set together');
  for (const [name, file] of [['TETHER_CA_FILE', c.caFile], ['TETHER_CERT_FILE', c.certFile], ['TETHER_KEY_FILE', c.keyFile], ['TETHER_TOKEN_FILE', c.tokenFile]] as const) {
    if (file && !fs.existsSync(file)) problems.push(`${name}=${file}: no such file`);
  }
  return problems;
}

/** The client authenticates to the provider (a token or a client certificate). */
export function hasClientAuth(c: ClientCredentialFiles): boolean {
  return c.tokenFile !== '' || c.certFile !== '';
}

/** TLS channel credentials that send `authorization: Bearer <token()>` on every call. */
export function withBearerToken(tls: ChannelCredentials, token: () => string): ChannelCredentials {
  return credentials.combineChannelCredentials(
    tls,
    credentials.createFromMetadataGenerator((_params, callback) => {
      const metadata = new Metadata();
      metadata.set('authorization', `Bearer ${token()}`);
      callback(null, metadata);
    }),
  );
}

/**
 * A client's credentials, from files: TLS (with the CA, and a client certificate for mTLS) and a
 * bearer token. The token file is re-read whenever it changes (checked on every call, by its mtime and
 * size), so a refreshed token is used from the next call on; a token never goes out without TLS.
 * `channel()` builds fresh channel credentials when the certificate files changed, for the next connection.
 */
export class ClientCredentials {
  private token = '';
  private tokenStamp = '';
  private channelStamp = '';
  private built: ChannelCredentials | undefined;

  constructor(readonly files: ClientCredentialFiles) {
    if (files.tokenFile) this.readToken(true);
  }

  get secure(): boolean {
    return this.files.caFile !== '' || this.files.certFile !== '' || this.files.tokenFile !== '';
  }

  /** True when the certificate files changed since the last `channel()`: a new connection should be made. */
  get channelChanged(): boolean {
    return this.built !== undefined && stamp([this.files.caFile, this.files.certFile, this.files.keyFile]) !== this.channelStamp;
  }

  channel(): ChannelCredentials {
    if (this.built && !this.channelChanged) return this.built;
    if (!this.secure) {
      this.built = credentials.createInsecure();
      return this.built;
    }
    this.channelStamp = stamp([this.files.caFile, this.files.certFile, this.files.keyFile]);
    const read = (file: string) => (file ? fs.readFileSync(file) : null);
    const tls = credentials.createSsl(read(this.files.caFile), read(this.files.keyFile), read(this.files.certFile));
    this.built = this.files.tokenFile ? withBearerToken(tls, () => this.currentToken()) : tls;
    return this.built;
  }

  /** The token, re-read if its file changed since the last read. */
  currentToken(): string {
    this.readToken(false);
    return this.token;
  }

  private readToken(first: boolean): void {
    const now = stamp([this.files.tokenFile]);
    if (!first && now === this.tokenStamp) return;
    try {
      const text = fs.readFileSync(this.files.tokenFile, 'utf8').trim();
      if (text) {
        this.token = text;
        this.tokenStamp = now;
      }
    } catch (err) {
      // Mid-rotation the file may be missing for a moment: keep the last token; at start, say so.
      if (first) throw new Error(`TETHER_TOKEN_FILE=${this.files.tokenFile}: ${(err as Error).message}`);
    }
  }
}

function stamp(files: readonly string[]): string {
  return files
    .map((file) => {
      if (!file) return '';
      try {
        const s = fs.statSync(file);
        return `${s.mtimeMs}:${s.size}:${s.ino}`;
      } catch {
        return 'missing';
      }
    })
    .join('|');
}
