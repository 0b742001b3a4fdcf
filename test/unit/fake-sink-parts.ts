import type { status } from '@grpc/grpc-js';
import type { Scheduler } from '../../services/provider/scheduler';
import type { Outbound } from '../../services/provider/sinks/outbound-queue';
import type { SinkStream } from '../../services/provider/sinks/sink-stream';
import type { LivenessProbe } from '../../services/provider/tracking/liveness-probe';

/** A clock and timer queue the test moves by hand. */
export class ManualScheduler implements Scheduler {
  private time = 1_000_000;
  private deferred: Array<() => void> = [];
  private timers = new Map<number, { at: number; fn: () => void }>();
  private nextId = 0;

  now(): number {
    return this.time;
  }

  defer(fn: () => void): void {
    this.deferred.push(fn);
  }

  soon(fn: () => void): void {
    this.deferred.push(fn);
  }

  after(ms: number, fn: () => void): () => void {
    const id = this.nextId++;
    this.timers.set(id, { at: this.time + ms, fn });
    return () => this.timers.delete(id);
  }

  get pendingTimers(): number {
    return this.timers.size;
  }

  /** Runs deferred work until none is left (bounded). */
  runDeferred(): void {
    for (let i = 0; i < 10_000 && this.deferred.length > 0; i++) {
      const batch = this.deferred;
      this.deferred = [];
      for (const fn of batch) fn();
    }
  }

  /** Moves the clock, firing due timers in order, then deferred work. */
  advance(ms: number): void {
    const until = this.time + ms;
    for (;;) {
      const due = [...this.timers.entries()].filter(([, t]) => t.at <= until).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.time = Math.max(this.time, due[1].at);
      due[1].fn();
      this.runDeferred();
    }
    this.time = until;
    this.runDeferred();
  }
}

/** A stream whose reader the test stalls and resumes; records what the sink did to it. */
export class FakeStream implements SinkStream {
  readonly written: Outbound[] = [];
  stalled = false;
  finished: { code: status; details: string } | undefined;
  resets = 0;
  paused = false;
  private drainListeners: Array<() => void> = [];

  write(message: Outbound): boolean {
    this.written.push(message);
    return !this.stalled;
  }

  onceDrain(fn: () => void): void {
    this.drainListeners.push(fn);
  }

  offDrain(fn: () => void): void {
    this.drainListeners = this.drainListeners.filter((l) => l !== fn);
  }

  get drainListenerCount(): number {
    return this.drainListeners.length;
  }

  finish(code: status, details: string): void {
    this.finished ??= { code, details };
  }

  reset(): void {
    this.resets++;
  }

  pauseRequests(): void {
    this.paused = true;
  }

  resumeRequests(): void {
    this.paused = false;
  }

  /** The reader catches up: every drain listener fires once. */
  drain(): void {
    this.stalled = false;
    const listeners = this.drainListeners;
    this.drainListeners = [];
    for (const l of listeners) l();
  }
}

/** Byte counters per peer, moved by the test. */
export class FakeProbe implements LivenessProbe {
  readonly read = new Map<string, number>();
  readonly destroyed: string[] = [];

  bytesRead(peer: string): number {
    return this.read.get(peer) ?? -1;
  }

  destroy(peer: string): void {
    this.destroyed.push(peer);
  }
}
