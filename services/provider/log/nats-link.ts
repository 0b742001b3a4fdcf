import * as fs from 'node:fs';
import { type NatsConnection, credsAuthenticator } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import type { Logger } from '../../../shared/logger';

export interface NatsLinkSettings {
  /** Comma-separated server URLs. */
  readonly natsUrl: string;
  readonly natsTimeoutMs: number;
  readonly natsPingMs: number;
  readonly natsReconnectWaitMs: number;
  readonly replicaId: string;
  /** NATS credentials (.creds), re-read on every (re)connect; empty: none. */
  readonly natsCredsFile: string;
  /** A CA that verifies the NATS server; set: TLS is required. */
  readonly natsTlsCaFile: string;
}

/**
 * This replica's one NATS connection, reconnecting for ever. It says whether NATS is reachable now:
 * a disconnect is seen at once when the server dies (its socket closes) and within two missed pings
 * when the path goes silent, so publishes are refused fast instead of waiting for their timeout.
 */
export class NatsLink {
  nc: NatsConnection | undefined;
  private up = false;
  private readonly listeners = new Set<(up: boolean) => void>();

  constructor(
    private readonly settings: NatsLinkSettings,
    private readonly log: Logger,
  ) {}

  get connected(): boolean {
    return this.up;
  }

  /** Calls `fn` on every change between reachable and not. */
  onChange(fn: (up: boolean) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Connects, waiting for a first server if none answers yet. */
  async open(): Promise<NatsConnection> {
    const s = this.settings;
    const nc = await connect({
      servers: s.natsUrl.split(',').map((u) => u.trim()).filter(Boolean),
      name: `tether-${s.replicaId}`,
      maxReconnectAttempts: -1,
      reconnectTimeWait: s.natsReconnectWaitMs,
      reconnectJitter: Math.min(100, s.natsReconnectWaitMs),
      waitOnFirstConnect: true,
      timeout: s.natsTimeoutMs,
      pingInterval: s.natsPingMs,
      maxPingOut: 2,
      // Without these NATS would be a way around every rule the provider enforces (README, Security).
      ...(s.natsCredsFile ? { authenticator: credsAuthenticator(() => fs.readFileSync(s.natsCredsFile)) } : {}),
      ...(s.natsTlsCaFile ? { tls: { caFile: s.natsTlsCaFile } } : {}),
    });
    this.nc = nc;
    this.set(true);
    void this.watch(nc);
    return nc;
  }

  async close(): Promise<void> {
    const nc = this.nc;
    this.nc = undefined;
    this.set(false);
    if (nc && !nc.isClosed()) await nc.close().catch(() => undefined);
  }

  private async watch(nc: NatsConnection): Promise<void> {
    try {
      for await (const status of nc.status()) {
        if (status.type === 'disconnect' || status.type === 'staleConnection') this.set(false);
        else if (status.type === 'reconnect') this.set(true);
      }
    } catch (err) {
      this.log.warn({ err }, 'nats status stream ended');
    }
    this.set(false);
  }

  private set(up: boolean): void {
    if (up === this.up) return;
    this.up = up;
    this.log[up ? 'info' : 'warn']({ nats: this.settings.natsUrl }, up ? 'nats reachable' : 'nats unreachable');
    for (const fn of [...this.listeners]) fn(up);
  }
}
