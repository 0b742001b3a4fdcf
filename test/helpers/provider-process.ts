import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { probeHealth } from '../../shared/health-probe';
import { DIST } from './paths';
import { waitFor } from './wait';

const MAIN = path.join(DIST, 'services', 'provider', 'main.js');

// A port for a provider that must come back on the same address (outside the ephemeral range).
export { reservedPort as freePort } from './ports';

/** The real provider service in its own process, so tests can kill -9, SIGTERM and restart it. */
export class ProviderProcess {
  child: ChildProcess | undefined;
  output = '';
  exited: Promise<number | null> = Promise.resolve(null);

  constructor(
    readonly port: number,
    private readonly env: Record<string, string> = {},
  ) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Starts the process; resolves once health says SERVING and returns how long that took. */
  async start(timeoutMs = 15_000): Promise<number> {
    const startedAt = Date.now();
    this.output = '';
    const child = spawn(process.execPath, [MAIN], {
      env: {
        ...process.env,
        TETHER_HOST: '127.0.0.1',
        TETHER_PORT: String(this.port),
        TETHER_METRICS_PORT: '-1',
        TETHER_KEEPALIVE_TIME_MS: '500',
        TETHER_KEEPALIVE_TIMEOUT_MS: '500',
        TETHER_HEARTBEAT_MS: '200',
        TETHER_LIVENESS_SWEEP_MS: '50',
        LOG_LEVEL: 'info',
        ...this.env,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child = child;
    child.stderr?.on('data', (c: Buffer) => {
      this.output = (this.output + c.toString()).slice(-256 * 1024);
    });
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    await waitFor('provider SERVING', async () => (await probeHealth(this.address, '', 200)) === 'SERVING', timeoutMs, 20);
    return Date.now() - startedAt;
  }

  /** The epoch the running provider announced in its log. */
  get epoch(): string {
    const all = [...this.output.matchAll(/"epoch":"([^"]+)","msg":"provider serving"/g)];
    return all.at(-1)?.[1] ?? '';
  }

  rssBytes(): number {
    const statusText = fs.readFileSync(`/proc/${this.child?.pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+) kB/.exec(statusText)?.[1] ?? 0) * 1024;
  }

  signal(sig: NodeJS.Signals): void {
    this.child?.kill(sig);
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await this.exited;
  }
}
