import type { Scheduler } from '../../services/provider/scheduler';

/** Who scheduled a task and why, so the model can tell a sink's timers from the tracker's sweep. */
export interface TaskLabel {
  readonly owner: string;
  readonly kind: string;
}

export const UNLABELLED: TaskLabel = { owner: '', kind: 'unlabelled' };

interface Timer {
  readonly id: number;
  readonly due: number;
  readonly fn: () => void;
  readonly label: TaskLabel;
}

/**
 * A Scheduler whose clock moves only when the test says, and whose deferred tasks and timers run only
 * when the test runs them. Every task carries the label that was current when it was scheduled (set by
 * `within`, or inherited from the timer or task that scheduled it), so a test can ask which timers a
 * given owner still holds.
 */
export class ManualScheduler implements Scheduler {
  private clock: number;
  private deferred: Array<{ fn: () => void; label: TaskLabel }> = [];
  private readonly timers = new Map<number, Timer>();
  private nextId = 1;
  private context: TaskLabel = UNLABELLED;
  /** Called just before a timer's callback runs, with the clock already at its firing time. */
  onFire: (label: TaskLabel, at: number) => void = () => {};

  constructor(start: number) {
    this.clock = start;
  }

  now(): number {
    return this.clock;
  }

  defer(fn: () => void): void {
    this.deferred.push({ fn, label: this.context });
  }

  /** A microtask runs before any I/O: in the model, whenever deferred work runs, which covers that moment too. */
  soon(fn: () => void): void {
    this.defer(fn);
  }

  after(ms: number, fn: () => void): () => void {
    const id = this.nextId++;
    this.timers.set(id, { id, due: this.clock + Math.max(0, ms), fn, label: this.context });
    return () => {
      this.timers.delete(id);
    };
  }

  /** Runs `fn` with `label` as the label of whatever it schedules. */
  within<T>(label: TaskLabel, fn: () => T): T {
    const outer = this.context;
    this.context = label;
    try {
      return fn();
    } finally {
      this.context = outer;
    }
  }

  get deferredCount(): number {
    return this.deferred.length;
  }

  /** Runs deferred tasks, including those they defer, until none is left; throws past `limit` (a livelock). */
  runDeferred(limit = 100_000): number {
    let ran = 0;
    while (this.deferred.length > 0) {
      if (ran >= limit) throw new Error(`more than ${limit} deferred tasks in a row: a flush or replay that never settles`);
      const task = this.deferred.shift() as { fn: () => void; label: TaskLabel };
      this.within(task.label, task.fn);
      ran++;
    }
    return ran;
  }

  /** Pending timers, soonest first (ties in scheduling order). */
  pending(): Array<{ due: number; label: TaskLabel }> {
    return this.sorted().map((t) => ({ due: t.due, label: t.label }));
  }

  /**
   * Moves the clock forward by `ms`. 'step' fires each timer at its own due time, as an event loop that
   * keeps up would; 'jump' moves the clock first and then fires everything overdue, late, as after a
   * long GC pause or a stalled loop. `between` runs after each timer (microtasks, deferred work).
   */
  async advance(ms: number, mode: 'step' | 'jump', between: () => Promise<void>): Promise<number> {
    const target = this.clock + ms;
    if (mode === 'jump') this.clock = target;
    let fired = 0;
    for (;;) {
      const next = this.sorted()[0];
      if (!next || next.due > target) break;
      if (fired > 100_000) throw new Error('more than 100000 timers fired in one advance: a timer that reschedules itself at once');
      this.timers.delete(next.id);
      if (mode === 'step') this.clock = Math.max(this.clock, next.due);
      this.onFire(next.label, this.clock);
      this.within(next.label, next.fn);
      fired++;
      await between();
    }
    this.clock = target;
    return fired;
  }

  private sorted(): Timer[] {
    return [...this.timers.values()].sort((a, b) => a.due - b.due || a.id - b.id);
  }
}
