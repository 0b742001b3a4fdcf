import * as fs from 'node:fs';
import * as path from 'node:path';
import { TetherError } from '../../../shared/errors';
import type { Identity } from './identity';

interface Revocation {
  /** Credentials issued at or before this are refused. */
  readonly revokedAt: number;
  /** Until then: by that time every credential issued before revokedAt has expired. */
  readonly until: number;
}

/**
 * Revoked subjects. A revocation refuses every credential of the subject issued until that moment (a
 * token's `iat`, a certificate's notBefore; a token without `iat` counts as issued before), until the
 * last of them can have expired: at least the longest token lifetime the provider accepts, and later if
 * a credential it has seen for the subject lives longer. Credentials issued afterwards are accepted, so
 * re-admitting a subject is issuing it a new token. Bounded in entries; expired entries are dropped. With
 * a file, revocations survive a restart (written atomically on every change).
 */
export class Revocations {
  private readonly entries = new Map<string, Revocation>();

  constructor(
    private readonly maxEntries: number,
    private readonly maxTokenLifetimeMs: number,
    private readonly file: string,
  ) {
    if (file) this.load();
  }

  get size(): number {
    return this.entries.size;
  }

  /** Records a revocation; returns until when it holds. */
  revoke(subject: string, now: number, latestSeenExpiry: number): number {
    this.dropExpired(now);
    if (!this.entries.has(subject) && this.entries.size >= this.maxEntries) {
      throw TetherError.exhausted(`${this.entries.size} revocations are in force; the limit is ${this.maxEntries}`);
    }
    const previous = this.entries.get(subject);
    const until = Math.max(now + this.maxTokenLifetimeMs, Number.isFinite(latestSeenExpiry) ? latestSeenExpiry : 0, previous?.until ?? 0);
    this.entries.set(subject, { revokedAt: now, until });
    this.save();
    return until;
  }

  /** Why the identity's credentials are refused, or undefined when they are not revoked. */
  refusal(identity: Identity, now: number): string | undefined {
    const entry = this.entries.get(identity.subject);
    if (!entry) return undefined;
    if (now >= entry.until) {
      this.entries.delete(identity.subject);
      return undefined;
    }
    if (identity.issuedAt !== undefined && identity.issuedAt > entry.revokedAt) return undefined;
    return `the credentials of ${identity.subject} were revoked at ${new Date(entry.revokedAt).toISOString()}`;
  }

  private dropExpired(now: number): void {
    for (const [subject, entry] of this.entries) if (now >= entry.until) this.entries.delete(subject);
  }

  private load(): void {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    const doc = JSON.parse(text) as Record<string, Revocation>;
    for (const [subject, entry] of Object.entries(doc).slice(0, this.maxEntries)) {
      if (typeof entry?.revokedAt === 'number' && typeof entry.until === 'number') this.entries.set(subject, entry);
    }
  }

  private save(): void {
    if (!this.file) return;
    const tmp = path.join(path.dirname(this.file), `.${path.basename(this.file)}.${process.pid}.tmp`);
    fs.writeFileSync(tmp, JSON.stringify(Object.fromEntries(this.entries)), { mode: 0o600 });
    fs.renameSync(tmp, this.file);
  }
}
