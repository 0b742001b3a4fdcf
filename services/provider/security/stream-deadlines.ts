import type { Scheduler } from '../scheduler';
import type { Identity } from './identity';

export type CredentialEnd = 'credentials-expired' | 'revoked';

interface Entry {
  readonly subject: string;
  readonly end: (why: CredentialEnd) => void;
  cancel: () => void;
}

/** setTimeout takes at most 2^31-1 ms; a later expiry is re-armed when that passes. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The long-lived streams other than sinks (PublishStream, WatchReclaims) held by authenticated callers:
 * each ends when its credentials expire, or when an operator revokes its subject. Sinks are the
 * tracker's: its sweep closes them on expiry, and `closeSubject` on revocation.
 */
export class StreamDeadlines {
  private readonly entries = new Set<Entry>();

  constructor(private readonly scheduler: Scheduler) {}

  get size(): number {
    return this.entries.size;
  }

  /** Watches a stream; the returned function forgets it (call it however the stream ends). */
  watch(identity: Identity, end: (why: CredentialEnd) => void): () => void {
    if (identity.via === 'none') return () => undefined;
    const entry: Entry = { subject: identity.subject, end, cancel: () => undefined };
    const arm = () => {
      const wait = identity.expiresAt - this.scheduler.now();
      if (wait <= 0) return this.fire(entry, 'credentials-expired');
      entry.cancel = this.scheduler.after(Math.min(wait, MAX_TIMER_MS), arm);
    };
    this.entries.add(entry);
    arm();
    return () => this.forget(entry);
  }

  /** Ends every stream of the subject; returns how many. */
  revoke(subject: string): number {
    let n = 0;
    for (const entry of [...this.entries]) {
      if (entry.subject !== subject) continue;
      this.fire(entry, 'revoked');
      n++;
    }
    return n;
  }

  private fire(entry: Entry, why: CredentialEnd): void {
    if (!this.entries.has(entry)) return;
    this.forget(entry);
    entry.end(why);
  }

  private forget(entry: Entry): void {
    entry.cancel();
    this.entries.delete(entry);
  }
}
