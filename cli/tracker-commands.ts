import { Metadata } from '@grpc/grpc-js';
import { clientOptions } from '../shared/client-options';
import { ConnectionTrackerServiceClient, type GetTotalsResponse, type WatchReclaimsResponse } from '../shared/gen/tether/v1/tracker';
import { type CommonOptions, out, printObject, printTable, unary } from './format';

function tracker(opts: CommonOptions): ConnectionTrackerServiceClient {
  return new ConnectionTrackerServiceClient(opts.address, opts.credentials, clientOptions());
}

export async function sinks(opts: CommonOptions, local = false): Promise<void> {
  const client = tracker(opts);
  const res = await unary<{ sinks: object[] }>(opts, (o, cb) => client.listSinks({ local }, new Metadata(), o, cb));
  printTable(opts, res.sinks as Array<Record<string, unknown>>, '(no open sinks)');
  client.close();
}

export async function subscriptions(opts: CommonOptions, sinkId: string): Promise<void> {
  const client = tracker(opts);
  const res = await unary<{ subscriptions: Array<{ subscriptionId: string; pattern: string; attributes: Record<string, string> }> }>(opts, (o, cb) =>
    client.listSubscriptions({ sinkId }, new Metadata(), o, cb),
  );
  printTable(
    opts,
    res.subscriptions.map((s) => ({ subscriptionId: s.subscriptionId, pattern: s.pattern, attributes: JSON.stringify(s.attributes) })),
  );
  client.close();
}

export async function totals(opts: CommonOptions, local = false): Promise<void> {
  const client = tracker(opts);
  const res = await unary<GetTotalsResponse>(opts, (o, cb) => client.getTotals({ local }, new Metadata(), o, cb));
  printObject(opts, { ...res });
  client.close();
}

export async function evict(opts: CommonOptions, sinkId: string, message: string): Promise<void> {
  const client = tracker(opts);
  const res = await unary<{ reclaimedSubscriptions: number }>(opts, (o, cb) => client.evictSink({ sinkId, message }, new Metadata(), o, cb));
  printObject(opts, { evicted: sinkId, reclaimedSubscriptions: res.reclaimedSubscriptions });
  client.close();
}

/** Revokes a subject: its sinks close as revoked, its credentials issued until now are refused. */
export async function revoke(opts: CommonOptions, subject: string, message: string): Promise<void> {
  const client = tracker(opts);
  const res = await unary<object>(opts, (o, cb) => client.revokeSubject({ subject, message }, new Metadata(), o, cb));
  printObject(opts, { revoked: subject, ...res });
  client.close();
}

/** Without --follow: reclaim counts by reason. With it: each reclaim as it happens, until interrupted. */
export async function reclaims(opts: CommonOptions, follow: boolean, count: number, local = false): Promise<void> {
  if (!follow) {
    const client = tracker(opts);
    const t = await unary<{ reclaimedSinksByReason: Record<string, string>; reclaimedSubscriptionsByReason: Record<string, string> }>(opts, (o, cb) =>
      client.getTotals({ local }, new Metadata(), o, cb),
    );
    printTable(
      opts,
      Object.entries(t.reclaimedSinksByReason).map(([reason, n]) => ({ reason, sinks: n, subscriptions: t.reclaimedSubscriptionsByReason[reason] ?? '0' })),
    );
    client.close();
    return;
  }
  const client = tracker(opts);
  const call = client.watchReclaims({ local });
  let seen = 0;
  await new Promise<void>((resolve, reject) => {
    call.on('data', ({ record }: WatchReclaimsResponse) => {
      if (!record) return;
      if (opts.json) out(JSON.stringify(record));
      else
        out(
          `${record.detectedAt}  ${record.reason.padEnd(19)} ${record.consumerName}${record.subject ? ` [${record.subject}]` : ''} (${record.peer}${record.replicaId ? ` on ${record.replicaId}` : ''})  ${record.subscriptionCount} subscriptions  ` +
            `${record.sinceLastActivityMs.toFixed(0)} ms after last sign of life  sink ${record.sinkId}`,
        );
      if (count > 0 && ++seen >= count) {
        call.cancel();
        resolve();
      }
    });
    call.on('error', (err: Error & { code?: number }) => (err.code === 1 ? resolve() : reject(err)));
    call.on('end', resolve);
    process.once('SIGINT', () => call.cancel());
  });
  client.close();
}
