import type { RetainedEvent } from '../events/event-history';
import type { ReplaySource } from '../sinks/replay-cursor';

export type LogKind = 'memory' | 'jetstream';

/**
 * A validated batch waiting for its positions. `encode(first)` numbers and encodes its events with
 * `first` as the position of the first one; a log may call it again if another writer took that position.
 */
export interface PreparedBatch {
  readonly count: number;
  /** The publisher's idempotency key, or '' when it sent none. */
  readonly idempotencyKey: string;
  encode(first: number): RetainedEvent[];
}

/** Where the log hands every event it holds, in position order, exactly once. */
export interface LogListener {
  events(events: readonly RetainedEvent[]): void;
  /**
   * Positions from `firstMissing` up to `firstAvailable - 1` will never be seen by this replica (retention
   * moved past them while it was not following): every sink must hear of it.
   */
  gap(firstMissing: number, firstAvailable: number): void;
}

/**
 * The event log under the router, replay and resume: append a batch and learn its positions, read
 * retained events from a position (ReplaySource), follow everything appended. Positions are dense:
 * consecutive events of the log get consecutive integers, so one number says where a consumer is.
 * The memory log answers `append` synchronously, so the default path never waits per event.
 */
export interface EventLog extends ReplaySource {
  readonly kind: LogKind;
  /** Stores a batch; its first position, at once or once the log has stored it durably. */
  append(batch: PreparedBatch): number | Promise<number>;
  /** Sets where appended events go (the router). */
  follow(listener: LogListener): void;
  /** True when an append can be taken now; false while the log's server is unreachable. */
  readonly writable: boolean;
  onWritableChange(fn: (writable: boolean) => void): void;
  /** Resolves true once the head has reached `position`, false after `timeoutMs`. */
  waitForHead(position: number, timeoutMs: number): Promise<boolean>;
  /** Events in the replica's own recent cache. */
  readonly cachedEvents: number;
  /** Enforces age limits when nothing is appended or read. */
  evictExpired(now: number): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}
