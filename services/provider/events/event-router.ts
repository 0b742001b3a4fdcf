import { randomUUID } from 'node:crypto';
import { TetherError } from '../../../shared/errors';
import type { Event } from '../../../shared/gen/tether/v1/event';
import { parseTopic } from '../../../shared/topic-pattern';
import { encodeEvent } from './event-encoder';
import type { EventHistory, RetainedEvent } from './event-history';
import type { ProviderConfig } from '../provider-config';
import type { ProviderMetrics } from '../provider-metrics';
import type { ReplaySource } from '../sinks/replay-cursor';
import type { Sink } from '../sinks/sink';
import { attributesMatch } from '../subscriptions/subscription';
import type { SubscriptionRegistry } from '../subscriptions/subscription-registry';

/**
 * The publish path: validate, number, encode once, retain, match through the index, and queue one
 * delivery per sink naming every subscription of that sink the event matched.
 */
export class EventRouter implements ReplaySource {
  /** Changes on every fresh start: this provider's history is in memory only. */
  readonly epoch = randomUUID();
  /** Ids for events published without one: unique within the epoch, 48 random bits apart across them. */
  private readonly idPrefix = `${this.epoch.slice(0, 13)}-`;
  private nextSequence = 1;
  private readonly groups = new Map<Sink, string[]>();

  constructor(
    private readonly config: ProviderConfig,
    private readonly registry: SubscriptionRegistry,
    private readonly history: EventHistory,
    private readonly metrics: ProviderMetrics,
  ) {}

  get headSequence(): number {
    return this.nextSequence - 1;
  }

  /**
   * Validates and encodes the whole batch before committing any of it, so a bad event never
   * half-publishes a batch. Each event is encoded exactly once, with its sequence already in place.
   */
  publish(events: readonly Event[]): string[] {
    if (events.length === 0) throw TetherError.invalid('publish needs at least one event');
    if (events.length > this.config.maxPublishBatch) {
      throw TetherError.invalid(`batch holds ${events.length} events; the limit is ${this.config.maxPublishBatch}`);
    }
    const now = Date.now();
    const time = new Date(now).toISOString();
    const prepared = events.map((input, i) => {
      const tokens = this.validate(input, i);
      const sequence = this.nextSequence + i;
      // No spread copy and no random UUID per event: the encoder takes the assigned fields as they are.
      const id = input.id || this.idPrefix + sequence;
      const bytes = encodeEvent(input, id, input.time || time, sequence);
      if (bytes.length > this.config.maxEventBytes) {
        throw TetherError.invalid(`${describe(input, i)}: ${bytes.length} bytes; the limit is ${this.config.maxEventBytes}`);
      }
      return { input, id, tokens, bytes, sequence };
    });
    this.nextSequence += events.length;
    for (const { input, id, tokens, bytes, sequence } of prepared) {
      const retained: RetainedEvent = {
        sequence,
        topic: input.topic,
        tokens,
        bytes,
        storedAt: now,
        id,
        source: input.source,
        type: input.type,
        dataContentType: input.dataContentType,
        extensions: input.extensions,
      };
      this.history.append(retained);
      this.route(retained);
    }
    this.metrics.eventsPublished.inc(events.length);
    return prepared.map((p) => String(p.sequence));
  }

  /** The oldest sequence a resume can still get, or head + 1 when nothing is retained. */
  firstRetained(): number {
    return this.history.firstSequence ?? this.nextSequence;
  }

  eventsFrom(from: number): Iterable<RetainedEvent> {
    return this.history.eventsFrom(from);
  }

  private route(event: RetainedEvent): void {
    const groups = this.groups;
    this.registry.match(event.tokens, (sub) => {
      const sink = sub.owner as Sink;
      if (sink.closed || !attributesMatch(sub.attributes, event)) return;
      const ids = groups.get(sink);
      if (ids) ids.push(sub.id);
      else groups.set(sink, [sub.id]);
    });
    if (groups.size === 0) return;
    try {
      // A delivery can close its sink (a full queue), and a close notifies listeners: whatever they do,
      // the groups of this event must not leak into the next.
      for (const [sink, ids] of groups) sink.deliver(event.bytes, ids);
      this.metrics.eventsDelivered.inc(groups.size);
    } finally {
      groups.clear();
    }
  }

  private validate(event: Event, i: number): string[] {
    let tokens: string[];
    try {
      tokens = parseTopic(event.topic, this.config);
    } catch (err) {
      throw TetherError.invalid(`${describe(event, i)}: ${(err as Error).message}`);
    }
    const extensions = Object.keys(event.extensions ?? {}).length;
    if (extensions > this.config.maxAttributes) {
      throw TetherError.invalid(`${describe(event, i)}: ${extensions} extension attributes; the limit is ${this.config.maxAttributes}`);
    }
    if (event.sequence !== '0' && event.sequence !== '') {
      throw TetherError.invalid(`${describe(event, i)}: sequence is assigned by the provider; leave it 0`);
    }
    return tokens;
  }
}

function describe(event: Event, i: number): string {
  return `event ${i}${event.id ? ` (id ${event.id})` : ''}`;
}
