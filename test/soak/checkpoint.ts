import type { GetTotalsResponse, SinkInfo } from '../../shared/gen/tether/v1/tracker';
import type { FaultContext } from './fault-context';
import { sleep } from './fault-context';
import type { SoakStatus } from './fleet';
import type { ExpectedSink } from './truth';
import { expectedSinks } from './truth';

const SETTLE_MS = 15_000;
const POLL_MS = 250;

interface Observed {
  sinks: SinkInfo[];
  totals: GetTotalsResponse;
  statuses: Map<string, SoakStatus | undefined>;
}

/**
 * The tracker must equal the truth. With every fault undone and the detection bounds elapsed, polls (for
 * at most SETTLE_MS, while consumers reconnect) until ListSinks shows exactly one sink per expected name
 * with its subscription count, nothing else (no sink the soak saw reclaimed, no raw client it closed),
 * GetTotals agrees, and each consumer's /status names the same sink. Then every sink's ListSubscriptions
 * must list exactly its ids and patterns. Returns whether it passed; each problem left is a violation.
 */
export async function checkpoint(ctx: FaultContext, label: string): Promise<boolean> {
  const expected = expectedSinks(ctx.fleet, ctx.rawSinks);
  const deadline = Date.now() + SETTLE_MS;
  let problems: string[] = ['not observed yet'];
  let observed: Observed | undefined;
  while (problems.length > 0 && Date.now() < deadline) {
    observed = await observe(ctx).catch((err: Error) => {
      problems = [`tracker call failed: ${err.message}`];
      return undefined;
    });
    if (observed) problems = compare(observed, expected, ctx.reclaims.reclaimedSinkIds());
    if (problems.length > 0) await sleep(POLL_MS);
  }
  if (problems.length === 0 && observed) problems = await compareSubscriptions(ctx, observed.sinks, expected);
  for (const p of problems.slice(0, 20)) ctx.findings.violate(`checkpoint ${label}`, p);
  if (problems.length > 20) ctx.findings.violate(`checkpoint ${label}`, `… and ${problems.length - 20} more`);
  const sum = [...expected.values()].reduce((s, e) => s + e.subscriptions.size, 0);
  ctx.findings.say(`checkpoint ${label}: ${problems.length === 0 ? 'PASS' : 'FAIL'} (${expected.size} sinks, ${sum} subscriptions expected)`);
  return problems.length === 0;
}

async function observe(ctx: FaultContext): Promise<Observed> {
  const [sinks, totals, statuses] = await Promise.all([
    ctx.tracker.listSinks(),
    ctx.tracker.totals(),
    Promise.all(ctx.fleet.members.map(async (m) => [m.name, await ctx.fleet.status(m)] as const)),
  ]);
  return { sinks, totals, statuses: new Map(statuses) };
}

function compare({ sinks, totals, statuses }: Observed, expected: Map<string, ExpectedSink>, reclaimed: Set<string>): string[] {
  const problems: string[] = [];
  const byName = new Map<string, SinkInfo[]>();
  for (const s of sinks) byName.set(s.consumerName, [...(byName.get(s.consumerName) ?? []), s]);
  for (const [name, e] of expected) {
    const found = byName.get(name) ?? [];
    if (found.length !== 1) problems.push(`"${name}" has ${found.length} sinks, expected 1`);
    else if (found[0].subscriptionCount !== e.subscriptions.size) {
      problems.push(`"${name}" sink ${found[0].sinkId} holds ${found[0].subscriptionCount} subscriptions, expected ${e.subscriptions.size}`);
    }
    const st = statuses.get(name);
    if (statuses.has(name) && found.length === 1 && (!st?.subscribed || st.sinkId !== found[0].sinkId)) {
      problems.push(`"${name}" /status says ${st ? `sink ${st.sinkId || '-'} subscribed=${st.subscribed}` : 'nothing'}; the tracker has ${found[0].sinkId}`);
    }
  }
  for (const s of sinks) {
    if (!expected.has(s.consumerName)) problems.push(`unexpected sink ${s.sinkId} of "${s.consumerName}" (${s.subscriptionCount} subscriptions) is still open`);
    if (reclaimed.has(s.sinkId)) problems.push(`sink ${s.sinkId} of "${s.consumerName}" was reported reclaimed but is still listed`);
  }
  const listedSubs = sinks.reduce((sum, s) => sum + s.subscriptionCount, 0);
  const wantSubs = [...expected.values()].reduce((sum, e) => sum + e.subscriptions.size, 0);
  if (totals.liveSinks !== expected.size) problems.push(`GetTotals.live_sinks = ${totals.liveSinks}, expected ${expected.size}`);
  if (totals.liveSubscriptions !== wantSubs) problems.push(`GetTotals.live_subscriptions = ${totals.liveSubscriptions}, expected ${wantSubs}`);
  if (totals.liveSubscriptions !== listedSubs) problems.push(`GetTotals.live_subscriptions = ${totals.liveSubscriptions} but ListSinks adds up to ${listedSubs}`);
  return problems;
}

async function compareSubscriptions(ctx: FaultContext, sinks: SinkInfo[], expected: Map<string, ExpectedSink>): Promise<string[]> {
  const problems: string[] = [];
  for (const s of sinks) {
    const want = expected.get(s.consumerName);
    if (!want) continue;
    const subs = await ctx.tracker.listSubscriptions(s.sinkId).catch((err: Error) => {
      problems.push(`ListSubscriptions(${s.sinkId}) of "${s.consumerName}" failed: ${err.message}`);
      return [];
    });
    const wrong = subs.filter((sub) => want.subscriptions.get(sub.subscriptionId) !== sub.pattern);
    const ids = new Set(subs.map((sub) => sub.subscriptionId));
    const missing = [...want.subscriptions.keys()].filter((id) => !ids.has(id));
    if (wrong.length > 0 || missing.length > 0) {
      problems.push(
        `"${s.consumerName}" lists ${subs.length} subscriptions: ${wrong.length} unexpected [${wrong.slice(0, 3).map((w) => `${w.subscriptionId.slice(0, 40)}=${w.pattern.slice(0, 40)}`).join(', ')}], ${missing.length} missing [${missing.slice(0, 3).join(', ')}]`,
      );
    }
  }
  return problems;
}
