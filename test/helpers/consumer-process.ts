import { type ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import { DIST } from './paths';
import { waitFor } from './wait';

export interface ConsumerStatus {
  name: string;
  sinkId: string;
  subscribed: boolean;
  connects: number;
  epoch: string;
  lastSequence: number;
  handled: number;
  duplicates: number;
  outOfOrder: number;
  gapsReported: number;
  queueDepth: number;
  perSubscription: Record<string, number>;
}

/**
 * The real consumer service, built to dist/, in its own process: tests break it with real signals
 * and read what it received from its /status endpoint.
 */
export class ConsumerProcess {
  readonly child: ChildProcess;
  private metricsPort = 0;
  private output = '';
  exited: Promise<number | null>;
  /** Resolves with the exit code once the process has exited and its stderr is fully read. */
  closed: Promise<number | null>;

  constructor(env: Record<string, string>) {
    this.child = spawn(process.execPath, [path.join(DIST, 'services', 'consumer', 'main.js')], {
      env: { ...process.env, CONSUMER_HEALTH_PORT: '0', CONSUMER_METRICS_PORT: '0', CONSUMER_HOST: '127.0.0.1', CONSUMER_LOG_EVENTS: '0', LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child.stderr?.on('data', (chunk: Buffer) => {
      // Keep the tail only: a chatty consumer must not grow the test's memory.
      this.output = (this.output + chunk.toString()).slice(-64 * 1024);
      const m = /"metricsPort":(\d+)/.exec(this.output);
      if (m && !this.metricsPort) this.metricsPort = Number(m[1]);
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
    this.closed = new Promise((resolve) => this.child.once('close', (code) => resolve(code)));
  }

  get pid(): number {
    return this.child.pid as number;
  }

  get log(): string {
    return this.output;
  }

  async status(): Promise<ConsumerStatus> {
    await waitFor('consumer metrics port', () => this.metricsPort > 0, 15_000);
    const res = await fetch(`http://127.0.0.1:${this.metricsPort}/status`);
    return (await res.json()) as ConsumerStatus;
  }

  async metrics(): Promise<string> {
    await waitFor('consumer metrics port', () => this.metricsPort > 0, 15_000);
    return (await fetch(`http://127.0.0.1:${this.metricsPort}/metrics`)).text();
  }

  async waitSubscribed(timeoutMs = 15_000, minConnects = 1): Promise<ConsumerStatus> {
    let last: ConsumerStatus | undefined;
    await waitFor(
      'consumer subscribed',
      async () => {
        last = await this.status().catch(() => undefined);
        return !!last && last.subscribed && last.connects >= minConnects;
      },
      timeoutMs,
      25,
    );
    return last as ConsumerStatus;
  }

  signal(sig: NodeJS.Signals): void {
    this.child.kill(sig);
  }

  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }
}
