import { PatternList } from './pattern-containment';

export const ROLES = ['publisher', 'consumer', 'operator'] as const;
export type Role = (typeof ROLES)[number];

/** Per-identity limits; a `quotas` claim overrides the configured defaults one by one. */
export interface Quotas {
  readonly sinks: number;
  readonly subscriptions: number;
  readonly publishEventsPerS: number;
  readonly publishBytesPerS: number;
}

/**
 * Who a call comes from, once its credentials have been verified: the subject, its roles and allow-lists,
 * and until when the credentials hold. Every authorization decision reads only this.
 */
export interface Identity {
  /** Empty for the anonymous identity of a provider without authentication. */
  readonly subject: string;
  readonly via: 'token' | 'certificate' | 'none';
  readonly roles: ReadonlySet<Role>;
  readonly publish: PatternList;
  readonly subscribe: PatternList;
  readonly quotas: Partial<Quotas>;
  /** Epoch ms when the credentials expire (the earlier of token and client certificate); Infinity for none. */
  readonly expiresAt: number;
  /** Epoch ms when the credentials were issued (token iat, certificate notBefore); undefined if unknown. */
  readonly issuedAt: number | undefined;
}

/** A provider without authentication: every caller is this one, with every right and no quota. */
export const ANONYMOUS: Identity = Object.freeze({
  subject: '',
  via: 'none',
  roles: new Set<Role>(ROLES),
  publish: new PatternList(['>']),
  subscribe: new PatternList(['>']),
  quotas: {},
  expiresAt: Number.POSITIVE_INFINITY,
  issuedAt: undefined,
});

/** What tokens and certificate mappings both grant. */
export interface Grants {
  readonly roles: readonly Role[];
  readonly publish: readonly string[];
  readonly subscribe: readonly string[];
  readonly quotas: Partial<Quotas>;
}

export function identityOf(
  subject: string,
  via: Identity['via'],
  grants: Grants,
  expiresAt: number,
  issuedAt: number | undefined,
): Identity {
  return Object.freeze({
    subject,
    via,
    roles: new Set(grants.roles),
    publish: new PatternList(grants.publish),
    subscribe: new PatternList(grants.subscribe),
    quotas: grants.quotas,
    expiresAt,
    issuedAt,
  });
}

/** A consumer name is bound to its identity: the subject itself, or the subject, '/', and a suffix. */
export function nameBelongsTo(consumerName: string, identity: Identity): boolean {
  if (identity.via === 'none') return true;
  return consumerName === identity.subject || (consumerName.startsWith(`${identity.subject}/`) && consumerName.length > identity.subject.length + 1);
}
