import { type ChildProcess, fork } from 'node:child_process';
import * as path from 'node:path';

/** A bench worker in its own process, spoken to over IPC. Every worker exits by itself after `maxMs`. */
export class Worker<Msg extends { type: string }> {
  readonly child: ChildProcess;
  private readonly inbox: Msg[] = [];
  private waiters: Array<{ type: string; resolve: (m: Msg) => void }> = [];
  readonly exited: Promise<void>;

  /** `execArgv` replaces node's flags for the child (a profiled run passes --cpu-prof). */
  constructor(script: string, args: Record<string, string | number>, execArgv?: string[]) {
    const options = { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] as ('ignore' | 'inherit' | 'ipc')[], ...(execArgv ? { execArgv } : {}) };
    this.child = fork(path.join(__dirname, '..', 'workers', script), [JSON.stringify(args)], options);
    this.child.on('message', (m: Msg) => {
      const w = this.waiters.find((x) => x.type === m.type);
      if (w) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(m);
      } else this.inbox.push(m);
    });
    this.exited = new Promise((r) => this.child.once('exit', () => r()));
  }

  /** The next message of a type, or a rejection after `ms`. */
  next(type: string, ms = 60_000): Promise<Msg> {
    const i = this.inbox.findIndex((m) => m.type === type);
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0]);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`worker ${this.child.pid}: no ${type} within ${ms} ms`)), ms);
      this.waiters.push({ type, resolve: (m) => (clearTimeout(timer), resolve(m)) });
    });
  }

  send(msg: object): void {
    this.child.send(msg);
  }

  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }
}
