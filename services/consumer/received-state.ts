/** One gap the provider told us of: events we will never see. */
export interface GapReport {
  readonly requestedEpoch: string;
  readonly requestedAfterSequence: number;
  readonly epoch: string;
  readonly firstAvailableSequence: number;
  readonly reason: string;
}

/**
 * What the consumer has handled: its position (epoch, last sequence fully handled) for resuming,
 * counts per subscription, duplicates dropped and gaps reported. Deliveries arrive in sequence
 * order on one sink, so anything at or below the position is a duplicate from a replay.
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

  /** Adopts the provider's epoch on a first open. */
  opened(epoch: string, headSequence: number): void {
    if (this.epoch) return;
    this.epoch = epoch;
    this.lastSequence = headSequence;
  }

  /** True when the event is new and should be handled. */
  accept(sequence: number): boolean {
    if (sequence <= this.lastSequence) {
      this.duplicates++;
      return false;
    }
    return true;
  }

  /** Marks an accepted event handled; out-of-order completions are counted (they would be a bug). */
  handledEvent(sequence: number, subscriptionIds: readonly string[]): void {
    if (sequence <= this.lastSequence) this.outOfOrder++;
    else this.lastSequence = sequence;
    this.handled++;
    for (const id of subscriptionIds) {
      if (this.knownIds.has(id)) this.perSubscription.set(id, (this.perSubscription.get(id) ?? 0) + 1);
    }
  }

  gap(report: GapReport): void {
    this.gapCount++;
    if (this.gaps.length >= this.maxGapsKept) this.gaps.shift();
    this.gaps.push(report);
    this.epoch = report.epoch;
    this.lastSequence = report.firstAvailableSequence - 1;
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
