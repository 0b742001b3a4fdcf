import type { Reclaim } from './reclaim-record';

/** Another replica's sink, as that replica last published it. */
export interface RemoteSink {
  readonly sinkId: string;
  readonly replicaId: string;
  readonly consumerName: string;
  readonly peer: string;
  readonly openedAt: number;
  readonly subscriptionCount: number;
  readonly queueDepth: number;
  readonly queueBytes: number;
  readonly lastActivity: number;
}

/** Another live replica's totals, as published with its lease. */
export interface ReplicaTotals {
  readonly replicaId: string;
  readonly liveSinks: number;
  readonly liveSubscriptions: number;
  readonly reclaimedSinks: Record<string, number>;
  readonly reclaimedSubscriptions: Record<string, number>;
}

/**
 * What the tracker service needs to show every replica, not just this one. Alone (the memory log) there
 * is nothing else to show; with replicas on a shared log, the other replicas' sink tables and totals come
 * from a NATS KV bucket and their reclaims and evictions travel as NATS messages.
 */
export interface FleetView {
  /** Sinks of the other live replicas. */
  remoteSinks(): RemoteSink[];
  /** Totals of the other live replicas. */
  remoteTotals(): ReplicaTotals[];
  /** Reclaims recorded by the other replicas, as they happen; returns the unsubscribe. */
  onRemoteReclaim(listener: (record: Reclaim) => void): () => void;
  /** Evicts a sink held by another replica; undefined when no replica holds it. */
  evictRemote(sinkId: string, message: string): Promise<number | undefined>;
  start(): Promise<void>;
  stop(): Promise<void>;
}
