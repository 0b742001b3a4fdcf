import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type ChannelCredentials, credentials } from '@grpc/grpc-js';
import { withBearerToken } from '../../shared/client-credentials';
import { SignJWT } from 'jose';
import { type CertFiles, DevCa } from '../../services/local/pki';
import type { ProviderConfig } from '../../services/provider/provider-config';

export const ISSUER = 'tether-test';
export const AUDIENCE = 'tether';

export interface TokenClaims {
  sub: string;
  roles?: string[];
  publish?: string[];
  subscribe?: string[];
  quotas?: Record<string, number>;
  /** Seconds from now; negative for an expired token. */
  expiresInS?: number;
  issuedAtS?: number;
  aud?: string;
  iss?: string;
  kid?: string;
  /** Sign with a key the provider does not know, under a kid it does (a forgery). */
  forge?: boolean;
}

/**
 * Real credentials for security tests, in a temporary directory: a CA and a second, unrelated one; the
 * provider's certificate; client certificates (good, from the other CA, expired); a JWKS with an HS256
 * and an Ed25519 key; and tokens signed with jose.
 */
export class SecurityFixtures {
  readonly dir: string;
  readonly ca: DevCa;
  readonly otherCa: DevCa;
  readonly server: CertFiles;
  readonly jwksFile: string;
  readonly identitiesFile: string;
  private readonly hsSecret = crypto.randomBytes(32);
  private readonly ed = crypto.generateKeyPairSync('ed25519');
  private readonly clients = new Map<string, CertFiles>();

  constructor() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tether-sec-'));
    this.ca = DevCa.create(this.dir, 'ca');
    this.otherCa = DevCa.create(this.dir, 'other-ca');
    this.server = this.ca.issue('provider', this.dir, 'server', { san: ['DNS:localhost', 'IP:127.0.0.1'] });
    this.jwksFile = path.join(this.dir, 'jwks.json');
    fs.writeFileSync(
      this.jwksFile,
      JSON.stringify({
        keys: [
          { kty: 'oct', k: this.hsSecret.toString('base64url'), kid: 'hs', alg: 'HS256' },
          { ...this.ed.publicKey.export({ format: 'jwk' }), kid: 'ed', alg: 'EdDSA', use: 'sig' },
        ],
      }),
    );
    this.identitiesFile = path.join(this.dir, 'identities.yaml');
    fs.writeFileSync(
      this.identitiesFile,
      ['subjects:', '  cert-consumer:', '    roles: [consumer, publisher]', '    subscribe: ["certs.>"]', '    publish: ["certs.>"]', '  cert-operator:', '    roles: [operator]', ''].join('\n'),
    );
  }

  /** A client certificate issued by the test CA (or the other one, or already expired). */
  clientCert(name: string, options: { otherCa?: boolean; expired?: boolean; notAfter?: Date } = {}): CertFiles {
    const key = `${name}/${options.otherCa ? 'o' : ''}${options.expired ? 'x' : ''}${options.notAfter ? options.notAfter.getTime() : ''}`;
    let files = this.clients.get(key);
    if (!files) {
      const ca = options.otherCa ? this.otherCa : this.ca;
      files = ca.issue(name, this.dir, `client-${key.replace(/[^a-z0-9-]/gi, '_')}`, { usage: 'client', expired: options.expired, notAfter: options.notAfter });
      this.clients.set(key, files);
    }
    return files;
  }

  async token(claims: TokenClaims): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const { sub, expiresInS = 600, issuedAtS, aud = AUDIENCE, iss = ISSUER, kid = 'hs', forge, ...grants } = claims;
    const jwt = new SignJWT(grants)
      .setProtectedHeader({ alg: kid === 'ed' ? 'EdDSA' : 'HS256', kid })
      .setSubject(sub)
      .setIssuer(iss)
      .setAudience(aud)
      .setIssuedAt(issuedAtS ?? now)
      .setExpirationTime(now + expiresInS);
    if (kid === 'ed') return jwt.sign(forge ? crypto.generateKeyPairSync('ed25519').privateKey : this.ed.privateKey);
    return jwt.sign(forge ? crypto.randomBytes(32) : this.hsSecret);
  }

  /** Writes a token to a file (atomically), for a consumer that re-reads it. */
  async writeToken(file: string, claims: TokenClaims): Promise<string> {
    const token = await this.token(claims);
    fs.writeFileSync(`${file}.tmp`, token);
    fs.renameSync(`${file}.tmp`, file);
    return file;
  }

  /** Provider settings: TLS, tokens, and optionally mTLS with the certificate mapping. */
  providerConfig(options: { mtls?: boolean } = {}): Partial<ProviderConfig> {
    return {
      tlsCertFile: this.server.cert,
      tlsKeyFile: this.server.key,
      authJwksFile: this.jwksFile,
      authIssuer: ISSUER,
      authAudience: AUDIENCE,
      credentialsCheckMs: 100,
      ...(options.mtls && { tlsClientCaFile: this.ca.cert, authCertIdentitiesFile: this.identitiesFile }),
    };
  }

  /** Channel credentials: TLS with the test CA, optionally a client certificate and a bearer token. */
  channel(options: { token?: string; cert?: CertFiles } = {}): ChannelCredentials {
    const cert = options.cert;
    const tls = credentials.createSsl(fs.readFileSync(this.ca.cert), cert ? fs.readFileSync(cert.key) : null, cert ? fs.readFileSync(cert.cert) : null);
    const token = options.token;
    return token ? withBearerToken(tls, () => token) : tls;
  }

  cleanup(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
