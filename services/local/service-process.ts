import { type ChildProcess, spawn } from 'node:child_process';
import * as readline from 'node:readline';
import type { LocalService } from './compose-local';

/**
 * How `npm start` restarts a service that exits on its own. Docker restarts forever with a doubling delay;
 * here a crash loop ends after MAX_RESTARTS quick restarts in a row, so a broken service (a consumer whose
 * state file cannot be written, say) stops and says so instead of filling the terminal. A run that lasts
 * STABLE_RUN_MS counts as healthy and starts the count afresh, as Docker's 10 s rule does.
 */
export const RESTART_DELAY_INITIAL_MS = 500;
export const RESTART_DELAY_MAX_MS = 8_000;
export const MAX_RESTARTS = 5;
export const STABLE_RUN_MS = 10_000;

export interface SupervisionOptions {
  readonly cwd: string;
  readonly restartDelayInitialMs: number;
  readonly restartDelayMaxMs: number;
  readonly maxRestarts: number;
  readonly stableRunMs: number;
  /** Where the supervisor's own lines go (`[tether] …`). */
  readonly say: (line: string) => void;
  /** Where each line the service writes goes. */
  readonly output: (service: string, line: string) => void;
}

export const DEFAULT_SUPERVISION: Omit<SupervisionOptions, 'cwd' | 'say' | 'output'> = {
  restartDelayInitialMs: RESTART_DELAY_INITIAL_MS,
  restartDelayMaxMs: RESTART_DELAY_MAX_MS,
  maxRestarts: MAX_RESTARTS,
  stableRunMs: STABLE_RUN_MS,
};

/**
 * One compose service as a child process: started from its command and environment, restarted after
 * an unexpected exit as its `restart:` policy says, and stopped with SIGTERM, then SIGKILL after its
 * `stop_grace_period`.
 */
export class ServiceProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private lastExitCode: Promise<number | null> = Promise.resolve(null);
  private restartTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  /** Restarts in the current run of quick exits. */
  restarts = 0;
  /** True once the restart policy has run out or says not to restart. */
  done = false;

  constructor(
    readonly service: LocalService,
    private readonly options: SupervisionOptions,
  ) {}

  get name(): string {
    return this.service.name;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** The exit code of the current run, once it has exited (a one-shot step's result). */
  exitCode(): Promise<number | null> {
    return this.lastExitCode;
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  start(): void {
    const [cmd, ...args] = this.service.command;
    const startedAt = Date.now();
    const child = spawn(cmd === 'node' ? process.execPath : cmd, args, { cwd: this.options.cwd, env: { ...process.env, ...this.service.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    this.lastExitCode = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    child.once('error', (err) => this.options.say(`${this.name} could not start: ${err.message}`));
    this.options.say(`${this.name} started (pid ${child.pid})`);
    for (const stream of [child.stdout, child.stderr]) {
      if (stream) readline.createInterface({ input: stream }).on('line', (l) => this.options.output(this.name, l));
    }
    child.once('exit', (code, signal) => this.onExit(code, signal, Date.now() - startedAt));
  }

  /**
   * From now on an exit is final. `npm start` calls this on every service before it stops any: Ctrl-C
   * also reaches the children, and a provider that exits first must not be restarted meanwhile.
   */
  stopRestarting(): void {
    this.stopping = true;
    clearTimeout(this.restartTimer);
  }

  /** SIGTERM, then SIGKILL once stop_grace_period has passed; resolves when the process is gone. */
  async stop(): Promise<void> {
    this.stopRestarting();
    const child = this.child;
    if (!child || !this.running) return;
    child.kill('SIGTERM');
    const kill = setTimeout(() => {
      this.options.say(`${this.name} still running ${this.service.stopGraceMs} ms after SIGTERM (stop_grace_period): SIGKILL`);
      child.kill('SIGKILL');
    }, this.service.stopGraceMs);
    await this.exited;
    clearTimeout(kill);
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null, ranMs: number): void {
    if (this.stopping) return;
    const how = signal ?? `code ${code}`;
    const { when, maxRestarts = this.options.maxRestarts } = this.service.restart;
    if (when === 'never' || (when === 'on-failure' && code === 0)) {
      this.done = true;
      this.options.say(`${this.name} exited (${how}); restart: ${when === 'never' ? 'no' : 'on-failure'}, so it stays down`);
      return;
    }
    if (ranMs >= this.options.stableRunMs) this.restarts = 0;
    if (this.restarts >= maxRestarts) {
      this.done = true;
      this.options.say(`${this.name} exited (${how}) after ${this.restarts} restarts in a row; giving up (fix it and run npm start again)`);
      return;
    }
    const delay = Math.min(this.options.restartDelayMaxMs, this.options.restartDelayInitialMs * 2 ** this.restarts);
    this.restarts++;
    this.options.say(`${this.name} exited (${how}); restarting in ${delay} ms (${this.restarts} of ${maxRestarts})`);
    this.restartTimer = setTimeout(() => this.start(), delay);
  }
}
