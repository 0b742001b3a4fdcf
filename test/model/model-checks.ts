import { ALL_CLOSE_REASONS, CLOSE_REASONS } from '../../shared/close-reason';
import { type ModelSession, describeEnd, fail, short } from './model-types';
import { verifyReader } from './reader-check';
import type { SinkModel } from './sink-model';
import type { World } from './world';

/*
 * The invariants checked after every command: live counts and totals agree, each closed sink is
 * reported once with its count, no timer or drain listener outlives what owns it, each stream ended
 * as its close reason says, and each consumer read what it is owed (reader-check.ts).
 */

/** Compares the provider with the model; throws a ModelViolation naming the first difference. */
export function verifyModel(m: SinkModel, world: World, settled: boolean): void {
  for (const ws of world.sessions) {
    if (ws.stream.violations.length > 0) fail(ws.stream.violations.join('\n'));
  }
  verifyCounts(m, world);
  verifyReclaims(m, world);
  verifyTimers(m, world, settled);
  for (const s of m.sessions) {
    verifyStreamEnd(world, s);
    if (s.sink) verifyReader(m, world, s, s.sink, settled);
  }
}

function verifyCounts(m: SinkModel, world: World): void {
  const live = m.liveSinks();
  const modelSubs = live.reduce((n, k) => n + k.subs.size, 0);
  const trackerSinks = world.tracker.list();
  const heldByOpen = trackerSinks.filter((k) => k.state !== 'closed').reduce((n, k) => n + k.subscriptionCount, 0);
  if (trackerSinks.some((k) => k.state === 'closed')) fail('the tracker still lists a closed sink');
  if (world.registry.liveCount !== heldByOpen || heldByOpen !== modelSubs) {
    fail(`live subscriptions: registry ${world.registry.liveCount}, held by open and closing sinks ${heldByOpen}, model ${modelSubs}`);
  }
  const heldBySessions = world.sessions.reduce((n, ws) => n + (ws.session.sink && ws.session.sink.state !== 'closed' ? ws.session.sink.subscriptionCount : 0), 0);
  if (heldBySessions !== heldByOpen) fail(`sinks open or closing hold ${heldBySessions} subscriptions, the tracker's ${heldByOpen}`);
  // settle() waited for the registry's chunked purge: nothing retired may still sit in the index.
  if (world.registry.indexedCount !== world.registry.liveCount) fail(`the index holds ${world.registry.indexedCount} subscriptions, ${world.registry.liveCount} live`);
  if (world.tracker.liveSinks !== live.length) fail(`live sinks: tracker ${world.tracker.liveSinks}, model ${live.length}`);
  const totals = world.tracker.totals();
  if (totals.liveSubscriptions !== modelSubs) fail(`totals().liveSubscriptions ${totals.liveSubscriptions}, model ${modelSubs}`);
  if (totals.detectionLatency.count !== m.expectedReclaims.size) fail(`totals() counts ${totals.detectionLatency.count} detection latencies, model ${m.expectedReclaims.size} reclaims`);
  for (const r of ALL_CLOSE_REASONS) {
    if (totals.reclaimedSinks[r] !== m.reclaimedSinks.get(r)) fail(`reclaimed sinks (${r}): tracker ${totals.reclaimedSinks[r]}, model ${m.reclaimedSinks.get(r)}`);
    if (totals.reclaimedSubscriptions[r] !== m.reclaimedSubs.get(r)) {
      fail(`reclaimed subscriptions (${r}): tracker ${totals.reclaimedSubscriptions[r]}, model ${m.reclaimedSubs.get(r)}`);
    }
  }
  for (const s of m.sessions) {
    const real = world.sessions[s.key].session.sink;
    const sink = s.sink;
    if (!sink) {
      if (real) fail(`session ${s.key}: the provider opened a sink the model refused or never saw opened`);
      continue;
    }
    if (!real) fail(`session ${s.key}: the model opened a sink the provider did not`);
    sink.id ||= real.id;
    if (real.state !== sink.state) fail(`session ${s.key}: sink is ${real.state}, model says ${sink.state}${sink.reason ? ` (${sink.reason})` : ''}`);
    if (real.subscriptionCount !== sink.subs.size) fail(`session ${s.key}: sink holds ${real.subscriptionCount} subscriptions, model ${sink.subs.size}`);
    for (const id of sink.subs.keys()) if (!real.subscription(id)) fail(`session ${s.key}: subscription ${short(id)} missing from the sink`);
    if (sink.state === 'closed' && real.closeReason !== sink.reason) fail(`session ${s.key}: closed as ${real.closeReason}, model ${sink.reason}`);
  }
}

function verifyReclaims(m: SinkModel, world: World): void {
  const seen = new Set<string>();
  for (const r of world.reclaims) {
    if (seen.has(r.sinkId)) fail(`sink ${r.sinkId} was reported reclaimed twice`);
    seen.add(r.sinkId);
    const want = m.expectedReclaims.get(r.sinkId);
    if (!want) fail(`sink of session ${keyOf(m, r.sinkId)} reported reclaimed (${r.reason}, ${r.subscriptionCount}) but the model has it ${stateOf(m, r.sinkId)}`);
    if (r.reason !== want.reason || r.subscriptionCount !== want.count) {
      fail(`session ${want.key}: reclaimed as ${r.reason} with ${r.subscriptionCount} subscriptions, model ${want.reason} with ${want.count}`);
    }
    if (r.detectedAt !== want.detectedAt) fail(`session ${want.key}: reclaim detectedAt ${r.detectedAt}, model ${want.detectedAt}`);
    if (r.sinkAgeMs !== want.detectedAt - want.openedAt) fail(`session ${want.key}: sinkAgeMs ${r.sinkAgeMs}, model ${want.detectedAt - want.openedAt}`);
    if (r.sinceLastActivityMs !== want.sinceLastActivityMs) fail(`session ${want.key}: sinceLastActivityMs ${r.sinceLastActivityMs}, model ${want.sinceLastActivityMs}`);
  }
  for (const want of m.expectedReclaims.values()) {
    if (!seen.has(want.sinkId)) fail(`session ${want.key}: closed as ${want.reason} but never reported through onReclaim`);
  }
}

function verifyTimers(m: SinkModel, world: World, settled: boolean): void {
  if (settled && world.scheduler.deferredCount > 0) fail(`${world.scheduler.deferredCount} deferred tasks left after running deferred work`);
  const counts = new Map<string, number>();
  for (const { label } of world.scheduler.pending()) {
    const k = `${label.owner}/${label.kind}`;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  const expect = (k: string, n: number) => {
    const got = counts.get(k) ?? 0;
    if (got !== n) fail(`pending timers ${k}: ${got}, model ${n}`);
    counts.delete(k);
  };
  expect('tracker/sweep', m.running ? 1 : 0);
  expect('history/history-sweep', m.running ? 1 : 0);
  for (const s of m.sessions) {
    expect(`s${s.key}/open-timeout`, s.openTimerLive ? 1 : 0);
    expect(`s${s.key}/classify`, s.classifyTimerLive ? 1 : 0);
    const stream = world.sessions[s.key].stream;
    if (s.sink && s.sink.state !== 'open' && stream.drainListenerCount > 0) {
      fail(`session ${s.key}: ${stream.drainListenerCount} drain listener(s) left on the stream of a ${s.sink.state} sink`);
    }
    const calls = world.classifyCalls.filter((c) => c.key === s.key).map((c) => c.halfClosed);
    if (calls.length !== s.classifyCalls.length || calls.some((h, i) => h !== s.classifyCalls[i])) {
      fail(`session ${s.key}: classify called with [${calls}], model [${s.classifyCalls}]`);
    }
  }
  for (const [k, n] of counts) fail(`${n} unexpected pending timer(s) ${k}`);
}

function verifyStreamEnd(world: World, s: ModelSession): void {
  const stream = world.sessions[s.key].stream;
  const want = s.sink ? s.sink.end : s.end;
  const got = stream.providerEnd;
  if (!want) {
    if (got) fail(`session ${s.key}: the provider ended the stream (${describeEnd(got)}) while the model expects it open`);
    return;
  }
  if (want.kind === 'none') {
    if (got) fail(`session ${s.key}: the provider ended the stream (${describeEnd(got)}) of a sink whose transport was already gone`);
    return;
  }
  if (!got) fail(`session ${s.key}: the stream was not ended; the model expects ${describeEnd(want)}`);
  if (got.kind !== want.kind || (got.kind === 'finish' && want.kind === 'finish' && got.code !== want.code)) {
    fail(`session ${s.key}: the stream ended with ${describeEnd(got)}, the model expects ${describeEnd(want)}`);
  }
  const sink = s.sink;
  if (!sink || sink.writtenAtLeave === undefined) return;
  const after = stream.written.slice(sink.writtenAtLeave);
  const closing = want.kind === 'finish' ? want.closing : undefined;
  if (after.length > (closing ? 1 : 0)) fail(`session ${s.key}: ${after.length} message(s) written after the sink stopped being open`);
  if (closing) {
    const last = after[0];
    const message = last && 'control' in last ? last.control : undefined;
    if (message?.kind?.$case !== 'closing' || message.kind.value.reason !== closing || message.kind.value.reconnect !== CLOSE_REASONS[closing].reconnect) {
      fail(`session ${s.key}: the stream did not end with closing(${closing})`);
    }
  }
}

function keyOf(m: SinkModel, sinkId: string): string {
  return String(m.sessions.find((s) => s.sink?.id === sinkId)?.key ?? '?');
}

function stateOf(m: SinkModel, sinkId: string): string {
  return m.sessions.find((s) => s.sink?.id === sinkId)?.sink?.state ?? 'unknown';
}
