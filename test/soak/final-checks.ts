import { waitFor } from '../helpers/wait';
import type { FaultContext } from './fault-context';
import type { SteadyPublisher } from './publisher';
import type { ReclaimLog } from './reclaim-log';
import type { SoakFigures } from './summary';
import type { TrackerClient } from './tracker-client';
import { checkLoss, lastMatchingSequence, type LossTally } from './truth';

/** Waits (bounded) until every never-killed consumer has handled the last event published to it. */
export async function awaitCatchUp(ctx: FaultContext, publisher: SteadyPublisher, timeoutMs = 20_000): Promise<void> {
  const survivors = ctx.fleet.members.filter((m) => !m.killed);
  const caughtUp = async () => {
    const positions = await Promise.all(survivors.map(async (m) => ((await ctx.fleet.status(m))?.lastSequence ?? -1) >= lastMatchingSequence(publisher, m.subscriptions)));
    return positions.every(Boolean);
  };
  await waitFor('never-killed consumers caught up', caughtUp, timeoutMs, 250).catch(() => undefined); // checkLoss names whoever did not
}

/** The loss check on every consumer never killed, and delivery figures over all of them. */
export async function lossChecks(ctx: FaultContext, publisher: SteadyPublisher, figures: SoakFigures): Promise<void> {
  const epoch = (await ctx.tracker.totals()).epoch;
  const tally: LossTally = { expected: 0, received: 0, inGaps: 0 };
  for (const m of ctx.fleet.members) {
    const status = await ctx.fleet.status(m);
    if (!status) {
      ctx.findings.violate('loss', `"${m.name}" did not answer /status at the end`);
      continue;
    }
    figures.delivered += status.handled;
    if (m.killed) continue;
    figures.consumersChecked++;
    figures.gapsReported += status.gapsReported;
    checkLoss(m, status, epoch, publisher, ctx.findings, tally);
  }
  Object.assign(figures, { lossExpected: tally.expected, lossReceived: tally.received, inGaps: tally.inGaps });
}

/** Every consumer stops cleanly (client-closed), after which the tracker must hold nothing. */
export async function stopAndExpectZero(ctx: FaultContext): Promise<void> {
  for (const m of ctx.fleet.members) ctx.reclaims.expect(m.name, 'shutdown', ['client-closed']);
  await ctx.fleet.stop();
  let last = { liveSinks: -1, liveSubscriptions: -1 };
  await waitFor(
    'tracker back to zero',
    async () => {
      last = await ctx.tracker.totals();
      return last.liveSinks === 0 && last.liveSubscriptions === 0;
    },
    5_000,
  ).catch(() => ctx.findings.violate('shutdown', `after every consumer stopped the tracker still holds ${last.liveSinks} sinks, ${last.liveSubscriptions} subscriptions`));
}

/** Every reclaim the tracker counted was announced on WatchReclaims, and no more. */
export async function checkReclaimCounts(tracker: TrackerClient, reclaims: ReclaimLog, ctx: FaultContext): Promise<void> {
  if (reclaims.breaks > 0) return; // already a violation; records may be missing
  let counted = -1;
  await waitFor(
    'reclaim records',
    async () => {
      const t = await tracker.totals();
      counted = Object.values(t.reclaimedSinksByReason).reduce((sum, n) => sum + Number(n), 0);
      return counted === reclaims.seen.length;
    },
    3_000,
  ).catch(() => ctx.findings.violate('reclaim count', `GetTotals counts ${counted} reclaimed sinks; WatchReclaims announced ${reclaims.seen.length}`));
}
