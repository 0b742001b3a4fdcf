import { status } from '@grpc/grpc-js';
import { TetherError } from '../../../shared/errors';
import type { Identity, Quotas } from './identity';

/** Tokens refill continuously at `ratePerS` up to `capacity`; `take` says how long to wait when short. */
export class TokenBucket {
  private tokens: number;

  constructor(
    readonly ratePerS: number,
    readonly capacity: number,
    private last: number,
  ) {
    this.tokens = capacity;
  }

  /** Takes `n` tokens and returns 0, or returns the ms until `n` would be available (taking none). */
  take(n: number, now: number): number {
    this.refill(now);
    if (n <= this.tokens) {
      this.tokens -= n;
      return 0;
    }
    if (this.ratePerS <= 0) return Number.POSITIVE_INFINITY;
    return Math.ceil(((n - this.tokens) * 1000) / this.ratePerS);
  }

  giveBack(n: number): void {
    this.tokens = Math.min(this.capacity, this.tokens + n);
  }

  full(now: number): boolean {
    this.refill(now);
    return this.tokens >= this.capacity;
  }

  private refill(now: number): void {
    if (now > this.last) this.tokens = Math.min(this.capacity, this.tokens + ((now - this.last) * this.ratePerS) / 1000);
    this.last = now;
  }
}

export interface QuotaSettings {
  readonly defaults: Quotas;
  /** A bucket holds this much of its per-second rate: the burst an identity may send at once. */
  readonly burstMs: number;
  /** Retry hint for count quotas (sinks, subscriptions): they free up only when something closes. */
  readonly countRetryMs: number;
  /** Identities tracked at once; past it new publishers are refused until idle ones are dropped. */
  readonly maxSubjects: number;
}

interface Usage {
  sinks: number;
  subscriptions: number;
  events?: TokenBucket;
  bytes?: TokenBucket;
}

/**
 * Quotas per identity: open sinks, subscriptions across its sinks, and publish events and bytes per
 * second (token buckets). Each identity has its own counters, so one over its quota is refused alone and
 * at O(1) cost, never slowing anyone else. The anonymous identity of a provider without authentication
 * has no quota (the provider-wide limits still apply). Entries of idle identities are dropped.
 */
export class QuotaLedger {
  private readonly usage = new Map<string, Usage>();

  constructor(private readonly settings: QuotaSettings) {}

  get trackedSubjects(): number {
    return this.usage.size;
  }

  limits(identity: Identity): Quotas {
    return { ...this.settings.defaults, ...identity.quotas };
  }

  /** Counts a new sink, or throws RESOURCE_EXHAUSTED. */
  openSink(identity: Identity): void {
    if (identity.via === 'none') return;
    const limit = this.limits(identity).sinks;
    const usage = this.entry(identity.subject);
    if (usage.sinks >= limit) {
      throw new TetherError(status.RESOURCE_EXHAUSTED, `${identity.subject} holds ${usage.sinks} sinks; its quota is ${limit}`, this.settings.countRetryMs);
    }
    usage.sinks++;
  }

  closeSink(subject: string): void {
    const usage = this.usage.get(subject);
    if (!usage) return;
    usage.sinks = Math.max(0, usage.sinks - 1);
    this.forgetIfIdle(subject, usage, Number.NaN);
  }

  /** Throws RESOURCE_EXHAUSTED when the identity cannot add one more subscription. */
  checkSubscription(identity: Identity): void {
    if (identity.via === 'none') return;
    const limit = this.limits(identity).subscriptions;
    const held = this.usage.get(identity.subject)?.subscriptions ?? 0;
    if (held >= limit) {
      throw new TetherError(status.RESOURCE_EXHAUSTED, `${identity.subject} holds ${held} subscriptions; its quota is ${limit}`, this.settings.countRetryMs);
    }
  }

  subscriptionsChanged(subject: string, delta: number): void {
    if (!subject) return;
    const usage = delta > 0 ? this.entry(subject) : this.usage.get(subject);
    if (!usage) return;
    usage.subscriptions = Math.max(0, usage.subscriptions + delta);
  }

  /** Takes a batch from the identity's publish buckets, or throws RESOURCE_EXHAUSTED with the wait. */
  takePublish(identity: Identity, events: number, bytes: number, now: number): void {
    if (identity.via === 'none') return;
    const limits = this.limits(identity);
    const usage = this.entry(identity.subject);
    const capacity = (rate: number) => Math.max(1, (rate * this.settings.burstMs) / 1000);
    usage.events ??= new TokenBucket(limits.publishEventsPerS, capacity(limits.publishEventsPerS), now);
    usage.bytes ??= new TokenBucket(limits.publishBytesPerS, capacity(limits.publishBytesPerS), now);
    if (events > usage.events.capacity || bytes > usage.bytes.capacity) {
      throw TetherError.exhausted(
        `a batch of ${events} events and ${bytes} bytes exceeds what ${identity.subject} may send at once (${usage.events.capacity} events, ${usage.bytes.capacity} bytes): send smaller batches`,
      );
    }
    const waitEvents = usage.events.take(events, now);
    if (waitEvents > 0) throw new TetherError(status.RESOURCE_EXHAUSTED, `${identity.subject} is over its quota of ${limits.publishEventsPerS} events/s`, waitEvents);
    const waitBytes = usage.bytes.take(bytes, now);
    if (waitBytes > 0) {
      usage.events.giveBack(events); // the batch was not taken
      throw new TetherError(status.RESOURCE_EXHAUSTED, `${identity.subject} is over its quota of ${limits.publishBytesPerS} bytes/s`, waitBytes);
    }
  }

  /** Drops identities with nothing open and full buckets (called from the tracker's sweep). */
  sweep(now: number): void {
    for (const [subject, usage] of this.usage) this.forgetIfIdle(subject, usage, now);
  }

  private forgetIfIdle(subject: string, usage: Usage, now: number): void {
    if (usage.sinks > 0 || usage.subscriptions > 0) return;
    if (Number.isNaN(now) ? usage.events || usage.bytes : (usage.events && !usage.events.full(now)) || (usage.bytes && !usage.bytes.full(now))) return;
    this.usage.delete(subject);
  }

  private entry(subject: string): Usage {
    let usage = this.usage.get(subject);
    if (!usage) {
      if (this.usage.size >= this.settings.maxSubjects) {
        throw new TetherError(status.RESOURCE_EXHAUSTED, `${this.usage.size} identities are being tracked for quotas; the limit is ${this.settings.maxSubjects}`, this.settings.countRetryMs);
      }
      usage = { sinks: 0, subscriptions: 0 };
      this.usage.set(subject, usage);
    }
    return usage;
  }
}
