import { randomBytes } from 'node:crypto';
import { jetstream, StorageType } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import type { Logger } from '../../../shared/logger';
import type { ProviderConfig } from '../provider-config';
import type { ConnectionTracker } from './connection-tracker';
import type { FleetView, RemoteSink, ReplicaTotals } from './fleet-view';
import type { Reclaim } from './reclaim-record';

/** A replica's lease value: who it is and its totals, re-put every TETHER_LEASE_RENEW_MS. */
interface Lease extends ReplicaTotals {
  readonly incarnation: string;
}

/** A sink table entry: key `<incarnation>.<sinkId>` in the sinks bucket. */
type SinkEntry = RemoteSink & { readonly incarnation: string };

const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
const parse = <T>(b: Uint8Array): T => JSON.parse(new TextDecoder().decode(b)) as T;

/**
 * The fleet of replicas sharing one JetStream log. Each replica, under a fresh incarnation id per start,
 * keeps a lease in a KV bucket whose entries expire after TETHER_LEASE_TTL_MS (NATS 2.9 has no per-key
 * TTL: the bucket's max_age, re-put on a timer) and its sink table in a second bucket, written on the same
 * timer. Every replica mirrors the sink table through a KV watch, and polls the leases, because on 2.9 an
 * expiring key raises no watch event: an incarnation with sinks and no lease is lost, and the first
 * replica to create its claim key reports its sinks as `replica-lost`, once. A replica that cannot renew
 * its lease for TETHER_FENCE_AFTER_MS closes its own sinks first (fencing), so none is reported lost while
 * still open; those records go out with the claim of its old incarnation, by itself or by another.
 */
export class NatsFleet implements FleetView {
  private incarnation = newIncarnation();
  private nc!: NatsConnection;
  private leases!: KV;
  private table!: KV;
  private readonly mirror = new Map<string, SinkEntry>();
  private live = new Map<string, Lease>();
  /** Own sink entries as last written, to write only changes. */
  private written = new Map<string, string>();
  private lastRenewOk = Date.now();
  private fencedIncarnation: string | undefined;
  private timers: NodeJS.Timeout[] = [];
  private subs: Subscription[] = [];
  private readonly remoteListeners = new Set<(r: Reclaim) => void>();
  private stopped = false;
  private polling = false;

  constructor(
    private readonly config: ProviderConfig,
    private readonly tracker: ConnectionTracker,
    private readonly connection: () => NatsConnection,
    log: Logger,
  ) {
    this.log = log.child({ replica: config.replicaId });
  }

  private readonly log: Logger;

  /** True while this replica is fenced off (cut from NATS): it takes no new sinks. */
  get fenced(): boolean {
    return this.fencedIncarnation !== undefined;
  }

  async start(): Promise<void> {
    this.nc = this.connection();
    const kvm = new Kvm(jetstream(this.nc, { timeout: this.config.natsTimeoutMs }));
    const storage = this.config.streamStorage === 'memory' ? StorageType.Memory : StorageType.File;
    this.leases = await kvm.create(`${this.config.stream}-leases`, { ttl: this.config.leaseTtlMs, history: 1, storage });
    this.table = await kvm.create(`${this.config.stream}-sinks`, { history: 1, storage });
    await this.watchTable();
    this.listen();
    await this.renew();
    this.every(this.config.leaseRenewMs, () => this.renew());
    this.every(this.config.fleetSyncMs, () => this.syncTable());
    this.every(this.config.leasePollMs, () => this.poll());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    for (const s of this.subs) s.unsubscribe();
    // A clean stop: its sinks were closed and reported already; leave nothing to be reported as lost.
    const leave = Promise.allSettled([...[...this.written.keys()].map((k) => this.table.delete(k)), this.leases.delete(this.incarnation)]);
    await Promise.race([leave, new Promise((r) => setTimeout(r, this.config.natsTimeoutMs).unref())]);
  }

  remoteSinks(): RemoteSink[] {
    return [...this.mirror.values()].filter((e) => e.incarnation !== this.incarnation && this.live.has(e.incarnation));
  }

  remoteTotals(): ReplicaTotals[] {
    return [...this.live.values()].filter((l) => l.incarnation !== this.incarnation);
  }

  onRemoteReclaim(listener: (record: Reclaim) => void): () => void {
    this.remoteListeners.add(listener);
    return () => this.remoteListeners.delete(listener);
  }

  async evictRemote(sinkId: string, message: string): Promise<number | undefined> {
    const entry = [...this.mirror.values()].find((e) => e.sinkId === sinkId && e.incarnation !== this.incarnation);
    if (!entry) return undefined;
    const reply = await this.nc.request(this.subject(`evict.${entry.incarnation}`), json({ sinkId, message }), { timeout: this.config.natsTimeoutMs });
    const answer = parse<{ count?: number; error?: string }>(reply.data);
    if (answer.error !== undefined) return undefined;
    return answer.count;
  }

  private subject(suffix: string): string {
    return `${this.config.stream}.fleet.${suffix}`;
  }

  private every(ms: number, fn: () => Promise<void>): void {
    const t = setInterval(() => void fn().catch((err: unknown) => this.log.debug({ err: (err as Error).message, task: fn.name }, 'fleet task failed')), ms);
    t.unref();
    this.timers.push(t);
  }

  /** Reclaims of other replicas, and evictions of this one's sinks asked for elsewhere. */
  private listen(): void {
    const own = this.tracker;
    this.subs.push(
      this.nc.subscribe(this.subject('reclaims'), {
        callback: (_err, msg) => {
          const record = parse<Reclaim & { reporter: string }>(msg.data);
          if (record.reporter === this.incarnation) return;
          for (const l of [...this.remoteListeners]) l(record);
        },
      }),
      this.nc.subscribe(this.subject('evict.*'), {
        callback: (_err, msg) => {
          if (!msg.subject.endsWith(`.${this.incarnation}`)) return;
          const { sinkId, message } = parse<{ sinkId: string; message: string }>(msg.data);
          try {
            msg.respond(json({ count: own.evict(sinkId, message) }));
          } catch (err) {
            msg.respond(json({ error: (err as Error).message }));
          }
        },
      }),
    );
    // Every reclaim this replica records goes to the others' fleet watchers.
    this.tracker.observe((record) => {
      if (!this.stopped) this.nc.publish(this.subject('reclaims'), json({ ...record, reporter: this.incarnation }));
    });
  }

  private async watchTable(): Promise<void> {
    const watch = await this.table.watch();
    void (async () => {
      for await (const e of watch) {
        if (e.operation === 'PUT') {
          if (this.mirror.size < this.config.fleetMaxSinks || this.mirror.has(e.key)) this.mirror.set(e.key, parse<SinkEntry>(e.value));
        } else this.mirror.delete(e.key);
      }
    })().catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'sink table watch ended'));
  }

  /** Re-puts the lease with this replica's totals and writes what changed in its sink table. */
  private async renew(): Promise<void> {
    if (this.stopped) return;
    this.maybeFence();
    const fencedFrom = this.fencedIncarnation;
    // A fenced replica comes back as a new incarnation; its old one is reported by whoever claims it.
    if (fencedFrom && this.incarnation === fencedFrom) {
      this.incarnation = newIncarnation();
      this.written = new Map();
    }
    const t = this.tracker.totals();
    const lease: Lease = {
      incarnation: this.incarnation,
      replicaId: this.config.replicaId,
      liveSinks: t.liveSinks,
      liveSubscriptions: t.liveSubscriptions,
      reclaimedSinks: t.reclaimedSinks,
      reclaimedSubscriptions: t.reclaimedSubscriptions,
    };
    try {
      await this.leases.put(this.incarnation, json(lease));
      this.lastRenewOk = Date.now();
    } catch (err) {
      this.maybeFence();
      throw err;
    }
    if (fencedFrom) await this.unfence(fencedFrom);
    await this.writeTable();
  }

  private lastSync = { changes: -1, subscriptions: -1 };
  private syncing = false;

  /** Between renewals: writes the table only when sinks opened or closed or subscriptions changed. */
  private async syncTable(): Promise<void> {
    const now = { changes: this.tracker.changes, subscriptions: this.tracker.liveSubscriptions };
    if (this.syncing || this.fencedIncarnation || (now.changes === this.lastSync.changes && now.subscriptions === this.lastSync.subscriptions)) return;
    this.syncing = true;
    try {
      await this.writeTable();
      this.lastSync = now;
    } finally {
      this.syncing = false;
    }
  }

  private async writeTable(): Promise<void> {
    const now = new Map<string, string>();
    for (const s of this.tracker.list()) {
      const entry: SinkEntry = {
        incarnation: this.incarnation,
        replicaId: this.config.replicaId,
        sinkId: s.id,
        consumerName: s.identity.consumerName,
        peer: s.identity.peer,
        openedAt: s.openedAt,
        subscriptionCount: s.subscriptionCount,
        queueDepth: s.queueDepth,
        queueBytes: s.queueBytes,
        lastActivity: s.lastActivity,
      };
      now.set(`${this.incarnation}.${s.id}`, JSON.stringify(entry));
    }
    const writes: Promise<unknown>[] = [];
    for (const [key, value] of now) if (this.written.get(key) !== value) writes.push(this.table.put(key, new TextEncoder().encode(value)));
    for (const key of this.written.keys()) if (!now.has(key)) writes.push(this.table.delete(key));
    await Promise.all(writes);
    this.written = now;
  }

  /** Cut off for too long: close every sink (replica-lost) before the lease can expire, and take no more. */
  private maybeFence(): void {
    if (this.fencedIncarnation || Date.now() - this.lastRenewOk < this.config.fenceAfterMs) return;
    this.fencedIncarnation = this.incarnation;
    this.log.error({ incarnation: this.incarnation, sinceRenewMs: Date.now() - this.lastRenewOk }, 'cannot renew the replica lease: fencing (closing every sink as replica-lost)');
    this.tracker.closeAll('replica-lost');
  }

  /** Back in touch: the fenced incarnation's sinks are reported by whoever claims it first. */
  private async unfence(old: string): Promise<void> {
    this.fencedIncarnation = undefined;
    const records = this.tracker.takeFenced();
    await this.leases.delete(old).catch(() => undefined);
    const won = await this.claim(old);
    if (won) {
      for (const r of records) this.tracker.report(r);
      await this.dropEntries(old);
    }
    this.log.info({ incarnation: this.incarnation, fencedIncarnation: old, reported: won ? records.length : 0 }, 'replica lease renewed after fencing');
  }

  /**
   * Finds incarnations with sinks and no lease, and reports their sinks once (whoever claims first). A
   * poll that has not finished within a few request deadlines is given up, so one stuck KV listing cannot
   * stop every later poll.
   */
  private async poll(): Promise<void> {
    if (this.polling || this.stopped) return;
    this.polling = true;
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, 4 * this.config.natsTimeoutMs);
      timer.unref();
    });
    try {
      await Promise.race([this.pollOnce(), bound]);
    } finally {
      clearTimeout(timer);
      this.polling = false;
    }
  }

  private async pollOnce(): Promise<void> {
    // Lost replicas first, each lease read directly: the listing below is an ordered consumer over the whole
    // bucket, slower, and a stuck one holds the poll until its bound; noticing a loss must not wait for it.
    if (!this.fencedIncarnation) await this.reportOrphans();
    const live = new Map<string, Lease>();
    for await (const key of await this.leases.keys()) {
      if (key.startsWith('claim.')) continue;
      const e = await this.leases.get(key);
      if (e && e.operation === 'PUT') live.set(key, parse<Lease>(e.value));
    }
    this.live = live;
  }

  /** Incarnations whose sinks are in the table but whose lease is gone: their sinks reported once, by whoever claims first. */
  private async reportOrphans(): Promise<void> {
    const others = new Set([...this.mirror.values()].map((e) => e.incarnation).filter((i) => i !== this.incarnation));
    const orphans: string[] = [];
    for (const incarnation of others) {
      const lease = await this.leases.get(incarnation);
      if (!lease || lease.operation !== 'PUT') orphans.push(incarnation);
    }
    if (this.fencedIncarnation) return;
    for (const incarnation of orphans) {
      if (!(await this.claim(incarnation))) continue;
      this.log.info({ incarnation }, 'replica lease expired: reporting its sinks replica-lost');
      const now = Date.now();
      for (const e of [...this.mirror.values()].filter((x) => x.incarnation === incarnation)) {
        this.tracker.report({
          sinkId: e.sinkId,
          // Another replica's sink table does not carry subjects.
          subject: '',
          consumerName: e.consumerName,
          peer: e.peer,
          subscriptionCount: e.subscriptionCount,
          reason: 'replica-lost',
          detectedAt: now,
          sinceLastActivityMs: Math.max(0, now - e.lastActivity),
          sinkAgeMs: now - e.openedAt,
          replicaId: e.replicaId,
        });
      }
      await this.dropEntries(incarnation);
    }
  }

  /** True for the one replica whose create of the claim key succeeds (it expires with the TTL). */
  private async claim(incarnation: string): Promise<boolean> {
    try {
      await this.leases.create(`claim.${incarnation}`, json({ by: this.incarnation }));
      return true;
    } catch {
      return false;
    }
  }

  private async dropEntries(incarnation: string): Promise<void> {
    const keys = [...this.mirror.keys()].filter((k) => k.startsWith(`${incarnation}.`));
    await Promise.allSettled(keys.map((k) => this.table.delete(k)));
  }
}

function newIncarnation(): string {
  return randomBytes(8).toString('hex');
}
