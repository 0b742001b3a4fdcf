import type { Findings } from './findings';
import type { Fleet } from './fleet';
import type { ReclaimLog } from './reclaim-log';
import type { Rng } from './rng';
import type { SoakTimings } from './timings';
import type { TrackerClient } from './tracker-client';

export const FAULT_KINDS = ['kill9', 'stop-cont', 'stop-kill', 'silent-proxy', 'evict', 'slow-reader', 'flood'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/**
 * A raw client's sink that must stay open (a flood client after its flood, a slow reader's neighbour):
 * the next checkpoint expects it with exactly these subscriptions, then the soak closes it.
 */
export interface OpenRawSink {
  readonly name: string;
  readonly kind: FaultKind;
  /** Subscription id → pattern. */
  readonly subscriptions: ReadonlyMap<string, string>;
  close(): void;
}

/** What every fault can reach. */
export interface FaultContext {
  readonly address: string;
  readonly fleet: Fleet;
  readonly tracker: TrackerClient;
  readonly reclaims: ReclaimLog;
  readonly findings: Findings;
  readonly rng: Rng;
  readonly rawSinks: OpenRawSink[];
  readonly timings: SoakTimings;
}

/** What one injected fault did. `latencyMs` is from the fault to the provider's detection of it. */
export interface FaultOutcome {
  readonly kind: FaultKind;
  readonly target: string;
  readonly latencyMs?: number;
  /** Not injected (no eligible target): does not count. */
  readonly skipped?: boolean;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
