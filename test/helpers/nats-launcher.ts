import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { natsServerBinary } from '../../bench/lib/nats-server';
import { reservedPort } from './ports';
import { waitFor } from './wait';

/**
 * A real nats-server with JetStream, on a loopback port of its own and a temporary store, started per
 * test (nats.js's `nst` launcher does the same). `kill` is kill -9; `start` again brings it back on the
 * same port with the same store, as a crashed and restarted server would.
 */
export class NatsLauncher {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tether-nats-test-'));
  port = 0;

  /** `extraArgs`: more nats-server flags (TLS, for one). */
  constructor(private readonly extraArgs: readonly string[] = []) {}

  static async start(extraArgs: readonly string[] = []): Promise<NatsLauncher> {
    const n = new NatsLauncher(extraArgs);
    n.port = await reservedPort();
    await n.start();
    return n;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const bin = natsServerBinary();
    if (!bin) throw new Error('nats-server is not installed (apt-get install nats-server)');
    const child = spawn(bin, ['-js', '-sd', this.dir, '-a', '127.0.0.1', '-p', String(this.port), ...this.extraArgs], { stdio: 'ignore' });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    await waitFor('nats-server listening', () => connects(this.port), 10_000, 20);
  }

  /** kill -9. */
  async kill(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await this.exited;
  }

  async stop(): Promise<void> {
    await this.kill();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

/** The provider settings that put a replica on this server's JetStream log, with test timings. */
export function jetstreamEnv(nats: NatsLauncher, replicaId: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    TETHER_EVENT_LOG: 'jetstream',
    TETHER_NATS_URL: nats.url,
    TETHER_REPLICA_ID: replicaId,
    TETHER_LEASE_TTL_MS: '3000',
    TETHER_LEASE_RENEW_MS: '500',
    TETHER_LEASE_POLL_MS: '250',
    TETHER_FENCE_AFTER_MS: '2000',
    TETHER_NATS_PING_MS: '500',
    ...extra,
  };
}
