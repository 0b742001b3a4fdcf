import type { FaultContext, FaultKind, FaultOutcome } from './fault-context';
import { sleep } from './fault-context';
import type { Member } from './fleet';
import type { SeenReclaim } from './reclaim-log';

type ConsumerFault = Exclude<FaultKind, 'slow-reader' | 'flood'>;

/** The reclaim reasons each fault may produce. */
const REASONS: Record<ConsumerFault, string[]> = {
  kill9: ['crashed'],
  'stop-cont': ['keepalive-timeout'],
  'stop-kill': ['keepalive-timeout', 'crashed'],
  'silent-proxy': ['keepalive-timeout'],
  evict: ['evicted'],
};

/**
 * Breaks one real consumer: picks an idle, subscribed member (behind a proxy for silent-proxy), injects the
 * fault, waits for the provider to reclaim exactly that sink within its bound, then undoes the fault
 * (SIGCONT, heal, or restart a killed process).
 */
export async function consumerFault(ctx: FaultContext, kind: ConsumerFault): Promise<FaultOutcome> {
  const candidates = ctx.fleet.members.filter((m) => !m.busy && (kind !== 'silent-proxy' || m.proxy));
  if (candidates.length === 0) return { kind, target: '', skipped: true };
  const member = ctx.rng.pick(candidates);
  member.busy = true;
  try {
    const status = await ctx.fleet.status(member);
    if (!status?.subscribed || !status.sinkId) return { kind, target: member.name, skipped: true };
    const expectation = ctx.reclaims.expect(member.name, kind, REASONS[kind]);
    try {
      const latencyMs = await inject(ctx, kind, member, status.sinkId);
      return { kind, target: member.name, latencyMs };
    } finally {
      expectation.end();
    }
  } finally {
    member.busy = false;
  }
}

async function inject(ctx: FaultContext, kind: ConsumerFault, member: Member, sinkId: string): Promise<number | undefined> {
  const { rng } = ctx;
  const t0 = Date.now();
  switch (kind) {
    case 'kill9': {
      member.killed = true;
      member.proc.signal('SIGKILL');
      const r = await awaitReclaim(ctx, kind, member, sinkId, t0, ctx.timings.crashBoundMs);
      await sleep(rng.int(200, 1_500));
      await ctx.fleet.restart(member);
      return latency(r, t0);
    }
    case 'stop-cont': {
      member.proc.signal('SIGSTOP');
      const r = await awaitReclaim(ctx, kind, member, sinkId, t0, ctx.timings.keepaliveBoundMs);
      await sleep(Math.max(0, t0 + rng.int(1_500, 4_000) - Date.now()));
      member.proc.signal('SIGCONT');
      return latency(r, t0);
    }
    case 'stop-kill': {
      member.proc.signal('SIGSTOP');
      await sleep(rng.int(300, 2_500));
      member.killed = true;
      member.proc.signal('SIGKILL');
      const r = await awaitReclaim(ctx, kind, member, sinkId, t0, ctx.timings.keepaliveBoundMs);
      await ctx.fleet.restart(member);
      return latency(r, t0);
    }
    case 'silent-proxy': {
      const proxy = member.proxy;
      if (!proxy) return undefined;
      proxy.silence();
      try {
        const r = await awaitReclaim(ctx, kind, member, sinkId, t0, ctx.timings.keepaliveBoundMs);
        await sleep(Math.max(0, t0 + rng.int(1_500, 4_000) - Date.now()));
        return latency(r, t0);
      } finally {
        proxy.heal();
      }
    }
    case 'evict': {
      const count = await ctx.tracker.evict(sinkId, 'soak: operator eviction').catch((err: Error) => {
        ctx.findings.violate('evict', `EvictSink(${sinkId}) of "${member.name}" failed: ${err.message}`);
        return -1;
      });
      if (count >= 0 && count !== member.subscriptions) {
        ctx.findings.violate('evict', `EvictSink of "${member.name}" reclaimed ${count} subscriptions; it holds ${member.subscriptions}`);
      }
      return latency(await awaitReclaim(ctx, kind, member, sinkId, t0, ctx.timings.crashBoundMs), t0);
    }
  }
}

async function awaitReclaim(ctx: FaultContext, kind: string, member: Member, sinkId: string, t0: number, boundMs: number): Promise<SeenReclaim | undefined> {
  const r = await ctx.reclaims.reclaimOf(sinkId, Math.max(0, t0 + boundMs + ctx.timings.marginMs - Date.now()));
  if (!r) {
    ctx.findings.violate('detection', `${kind} on "${member.name}": sink ${sinkId} not reclaimed within ${boundMs} + ${ctx.timings.marginMs} ms`);
  } else if (r.record.subscriptionCount !== member.subscriptions) {
    ctx.findings.violate('reclaim count', `${kind} on "${member.name}" reclaimed ${r.record.subscriptionCount} subscriptions; it held ${member.subscriptions}`);
  }
  return r;
}

function latency(r: SeenReclaim | undefined, t0: number): number | undefined {
  return r ? r.detectedAt - t0 : undefined;
}
