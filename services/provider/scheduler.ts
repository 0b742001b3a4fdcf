/**
 * Time and deferral as the provider's lifecycle classes see them. Production uses the real clock; the
 * model test drives a manual one, so sweeps, timeouts and flushes run exactly when the test says.
 */
export interface Scheduler {
  now(): number;
  /** Runs `fn` after pending I/O (setImmediate): work that must yield to the network between steps. */
  defer(fn: () => void): void;
  /**
   * Runs `fn` once the code running now is done, before any I/O (a microtask): everything one publish
   * routes leaves as one message, and a lone event on an idle sink waits for no extra event-loop turn.
   */
  soon(fn: () => void): void;
  /** Runs `fn` once after `ms`; the returned function cancels it. Never holds the process open. */
  after(ms: number, fn: () => void): () => void;
}

export const realScheduler: Scheduler = {
  now: () => Date.now(),
  defer: (fn) => {
    setImmediate(fn);
  },
  soon: (fn) => queueMicrotask(fn),
  after: (ms, fn) => {
    const timer = setTimeout(fn, ms);
    timer.unref();
    return () => clearTimeout(timer);
  },
};
