/** One gap the provider told us of: events we will never see. */
export interface GapReport {
  readonly requestedEpoch: string;
  readonly requestedAfterSequence: number;
  readonly epoch: string;
  readonly firstAvailableSequence: number;
  readonly reason: string;
}

/** How a delivery relates to what came before it. */
export type Arrival = 'new' | 'continuation' | 'duplicate';

/**
 * What the consumer has handled: its position (epoch, last sequence fully handled) for resuming,
 * counts per subscription, duplicates dropped and gaps reported.
 *
 * The order a consumer can rely on: within one subscription, sequences only increase. This consumer
 * adds all of its subscriptions in one Subscribe, so on its sink every delivery's sequence is at least
 * the one before it. An equal sequence is the same event again, naming more of its subscriptions (the
 * provider splits a delivery whose id list would exceed the message limit): a continuation, not a
 * duplicate. Anything below is a duplicate from a replay.
 */
export class ReceivedState {
  epoch = '';
  lastSequence = 0;
  handled = 0;
  duplicates = 0;
  outOfOrder = 0;
  readonly perSubscription = new Map<string, number>();
  readonly gaps: GapReport[] = [];
  private gapCount = 0;
  /** The highest sequence accepted on the current sink (handled or still queued). */
  private lastAccepted = 0;
  /** Whether lastAccepted arrived on the current sink, so an equal sequence continues it. */
  private continuable = false;

  /**
   * Only the consumer's own subscription ids are counted: ids named by the provider never grow the map
   * (or the per-subscription metric labels) beyond the subscription list.
   */
  constructor(
    private readonly knownIds: ReadonlySet<string>,
    private readonly maxGapsKept = 100,
  ) {}

  isKnown(id: string): boolean {
    return this.knownIds.has(id);
  }

  /** Where to resume, or undefined before the first sink opened. */
  resumePoint(): { epoch: string; afterSequence: string } | undefined {
    return this.epoch ? { epoch: this.epoch, afterSequence: String(this.lastSequence) } : undefined;
  }

  /** Resumes from a position saved by an earlier run of this consumer. */
  restore(epoch: string, lastSequence: number): void {
    this.epoch = epoch;
    this.lastSequence = lastSequence;
  }

  /** Adopts the provider's epoch on a first open; every open starts accepting from the position. */
  opened(epoch: string, headSequence: number): void {
    if (!this.epoch) {
      this.epoch = epoch;
      this.lastSequence = headSequence;
    }
    this.rewind();
  }

  /** Queued events were dropped (the sink broke): accept again from the handled position. */
  rewind(): void {
    this.lastAccepted = this.lastSequence;
    this.continuable = false;
  }

  /** Classifies an arriving delivery; only 'new' and 'continuation' are handled. */
  accept(sequence: number): Arrival {
    if (sequence > this.lastAccepted) {
      this.lastAccepted = sequence;
      this.continuable = true;
      return 'new';
    }
    if (sequence === this.lastAccepted && this.continuable) return 'continuation';
    this.duplicates++;
    return 'duplicate';
  }

  /** More subscriptions of an event already handled: counted, the position unchanged. */
  handledContinuation(subscriptionIds: readonly string[]): void {
    this.count(subscriptionIds);
  }

  /** Marks an accepted event handled; out-of-order completions are counted (they would be a bug). */
  handledEvent(sequence: number, subscriptionIds: readonly string[]): void {
    if (sequence <= this.lastSequence) this.outOfOrder++;
    else this.lastSequence = sequence;
    this.handled++;
    this.count(subscriptionIds);
  }

  private count(subscriptionIds: readonly string[]): void {
    for (const id of subscriptionIds) {
      if (this.knownIds.has(id)) this.perSubscription.set(id, (this.perSubscription.get(id) ?? 0) + 1);
    }
  }

  gap(report: GapReport): void {
    this.gapCount++;
    if (this.gaps.length >= this.maxGapsKept) this.gaps.shift();
    this.gaps.push(report);
    const from = report.firstAvailableSequence - 1;
    // In a new epoch sequences began anew. In the same one a gap never moves the position back, so a
    // late gap for some subscriptions never makes the consumer take events it already handled again.
    this.lastSequence = report.epoch === this.epoch ? Math.max(this.lastSequence, from) : from;
    this.epoch = report.epoch;
    this.rewind();
  }

  get gapsReported(): number {
    return this.gapCount;
  }

  snapshot() {
    return {
      epoch: this.epoch,
      lastSequence: this.lastSequence,
      handled: this.handled,
      duplicates: this.duplicates,
      outOfOrder: this.outOfOrder,
      gapsReported: this.gapCount,
      gaps: this.gaps,
      perSubscription: Object.fromEntries(this.perSubscription),
    };
  }
}
