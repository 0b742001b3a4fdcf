import type { Counter } from 'prom-client';
import type { Logger } from '../../shared/logger';
import type { Position, PositionStore } from './position-store';

/** Distinct write errors remembered between two successful writes; past this, new kinds are counted but not logged. */
const MAX_DISTINCT_ERRORS = 8;

/**
 * Writes the consumer's position every `flushMs` and on stop. A failing write (disk full, directory
 * removed) is retried at the next flush and counted each time, but logged once per distinct error,
 * without a stack, so an outage is one line rather than one a second. A write that succeeds again
 * says so, and the next outage is logged afresh.
 */
export class PositionFlusher {
  private timer: NodeJS.Timeout | undefined;
  private readonly logged = new Set<string>();

  constructor(
    private readonly store: PositionStore,
    private readonly position: () => Position,
    private readonly options: { file: string; flushMs: number; errors: Counter; log: Logger },
  ) {}

  start(): void {
    clearInterval(this.timer);
    this.timer = setInterval(() => this.flush(), this.options.flushMs);
    this.timer.unref();
  }

  /** Stops the timer and writes the position one last time. */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.flush();
  }

  flush(): void {
    const { file, errors, log } = this.options;
    try {
      this.store.save(this.position());
    } catch (err) {
      errors.inc();
      const error = (err as Error).message;
      if (!this.logged.has(error) && this.logged.size < MAX_DISTINCT_ERRORS) {
        this.logged.add(error);
        log.error({ file, error }, 'could not save the resume position; retrying at every flush');
      }
      return;
    }
    if (this.logged.size > 0) {
      this.logged.clear();
      log.info({ file }, 'resume position saved again');
    }
  }
}
