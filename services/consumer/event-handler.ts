import type { Event } from '../../shared/gen/tether/v1/event';
import type { Logger } from '../../shared/logger';
import type { ReceivedState } from './received-state';

export interface HandledEvent {
  readonly event: Event;
  readonly subscriptionIds: string[];
}

/**
 * Handles events in order through a bounded queue. When the queue reaches its bound it asks the
 * stream to pause, and resumes it at half, so a slow handler pushes back on the provider instead of
 * buffering without limit (the provider then closes the sink as a slow consumer if it never catches up).
 */
export class EventHandler {
  private readonly queue: HandledEvent[] = [];
  private running = false;
  private paused = false;

  constructor(
    private readonly state: ReceivedState,
    private readonly log: Logger,
    private readonly opts: { queueMax: number; delayMs: number; logEvents: boolean; onHandled: (e: HandledEvent) => void },
    private readonly flow: { pause(): void; resume(): void },
  ) {}

  get depth(): number {
    return this.queue.length;
  }

  push(item: HandledEvent): void {
    const arrival = this.state.accept(Number(item.event.sequence));
    if (arrival === 'duplicate') return;
    if (arrival === 'continuation') {
      // The rest of an event's subscriptions: merge into it while it waits, or count them if it was handled.
      const last = this.queue.at(-1);
      if (last && last.event.sequence === item.event.sequence) last.subscriptionIds.push(...item.subscriptionIds);
      else this.state.handledContinuation(item.subscriptionIds);
      return;
    }
    if (this.opts.delayMs === 0 && this.queue.length === 0) {
      this.handle(item);
      return;
    }
    this.queue.push(item);
    if (this.queue.length >= this.opts.queueMax && !this.paused) {
      this.paused = true;
      this.flow.pause();
    }
    if (!this.running) {
      this.drain().catch((err: unknown) => {
        this.running = false;
        this.log.error({ err }, 'event handler failed');
      });
    }
  }

  /** Forgets queued events (on reconnect they are replayed from the last handled sequence). */
  clear(): void {
    this.queue.length = 0;
    this.paused = false;
    this.state.rewind();
  }

  private async drain(): Promise<void> {
    this.running = true;
    while (this.queue.length > 0) {
      if (this.opts.delayMs > 0) await new Promise((r) => setTimeout(r, this.opts.delayMs));
      const item = this.queue.shift();
      if (item) this.handle(item);
      if (this.paused && this.queue.length <= this.opts.queueMax / 2) {
        this.paused = false;
        this.flow.resume();
      }
    }
    this.running = false;
  }

  private handle(item: HandledEvent): void {
    const { event, subscriptionIds } = item;
    const sequence = Number(event.sequence);
    this.state.handledEvent(sequence, subscriptionIds);
    const line = { sequence, topic: event.topic, type: event.type, id: event.id, subscriptions: subscriptionIds, bytes: event.data.length };
    if (this.opts.logEvents) this.log.info(line, 'event');
    else this.log.debug(line, 'event');
    this.opts.onHandled(item);
  }
}
