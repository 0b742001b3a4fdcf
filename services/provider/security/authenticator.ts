import type { Metadata } from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';
import { TetherError } from '../../../shared/errors';
import type { Audit } from './audit';
import { type CertificateGrants, certificateExpiry, certificateIdentity, commonName } from './cert-identities';
import { ANONYMOUS, type Identity } from './identity';
import type { Revocations } from './revocations';
import { TokenVerifier } from './token-verifier';

/** The transport facts of one call: where it came from and the client certificate TLS verified, if any. */
export interface CallTransport {
  readonly peer: string;
  readonly method: string;
  readonly certificate: PeerCertificate | undefined;
}

const BEARER = /^Bearer ([A-Za-z0-9_\-.=]+)$/i;
/** Longer authorization values are refused before any parsing. */
const MAX_TOKEN_CHARS = 8_192;

/**
 * Turns a call's credentials into an Identity: a bearer token in `authorization` (verified by the
 * TokenVerifier) or else a verified client certificate named in the certificate mapping. With neither
 * configured, every caller is ANONYMOUS. A token over an mTLS connection is bounded by the certificate's
 * expiry too. Revoked credentials are refused. Every refusal is audited and thrown as UNAUTHENTICATED.
 */
export class Authenticator {
  constructor(
    private readonly tokens: TokenVerifier | undefined,
    private readonly certificates: (() => CertificateGrants) | undefined,
    private readonly revocations: Revocations,
    private readonly audit: Audit,
    private readonly now: () => number = Date.now,
  ) {}

  get enabled(): boolean {
    return this.tokens !== undefined || this.certificates !== undefined;
  }

  authenticate(metadata: Metadata, transport: CallTransport): Identity | Promise<Identity> {
    if (!this.enabled) return ANONYMOUS;
    const values = metadata.get('authorization');
    let token: string | undefined;
    try {
      token = this.bearer(values.map(String));
      if (token === undefined) return this.admit(this.fromCertificate(transport));
    } catch (err) {
      throw this.refuse(err, transport, undefined);
    }
    const bearer = token;
    let verified: Identity | Promise<Identity>;
    try {
      verified = (this.tokens as TokenVerifier).verify(bearer, this.now());
    } catch (err) {
      throw this.refuse(err, transport, bearer);
    }
    if (!(verified instanceof Promise)) return this.admitToken(verified, transport, bearer);
    return verified.then(
      (identity) => this.admitToken(identity, transport, bearer),
      (err: unknown) => {
        throw this.refuse(err, transport, bearer);
      },
    );
  }

  private bearer(values: string[]): string | undefined {
    if (values.length === 0) return undefined;
    if (!this.tokens) throw TetherError.unauthenticated('this provider takes no bearer tokens (it authenticates by client certificate)');
    if (values.length > 1) throw TetherError.unauthenticated('more than one authorization header');
    if (values[0].length > MAX_TOKEN_CHARS) throw TetherError.unauthenticated(`the authorization header is over ${MAX_TOKEN_CHARS} characters`);
    const match = BEARER.exec(values[0]);
    if (!match) throw TetherError.unauthenticated('authorization must be "Bearer <jwt>"');
    return match[1];
  }

  private fromCertificate(transport: CallTransport): Identity {
    if (!transport.certificate || !this.certificates) {
      throw TetherError.unauthenticated(
        this.certificates ? 'no credentials: present a client certificate or send authorization: Bearer <jwt>' : 'no credentials: send authorization: Bearer <jwt>',
      );
    }
    return certificateIdentity(transport.certificate, this.certificates());
  }

  private admitToken(identity: Identity, transport: CallTransport, token: string): Identity {
    try {
      // A token over mTLS holds no longer than the certificate that carries it.
      const certExpiry = transport.certificate ? certificateExpiry(transport.certificate) : Number.POSITIVE_INFINITY;
      const bounded = certExpiry < identity.expiresAt ? Object.freeze({ ...identity, expiresAt: certExpiry }) : identity;
      return this.admit(bounded);
    } catch (err) {
      throw this.refuse(err, transport, token);
    }
  }

  private admit(identity: Identity): Identity {
    const now = this.now();
    if (identity.expiresAt <= now) throw TetherError.unauthenticated(`the ${identity.via === 'token' ? 'token' : 'client certificate'} has expired`);
    const revoked = this.revocations.refusal(identity, now);
    if (revoked) throw TetherError.unauthenticated(revoked);
    return identity;
  }

  private refuse(err: unknown, transport: CallTransport, token: string | undefined): TetherError {
    const error = err instanceof TetherError ? err : TetherError.unauthenticated(`credentials refused: ${(err as Error).message}`);
    const claimed = token !== undefined ? TokenVerifier.claimedSubject(token) : commonName(transport.certificate);
    this.audit.record('authentication-failed', { claimed, peer: transport.peer, method: transport.method, code: 'UNAUTHENTICATED', reason: error.message });
    return error;
  }
}
