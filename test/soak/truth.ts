import type { OpenRawSink } from './fault-context';
import type { Findings } from './findings';
import type { Fleet, Member, SoakStatus } from './fleet';
import type { SteadyPublisher } from './publisher';

/** A sink the soak knows should be open: by consumer name, with exactly these subscriptions (id → pattern). */
export interface ExpectedSink {
  readonly name: string;
  readonly subscriptions: ReadonlyMap<string, string>;
}

function consumerSubscriptions(n: number): Map<string, string> {
  return new Map(Array.from({ length: n }, (_, i) => [`s-${i + 1}`, `soak.${i + 1}.ev`]));
}

/** With every fault undone: one sink per consumer with all its subscriptions, plus the raw sinks kept open. */
export function expectedSinks(fleet: Fleet, raw: readonly OpenRawSink[]): Map<string, ExpectedSink> {
  const out = new Map<string, ExpectedSink>();
  for (const m of fleet.members) out.set(m.name, { name: m.name, subscriptions: consumerSubscriptions(m.subscriptions) });
  for (const r of raw) out.set(r.name, { name: r.name, subscriptions: r.subscriptions });
  return out;
}

export interface LossTally {
  /** Deliveries the never-killed consumers should have handled (published, matched, not in a reported gap). */
  expected: number;
  received: number;
  /** Events lost inside reported gaps. */
  inGaps: number;
}

/**
 * For a consumer never killed: every event the publisher got a sequence for, on a topic it subscribes,
 * up to its last handled sequence, was handled exactly once, unless a gap it reported covers it.
 * The consumer started before the first publish, so its window starts at sequence 1.
 */
export function checkLoss(member: Member, status: SoakStatus, epoch: string, publisher: SteadyPublisher, findings: Findings, tally: LossTally): void {
  const who = `"${member.name}" (${member.subscriptions} subscriptions)`;
  if (status.epoch !== epoch) findings.violate('loss', `${who} is in epoch ${status.epoch}, the provider in ${epoch}`);
  if (status.outOfOrder > 0) findings.violate('loss', `${who} handled ${status.outOfOrder} events out of order`);
  if (status.gapsReported > status.gaps.length) {
    findings.violate('loss', `${who} reported ${status.gapsReported} gaps but keeps ${status.gaps.length}: cannot tell which losses were reported`);
  }
  const gaps = status.gaps.filter((g) => g.requestedEpoch === epoch || g.epoch === epoch);
  const inGap = (seq: number) => gaps.some((g) => seq > g.requestedAfterSequence && seq < g.firstAvailableSequence);
  const want = new Array<number>(member.subscriptions + 1).fill(0);
  let lastMatching = 0;
  const { sequences, topics } = publisher;
  for (let i = 0; i < sequences.length; i++) {
    const k = topics[i];
    if (k > member.subscriptions) continue;
    lastMatching = sequences[i];
    if (sequences[i] > status.lastSequence) continue;
    if (inGap(sequences[i])) tally.inGaps++;
    else want[k]++;
  }
  if (status.lastSequence < lastMatching) {
    findings.violate('loss', `${who} stopped at sequence ${status.lastSequence}; the last event for it is ${lastMatching} (not caught up)`);
  }
  const short: string[] = [];
  const extra: string[] = [];
  let missing = 0;
  for (let k = 1; k <= member.subscriptions; k++) {
    const got = status.perSubscription[`s-${k}`] ?? 0;
    tally.expected += want[k];
    tally.received += got;
    if (got < want[k]) {
      missing += want[k] - got;
      short.push(`s-${k} ${got}/${want[k]}`);
    } else if (got > want[k]) extra.push(`s-${k} ${got}/${want[k]}`);
  }
  if (short.length > 0) {
    findings.violate('loss', `${who} lost ${missing} events no gap covers (${status.gapsReported} gaps reported): ${short.slice(0, 6).join(', ')}${short.length > 6 ? ', …' : ''}`);
  }
  if (extra.length > 0) findings.violate('loss', `${who} handled more than was published to it: ${extra.slice(0, 6).join(', ')}`);
}

/** The last sequence the publisher sent to a topic a consumer with `n` subscriptions matches. */
export function lastMatchingSequence(publisher: SteadyPublisher, n: number): number {
  for (let i = publisher.sequences.length - 1; i >= 0; i--) if (publisher.topics[i] <= n) return publisher.sequences[i];
  return 0;
}
