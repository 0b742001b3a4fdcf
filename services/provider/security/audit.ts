import { Counter, type Registry } from 'prom-client';
import type { Logger } from '../../../shared/logger';

export type AuditEvent =
  | 'authentication-failed'
  | 'tls-rejected'
  | 'denied'
  | 'quota-exceeded'
  | 'evicted'
  | 'revoked'
  | 'credentials-expired';

export interface AuditDetail {
  /** The verified subject; for a failed authentication, the one the credentials claimed goes in `claimed`. */
  readonly subject?: string;
  readonly claimed?: string;
  /** The operator who acted (eviction, revocation). */
  readonly by?: string;
  readonly peer?: string;
  readonly method?: string;
  readonly code?: string;
  readonly reason: string;
  readonly [extra: string]: unknown;
}

/** Label for refusals whose subject was never verified: a claimed name must not become a label. */
export const UNVERIFIED = '(unverified)';
const OTHER = '(other)';

/**
 * The security audit trail: every failed authentication, denial, quota refusal, eviction, revocation and
 * expiry is one structured log line (`"audit": <event>`) naming the subject, and a count in
 * `tether_audit_events_total{event,subject}`. Subject labels are bounded: past `maxSubjectLabels`
 * distinct subjects, the rest count under "(other)". Quota refusals are logged at most once a second
 * per subject (the metric counts every one), so a flooding client cannot flood the log.
 */
export class Audit {
  private readonly counter: Counter<'event' | 'subject'>;
  private readonly labelled = new Set<string>();
  private readonly quietUntil = new Map<string, { until: number; suppressed: number }>();

  constructor(
    private readonly log: Logger,
    registry: Registry,
    private readonly maxSubjectLabels: number,
    private readonly now: () => number = Date.now,
  ) {
    this.counter = new Counter({
      name: 'tether_audit_events_total',
      help: 'Security audit events (failed authentication, denials, quota refusals, evictions, revocations, expiries), by subject',
      labelNames: ['event', 'subject'],
      registers: [registry],
    });
  }

  record(event: AuditEvent, detail: AuditDetail): void {
    const subject = detail.subject || UNVERIFIED;
    this.counter.inc({ event, subject: this.label(subject) });
    let suppressed = 0;
    if (event === 'quota-exceeded') {
      const quiet = this.quiet(`${subject}\u0000${detail.code ?? ''}`);
      if (quiet === 'quiet') return;
      suppressed = quiet;
    }
    this.log.warn({ audit: event, ...detail, subject, ...(suppressed > 0 && { suppressed }) }, `audit: ${event}`);
  }

  private label(subject: string): string {
    if (this.labelled.has(subject)) return subject;
    if (this.labelled.size >= this.maxSubjectLabels) return OTHER;
    this.labelled.add(subject);
    return subject;
  }

  /** 'quiet' when this key logged within the last second; else how many lines were held back before. */
  private quiet(key: string): 'quiet' | number {
    const now = this.now();
    const entry = this.quietUntil.get(key);
    if (entry && now < entry.until) {
      entry.suppressed++;
      return 'quiet';
    }
    if (this.quietUntil.size >= this.maxSubjectLabels) this.quietUntil.clear();
    this.quietUntil.set(key, { until: now + 1_000, suppressed: 0 });
    return entry?.suppressed ?? 0;
  }
}
