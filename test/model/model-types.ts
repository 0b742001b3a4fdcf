import { status } from '@grpc/grpc-js';
import type { CloseReason } from '../../shared/close-reason';
import { SubscriptionAck_Change } from '../../shared/gen/tether/v1/sink';
import { patternMatches } from './model-rules';
import type { ClassifyPlan } from './world';

/** The model's state: what it knows of events, sinks, their subscriptions and what each is owed. */

export interface ModelEvent {
  readonly id: string;
  readonly sequence: number;
  readonly topic: string;
  readonly tokens: readonly string[];
  readonly type: string;
  readonly source: string;
  readonly bytes: number;
  readonly storedAt: number;
}

/** One registration of a subscription id on a sink: from its ADDED ack to its REMOVED ack or the sink's end. */
export interface Generation {
  readonly id: string;
  readonly tokens: readonly string[];
  readonly attributes: ReadonlyArray<readonly [string, string]>;
  readonly resume: 'none' | 'same' | 'other' | 'behind';
  /** Events with a greater sequence are owed to it. */
  readonly startAfter: number;
  endHead?: number;
  endedBy?: 'unsubscribe' | 'close';
  /** Known not to be replaying any more, so its events go through the live queue. */
  certainLive: boolean;
}

export type Reply =
  | { kind: 'opened'; head: number; receive: number }
  | { kind: 'ack'; requestId: string; change: SubscriptionAck_Change; ids: string[]; errors: Array<{ id: string; code: number }> }
  | { kind: 'error'; requestId: string; code: number }
  | { kind: 'gap'; ids: string[]; requestedEpoch: string; requestedAfter: string; firstAvailable: number };

/** What the provider must have done to a stream when it ended it. */
export type ExpectedEnd = { kind: 'none' } | { kind: 'reset' } | { kind: 'finish'; code: number; closing?: CloseReason };

export interface ModelSink {
  id: string;
  state: 'open' | 'closing' | 'closed';
  reason?: CloseReason;
  openedAt: number;
  receive: number;
  readonly subs: Map<string, Generation>;
  readonly gensById: Map<string, Generation[]>;
  readonly replies: Reply[];
  /** Lower and upper bounds on the live deliveries (and bytes) queued for it. */
  low: { count: number; bytes: number };
  high: { count: number; bytes: number };
  end?: ExpectedEnd;
  /** Messages written when it stopped being open: after that only a `closing` may be written. */
  writtenAtLeave?: number;
  /** What its stream looked like when last verified. */
  verified?: string;
  /** Last sign of life the provider can see: a message, or a change in its connection's byte count. */
  lastActivity: number;
  lastBytesRead: number;
}

export interface ModelSession {
  readonly key: number;
  readonly peer: string;
  ended: boolean;
  decided: boolean;
  firstSignAt?: number;
  openTimerLive: boolean;
  classifyTimerLive: boolean;
  halfClosed: boolean;
  cancelled: boolean;
  /** The consumer has half-closed or cancelled (its end may still be held behind paused requests). */
  clientDone: boolean;
  clientCancelled: boolean;
  end?: ExpectedEnd;
  sink?: ModelSink;
  classify: ClassifyPlan;
  held?: { reason: CloseReason; detectedAt: number };
  classifyCalls: boolean[];
}

export interface ExpectedReclaim {
  readonly sinceLastActivityMs: number;
  readonly key: number;
  readonly sinkId: string;
  readonly reason: CloseReason;
  readonly count: number;
  readonly detectedAt: number;
  readonly openedAt: number;
}

export class ModelViolation extends Error {}

export function fail(message: string): never {
  throw new ModelViolation(message);
}

export function matches(gen: Generation, event: ModelEvent): boolean {
  if (!patternMatches(gen.tokens, event.tokens)) return false;
  return gen.attributes.every(([k, v]) => (k === 'type' ? event.type : k === 'source' ? event.source : undefined) === v);
}

/** Long ids of the 'split' profile, shortened for messages. */
export function short(id: string): string {
  return id.length > 12 ? `${id.slice(0, 2)}…(${id.length})` : JSON.stringify(id);
}

export function describeEnd(end: { kind: string; code?: number; closing?: string }): string {
  return end.kind === 'finish' ? `finish(${status[end.code ?? 0]}${end.closing ? `, after closing ${end.closing}` : ''})` : end.kind;
}

export function describeReply(r: Reply | undefined): string {
  if (!r) return 'nothing';
  if (r.kind === 'ack') return `ack ${JSON.stringify(r.requestId)} ${SubscriptionAck_Change[r.change]} [${r.ids.map(short)}]`;
  if (r.kind === 'error') return `error ${status[r.code]} for ${JSON.stringify(r.requestId)}`;
  if (r.kind === 'gap') return `gap for [${r.ids.map(short)}] from ${r.firstAvailable}`;
  return r.kind;
}
