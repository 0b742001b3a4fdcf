import * as crypto from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from 'jose';
import { TetherError } from '../../../shared/errors';
import { echo } from '../../../shared/text-bounds';
import type { PatternLimits } from '../../../shared/topic-pattern';
import { parseGrants, subjectProblem } from './grants';
import { type Identity, identityOf } from './identity';

interface VerifyKey {
  readonly key: crypto.KeyObject;
  readonly alg: string;
}

/** The keys of a JWKS file by key id. Each key verifies only the one algorithm it is for. */
export type KeySet = ReadonlyMap<string, VerifyKey>;

const ALG_BY_KEY: Record<string, string> = { oct: 'HS256', RSA: 'RS256', Ed25519: 'EdDSA', 'P-256': 'ES256', 'P-384': 'ES384' };
const ALLOWED_ALGS = new Set(['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'ES256', 'ES384', 'EdDSA']);

/**
 * Reads a JWKS file: `{"keys": [...]}`. Symmetric (`kty: oct`, HS256, for development) and public keys
 * (RSA, EC, Ed25519) are imported by key id; a private asymmetric key is refused, because the provider
 * only verifies and must not hold what can sign.
 */
export function parseJwks(text: string): KeySet {
  const doc = JSON.parse(text) as { keys?: unknown };
  if (!Array.isArray(doc.keys) || doc.keys.length === 0) throw new Error('no "keys" array');
  const keys = new Map<string, VerifyKey>();
  doc.keys.forEach((jwk: crypto.JsonWebKey & { kid?: string; alg?: string; use?: string }, i) => {
    const kid = jwk.kid ?? ((doc.keys as unknown[]).length === 1 ? '' : undefined);
    if (kid === undefined) throw new Error(`key ${i} has no "kid" (required when the set has several keys)`);
    if (keys.has(kid)) throw new Error(`two keys have kid ${echo(kid)}`);
    if (jwk.use !== undefined && jwk.use !== 'sig') throw new Error(`key ${echo(kid)} is for "${jwk.use}", not "sig"`);
    const alg = jwk.alg ?? ALG_BY_KEY[jwk.kty === 'oct' || jwk.kty === 'RSA' ? jwk.kty : (jwk.crv ?? '')];
    if (!alg || !ALLOWED_ALGS.has(alg)) throw new Error(`key ${echo(kid)}: algorithm ${String(alg)} is not accepted`);
    let key: crypto.KeyObject;
    if (jwk.kty === 'oct') {
      if (!alg.startsWith('HS')) throw new Error(`key ${echo(kid)}: a symmetric key is for HS* only`);
      const secret = Buffer.from(jwk.k ?? '', 'base64url');
      if (secret.length < 32) throw new Error(`key ${echo(kid)}: an HS256 secret needs at least 32 bytes`);
      key = crypto.createSecretKey(secret);
    } else {
      if (jwk.d !== undefined) throw new Error(`key ${echo(kid)} is a private key: the JWKS must hold public keys only`);
      key = crypto.createPublicKey({ key: jwk, format: 'jwk' });
    }
    keys.set(kid, { key, alg });
  });
  return keys;
}

export interface TokenRules {
  readonly issuer: string;
  readonly audience: string;
  readonly clockToleranceMs: number;
  readonly maxLifetimeMs: number;
  readonly cacheEntries: number;
  readonly limits: PatternLimits;
}

/**
 * Verifies bearer tokens (JWT) with jose against the current JWKS: signature by the key the header's
 * `kid` names, with that key's algorithm only; `exp` and `sub` required; issuer and audience when
 * configured; a small clock tolerance, so open sinks expire on time. Verified tokens are cached (bounded,
 * least recently used first out) so a busy unary caller does not pay a signature check per call.
 */
export class TokenVerifier {
  private readonly cache = new Map<string, Identity>();

  constructor(
    private keys: () => KeySet,
    private readonly rules: TokenRules,
  ) {}

  /** Forget cached verifications (the keys changed). */
  clear(): void {
    this.cache.clear();
  }

  /** The identity a token proves, or a TetherError UNAUTHENTICATED saying why not. */
  verify(token: string, now: number): Identity | Promise<Identity> {
    const cached = this.cache.get(token);
    if (cached && cached.expiresAt + this.rules.clockToleranceMs > now) {
      this.cache.delete(token);
      this.cache.set(token, cached);
      return cached;
    }
    this.cache.delete(token);
    return this.verifyAndCache(token, now);
  }

  /** The `sub` a token claims, unverified: only for the audit line of a refusal. */
  static claimedSubject(token: string): string | undefined {
    try {
      const sub = decodeJwt(token).sub;
      return typeof sub === 'string' ? sub.slice(0, 128) : undefined;
    } catch {
      return undefined;
    }
  }

  private async verifyAndCache(token: string, now: number): Promise<Identity> {
    const identity = await this.check(token, now);
    if (this.cache.size >= this.rules.cacheEntries) {
      const oldest = this.cache.keys().next();
      if (!oldest.done) this.cache.delete(oldest.value);
    }
    this.cache.set(token, identity);
    return identity;
  }

  private async check(token: string, now: number): Promise<Identity> {
    let kid: string | undefined;
    try {
      kid = decodeProtectedHeader(token).kid;
    } catch {
      throw TetherError.unauthenticated('the bearer token is not a JWT');
    }
    const keys = this.keys();
    const entry = kid !== undefined ? keys.get(kid) : keys.size === 1 ? [...keys.values()][0] : undefined;
    if (!entry) throw TetherError.unauthenticated(kid === undefined ? 'the token names no key id (kid)' : `the token's key id ${echo(kid)} is not in the JWKS`);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, entry.key, {
        algorithms: [entry.alg],
        issuer: this.rules.issuer || undefined,
        audience: this.rules.audience || undefined,
        clockTolerance: Math.round(this.rules.clockToleranceMs / 1000),
        requiredClaims: ['exp', 'sub'],
        currentDate: new Date(now),
      }));
    } catch (err) {
      throw TetherError.unauthenticated(`token refused: ${describeJoseError(err)}`);
    }
    const problem = subjectProblem(payload.sub);
    if (problem) throw TetherError.unauthenticated(`token refused: ${problem}`);
    const expiresAt = (payload.exp as number) * 1000;
    if (expiresAt - now > this.rules.maxLifetimeMs) {
      throw TetherError.unauthenticated(`token refused: it is valid for ${Math.round((expiresAt - now) / 1000)} s more; the limit is ${this.rules.maxLifetimeMs / 1000} s`);
    }
    let grants;
    try {
      grants = parseGrants(payload, this.rules.limits);
    } catch (err) {
      throw TetherError.unauthenticated(`token refused: ${(err as Error).message}`);
    }
    const issuedAt = typeof payload.iat === 'number' ? payload.iat * 1000 : undefined;
    return identityOf(payload.sub as string, 'token', grants, expiresAt, issuedAt);
  }
}

function describeJoseError(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'it has expired';
  if (err instanceof errors.JWTClaimValidationFailed) return `claim ${err.claim} ${err.reason === 'check_failed' ? 'does not match' : err.reason}`;
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'the signature does not verify';
  if (err instanceof errors.JOSEAlgNotAllowed) return 'its algorithm is not the one of its key';
  if (err instanceof errors.JOSEError) return err.message;
  return (err as Error).message;
}
