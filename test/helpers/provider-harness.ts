import pino from 'pino';
import type { CloseReason } from '../../shared/close-reason';
import { Provider } from '../../services/provider/provider';
import { type ProviderConfig, providerConfig } from '../../services/provider/provider-config';
import type { Reclaim } from '../../services/provider/tracking/reclaim-record';
import { NatsLauncher } from './nats-launcher';
import { deferred, waitFor } from './wait';

export type LogKind = 'memory' | 'jetstream';
/** The existing fault, resume and churn tests run against both logs. */
export const LOG_KINDS: LogKind[] = ['memory', 'jetstream'];

/** A replica on a test nats-server's JetStream, with lease timings short enough for tests. */
export function jetstreamConfig(nats: NatsLauncher, replicaId: string): Partial<ProviderConfig> {
  return {
    eventLog: 'jetstream',
    natsUrl: nats.url,
    replicaId,
    leaseTtlMs: 3_000,
    leaseRenewMs: 500,
    leasePollMs: 250,
    fenceAfterMs: 2_000,
    natsPingMs: 500,
  };
}

export interface HarnessOptions {
  readonly kind?: LogKind;
  /** A server to share with other replicas; by default a jetstream harness starts (and stops) its own. */
  readonly nats?: NatsLauncher;
  readonly replicaId?: string;
}

/** Fast timings so fault tests finish in seconds; bounds are still real, on real sockets. */
export const TEST_TIMINGS: Partial<ProviderConfig> = {
  host: '127.0.0.1',
  port: 0,
  metricsPort: -1,
  keepaliveTimeMs: 500,
  keepaliveTimeoutMs: 500,
  livenessSweepMs: 50,
  heartbeatMs: 200,
  sinkDrainTimeoutMs: 1_000,
  classifyWindowMs: 100,
  shutdownGraceMs: 1_000,
};

/** An in-process provider on a free loopback port, and ways to await what its tracker does. */
export class ProviderHarness {
  readonly provider: Provider;
  readonly reclaims: Reclaim[] = [];
  private waiters: Array<{ match: (r: Reclaim) => boolean; resolve: (r: Reclaim) => void }> = [];
  private unwatch: (() => void) | undefined;
  private ownNats: NatsLauncher | undefined;
  nats: NatsLauncher | undefined;

  constructor(overrides: Partial<ProviderConfig> = {}) {
    const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
    this.provider = new Provider(providerConfig({ ...TEST_TIMINGS, ...overrides }), log);
  }

  static async start(overrides: Partial<ProviderConfig> = {}, opts: HarnessOptions = {}): Promise<ProviderHarness> {
    let nats = opts.nats;
    let own: NatsLauncher | undefined;
    if (opts.kind === 'jetstream' || nats) {
      nats ??= own = await NatsLauncher.start();
      overrides = { ...jetstreamConfig(nats, opts.replicaId ?? `replica-${process.pid}-${Math.random().toString(36).slice(2, 6)}`), ...overrides };
    }
    const h = new ProviderHarness(overrides);
    h.nats = nats;
    h.ownNats = own;
    await h.provider.start();
    h.unwatch = h.provider.tracker.onReclaim(
      (r) => {
        h.reclaims.push(r);
        for (const w of [...h.waiters]) {
          if (w.match(r)) {
            h.waiters.splice(h.waiters.indexOf(w), 1);
            w.resolve(r);
          }
        }
      },
      () => undefined,
    );
    return h;
  }

  get address(): string {
    return `127.0.0.1:${this.provider.port}`;
  }

  get tracker() {
    return this.provider.tracker;
  }

  /** Resolves with the next reclaim (of a consumer, if named) recorded from now on. */
  nextReclaim(consumerName?: string): Promise<Reclaim> {
    const d = deferred<Reclaim>();
    this.waiters.push({ match: (r) => consumerName === undefined || r.consumerName === consumerName, resolve: d.resolve });
    return d.promise;
  }

  reclaimedBy(reason: CloseReason): Reclaim[] {
    return this.reclaims.filter((r) => r.reason === reason);
  }

  /** The provider holds nothing: no sinks, no subscriptions, nothing left in the index. */
  async expectEmpty(timeoutMs = 5_000): Promise<void> {
    await waitFor('tracker back to zero', () => this.tracker.liveSinks === 0 && this.provider.registry.liveCount === 0, timeoutMs);
    await this.provider.registry.whenPurged();
    if (this.provider.registry.indexedCount !== 0) throw new Error(`${this.provider.registry.indexedCount} subscriptions left in the index`);
  }

  async stop(): Promise<void> {
    this.unwatch?.();
    await this.provider.stop(200);
    await this.ownNats?.stop();
  }
}
