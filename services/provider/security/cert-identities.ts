import type { PeerCertificate } from 'node:tls';
import { parse } from 'yaml';
import { TetherError } from '../../../shared/errors';
import { echo } from '../../../shared/text-bounds';
import type { PatternLimits } from '../../../shared/topic-pattern';
import { parseGrants, subjectProblem } from './grants';
import { type Grants, type Identity, identityOf } from './identity';

/** Subject (certificate common name) → what it may do. */
export type CertificateGrants = ReadonlyMap<string, Grants>;

/** Entries in the mapping file; it is read whole into memory. */
const MAX_SUBJECTS = 10_000;

/**
 * The certificate mapping file (YAML or JSON): each verified client certificate's subject common name
 * maps to the same grants a token carries.
 *
 *     subjects:
 *       orders:   { roles: [consumer], subscribe: ["orders.>"] }
 *       ops:      { roles: [operator] }
 */
export function parseCertificateGrants(text: string, limits: PatternLimits): CertificateGrants {
  const doc = parse(text) as { subjects?: Record<string, unknown> } | null;
  const subjects = doc?.subjects;
  if (!subjects || typeof subjects !== 'object') throw new Error('no "subjects" map');
  const entries = Object.entries(subjects);
  if (entries.length > MAX_SUBJECTS) throw new Error(`${entries.length} subjects; the limit is ${MAX_SUBJECTS}`);
  const out = new Map<string, Grants>();
  for (const [subject, raw] of entries) {
    const problem = subjectProblem(subject);
    if (problem) throw new Error(`subject ${echo(subject)}: ${problem}`);
    try {
      out.set(subject, parseGrants(raw ?? {}, limits));
    } catch (err) {
      throw new Error(`subject ${echo(subject)}: ${(err as Error).message}`);
    }
  }
  return out;
}

/** The identity of a verified client certificate, or UNAUTHENTICATED when the mapping does not name it. */
export function certificateIdentity(cert: PeerCertificate, grants: CertificateGrants): Identity {
  const subject = commonName(cert);
  const granted = subject === undefined ? undefined : grants.get(subject);
  if (subject === undefined || !granted) {
    throw TetherError.unauthenticated(`client certificate ${subject === undefined ? 'without a common name' : echo(subject)} is not in the certificate mapping`);
  }
  return identityOf(subject, 'certificate', granted, certificateExpiry(cert), Date.parse(cert.valid_from));
}

export function commonName(cert: PeerCertificate | undefined): string | undefined {
  const cn = cert?.subject?.CN as string | string[] | undefined;
  return Array.isArray(cn) ? undefined : cn;
}

export function certificateExpiry(cert: PeerCertificate): number {
  const at = Date.parse(cert.valid_to);
  return Number.isFinite(at) ? at : 0;
}
