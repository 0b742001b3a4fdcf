import { status, type sendUnaryData, type ServerUnaryCall, type ServerWritableStream } from '@grpc/grpc-js';
import { TetherError } from '../../../shared/errors';
import { echo, nameProblem, truncateBytes } from '../../../shared/text-bounds';
import type {
  EvictSinkRequest,
  EvictSinkResponse,
  GetTotalsRequest,
  GetTotalsResponse,
  ListSinksRequest,
  ListSinksResponse,
  ListSubscriptionsRequest,
  ListSubscriptionsResponse,
  RevokeSubjectRequest,
  RevokeSubjectResponse,
  WatchReclaimsRequest,
  WatchReclaimsResponse,
} from '../../../shared/gen/tether/v1/tracker';
import type { Logger } from '../../../shared/logger';
import type { ConnectionTracker } from './connection-tracker';
import type { EventRouter } from '../events/event-router';
import type { ProviderConfig } from '../provider-config';
import type { FleetView } from './fleet-view';
import type { Reclaim } from './reclaim-record';
import { ANONYMOUS, type Identity } from '../security/identity';
import type { StreamDeadlines } from '../security/stream-deadlines';
import type { SubjectRevoker } from '../security/subject-revoker';

/** The operator's identity (for the audit trail), the revocation path, and stream expiry. */
export interface TrackerServiceSecurity {
  readonly callerOf: (call: object) => Identity;
  readonly revoker: SubjectRevoker;
  readonly deadlines: StreamDeadlines;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Runs a unary handler and maps a thrown (or rejected) error to its status at this edge. */
function unary<Req, Res>(log: Logger, fn: (req: Req, call: ServerUnaryCall<Req, Res>) => Res | Promise<Res>) {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    const fail = (err: unknown) => {
      const error = TetherError.from(err);
      if (error.code === status.INTERNAL) log.error({ err }, 'tracker call failed');
      callback(error.toServiceError(), null);
    };
    try {
      Promise.resolve(fn(call.request, call)).then((res) => callback(null, res), fail);
    } catch (err) {
      fail(err);
    }
  };
}

export function toReclaimRecord(r: Reclaim): WatchReclaimsResponse {
  return {
    record: {
      sinkId: r.sinkId,
      subject: r.subject,
      consumerName: r.consumerName,
      peer: r.peer,
      subscriptionCount: r.subscriptionCount,
      reason: r.reason,
      detectedAt: iso(r.detectedAt),
      sinceLastActivityMs: r.sinceLastActivityMs,
      sinkAgeMs: r.sinkAgeMs,
      replicaId: r.replicaId,
    },
  };
}

/**
 * The operator's ConnectionTrackerService. With a fleet (replicas on a shared log), ListSinks, GetTotals
 * and WatchReclaims cover every replica unless the request says `local`, and EvictSink reaches the
 * replica holding the sink.
 */
export function createTrackerHandlers(
  tracker: ConnectionTracker,
  router: EventRouter,
  fleet: FleetView,
  config: ProviderConfig,
  log: Logger,
  security?: TrackerServiceSecurity,
) {
  const callerOf = (call: object) => (security ? security.callerOf(call) : ANONYMOUS);
  const watcherQueueMax = config.watcherQueueMax;
  const replicaId = config.replicaId;
  return {
    listSinks: unary<ListSinksRequest, ListSinksResponse>(log, (req) => ({
      sinks: [
        ...tracker.list().map((s) => ({
          sinkId: s.id,
          subject: s.identity.caller.subject,
          consumerName: s.identity.consumerName,
          peer: s.identity.peer,
          openedAt: iso(s.openedAt),
          subscriptionCount: s.subscriptionCount,
          queueDepth: s.queueDepth,
          queueBytes: String(s.queueBytes),
          lastActivity: iso(s.lastActivity),
          replicaId,
        })),
        ...(req.local ? [] : fleet.remoteSinks()).map((s) => ({
          sinkId: s.sinkId,
          subject: '', // another replica's table does not carry subjects
          consumerName: s.consumerName,
          peer: s.peer,
          openedAt: iso(s.openedAt),
          subscriptionCount: s.subscriptionCount,
          queueDepth: s.queueDepth,
          queueBytes: String(s.queueBytes),
          lastActivity: iso(s.lastActivity),
          replicaId: s.replicaId,
        })),
      ],
    })),

    listSubscriptions: unary<ListSubscriptionsRequest, ListSubscriptionsResponse>(log, (req) => {
      const sink = tracker.get(checkSinkId(req.sinkId));
      if (!sink) throw TetherError.notFound(`no open sink ${echo(req.sinkId)}`);
      return {
        subscriptions: [...sink.subscriptions()].map((sub) => ({
          subscriptionId: sub.id,
          pattern: sub.pattern,
          attributes: Object.fromEntries(pairs(sub.attributes)),
        })),
      };
    }),

    getTotals: unary<GetTotalsRequest, GetTotalsResponse>(log, (req) => {
      const t = tracker.totals();
      const others = req.local ? [] : fleet.remoteTotals();
      const sum = (pick: (x: { reclaimedSinks: Record<string, number>; reclaimedSubscriptions: Record<string, number> }) => Record<string, number>) => {
        const out: Record<string, string> = {};
        for (const x of [t, ...others]) for (const [k, v] of Object.entries(pick(x))) out[k] = String(Number(out[k] ?? 0) + v);
        return out;
      };
      return {
        liveSinks: t.liveSinks + others.reduce((n, o) => n + o.liveSinks, 0),
        liveSubscriptions: t.liveSubscriptions + others.reduce((n, o) => n + o.liveSubscriptions, 0),
        reclaimedSinksByReason: sum((x) => x.reclaimedSinks),
        reclaimedSubscriptionsByReason: sum((x) => x.reclaimedSubscriptions),
        detectionLatency: {
          count: String(t.detectionLatency.count),
          p50Ms: t.detectionLatency.p50,
          p99Ms: t.detectionLatency.p99,
          maxMs: t.detectionLatency.max,
        },
        epoch: router.epoch,
        headSequence: String(router.headSequence),
        replicaIds: [replicaId, ...others.map((o) => o.replicaId)],
      };
    }),

    evictSink: unary<EvictSinkRequest, EvictSinkResponse>(log, async (req, call) => {
      const sinkId = checkSinkId(req.sinkId);
      const message = truncateBytes(req.message, MAX_EVICT_MESSAGE_BYTES);
      if (tracker.get(sinkId)) return { reclaimedSubscriptions: tracker.evict(sinkId, message, callerOf(call).subject) };
      let remote: number | undefined;
      try {
        remote = await fleet.evictRemote(sinkId, message);
      } catch (err) {
        throw TetherError.unavailable(`the replica holding sink ${echo(sinkId)} did not answer: ${(err as Error).message}`);
      }
      if (remote === undefined) throw TetherError.notFound(`no open sink ${echo(sinkId)}`);
      return { reclaimedSubscriptions: remote };
    }),

    revokeSubject: unary<RevokeSubjectRequest, RevokeSubjectResponse>(log, (req, call) => {
      if (!security) throw new TetherError(status.FAILED_PRECONDITION, 'this provider has no authentication configured: there are no subjects to revoke');
      return security.revoker.revoke(req.subject, truncateBytes(req.message, MAX_EVICT_MESSAGE_BYTES), callerOf(call).subject);
    }),

    /** Streams reclaims as they happen; a watcher that falls watcherQueueMax behind is dropped. */
    watchReclaims(call: ServerWritableStream<WatchReclaimsRequest, WatchReclaimsResponse>): void {
      let backlog = 0;
      let stop: (() => void) | undefined;
      let stopRemote: (() => void) | undefined;
      let unwatch: (() => void) | undefined;
      const end = () => {
        stop?.();
        stopRemote?.();
        unwatch?.();
      };
      const send = (record: Reclaim) => {
        if (backlog >= watcherQueueMax) {
          end();
          call.emit('error', TetherError.exhausted(`watcher fell ${backlog} records behind`).toServiceError());
          return;
        }
        backlog++;
        call.write(toReclaimRecord(record), () => backlog--);
      };
      try {
        stop = tracker.onReclaim(send, () => {
          stopRemote?.();
          call.end();
        });
        if (!call.request.local) stopRemote = fleet.onRemoteReclaim(send);
      } catch (err) {
        call.emit('error', TetherError.from(err).toServiceError());
        return;
      }
      const caller = callerOf(call);
      unwatch = security?.deadlines.watch(caller, (why) => {
        end();
        call.emit('error', TetherError.unauthenticated(`the credentials of ${caller.subject} ${why === 'revoked' ? 'were revoked' : 'expired'}`).toServiceError());
      });
      call.on('cancelled', end);
      call.on('close', end);
      if (call.cancelled) end();
    },
  };
}

/** Sink ids are UUIDs: anything longer or unprintable is refused before use, and never echoed whole. */
const MAX_SINK_ID_BYTES = 64;
const MAX_EVICT_MESSAGE_BYTES = 256;

function checkSinkId(id: string): string {
  const problem = nameProblem('sink_id', id, MAX_SINK_ID_BYTES);
  if (problem) throw TetherError.invalid(problem);
  return id;
}

function pairs(flat: readonly string[] | null): [string, string][] {
  const out: [string, string][] = [];
  if (flat) for (let i = 0; i < flat.length; i += 2) out.push([flat[i], flat[i + 1]]);
  return out;
}
