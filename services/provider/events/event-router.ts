import { TetherError } from '../../../shared/errors';
import type { Event } from '../../../shared/gen/tether/v1/event';
import { parseTopic } from '../../../shared/topic-pattern';
import { nameProblem } from '../../../shared/text-bounds';
import type { RetainedEvent } from './event-history';
import type { EventLog, LogListener, PreparedBatch } from '../log/event-log';
import { encodeEvent, spliceEvent } from './event-encoder';
import { LazyRetainedEvent } from './lazy-retained-event';
import { LazyEvent } from '../../../shared/wire/lazy-event';
import type { ProviderConfig } from '../provider-config';
import type { ProviderMetrics } from '../provider-metrics';
import type { LogReader, ReplaySource } from '../sinks/replay-cursor';
import type { Sink } from '../sinks/sink';
import { type Subscription, attributesMatch } from '../subscriptions/subscription';
import type { SubscriptionRegistry } from '../subscriptions/subscription-registry';

/**
 * The publish path: validate, number, encode once, append to the log, and, for every event the log
 * hands on (this replica's and, with a shared log, every other replica's), match through the index and
 * queue one delivery per sink naming every subscription of that sink the event matched.
 */
export class EventRouter implements ReplaySource, LogListener {
  private readonly groups = new Map<Sink, string[]>();
  /** The event being routed, for `visit`: one visitor for every event, not a closure per event. */
  private routing: RetainedEvent | undefined;
  private readonly visit = (sub: Subscription): void => {
    const sink = sub.owner as Sink;
    if (sink.closed || !attributesMatch(sub.attributes, this.routing as RetainedEvent)) return;
    const ids = this.groups.get(sink);
    if (ids) ids.push(sub.id);
    else this.groups.set(sink, [sub.id]);
  };
  /** Parsed tokens of recent valid topics (shared, never mutated), bounded by `topicCacheMax`. */
  private readonly topics = new Map<string, readonly string[]>();
  /** Told when the log skipped positions this replica will never see. */
  onLogGap: (firstMissing: number, firstAvailable: number) => void = () => undefined;

  constructor(
    private readonly config: ProviderConfig,
    private readonly registry: SubscriptionRegistry,
    private readonly log: EventLog,
    private readonly metrics: ProviderMetrics,
  ) {
    log.follow(this);
  }

  /** Names the log: changes only when the log begins anew (memory: every start; JetStream: a new stream). */
  get epoch(): string {
    return this.log.epoch;
  }

  get headSequence(): number {
    return this.log.headSequence;
  }

  /**
   * Validates the whole batch before committing any of it, so a bad event never half-publishes a batch;
   * each event is encoded exactly once with its position in place (again only if another replica took
   * the position first). The memory log answers at once; a durable one once it has stored the batch.
   * Events without an id get one derived from the idempotency key, so a retried batch is the same batch.
   */
  publish(events: readonly Event[], idempotencyKey = ''): string[] | Promise<string[]> {
    if (events.length === 0) throw TetherError.invalid('publish needs at least one event');
    if (events.length > this.config.maxPublishBatch) {
      throw TetherError.invalid(`batch holds ${events.length} events; the limit is ${this.config.maxPublishBatch}`);
    }
    const keyProblem = idempotencyKey ? nameProblem('idempotency_key', idempotencyKey, MAX_IDEMPOTENCY_KEY_BYTES) : undefined;
    if (keyProblem) throw TetherError.invalid(keyProblem);
    const now = Date.now();
    const time = new Date(now).toISOString();
    const checked = events.map((input, i) => {
      const tokens = this.validate(input, i);
      return { tokens, i, input };
    });
    const batch: PreparedBatch = {
      count: events.length,
      idempotencyKey,
      encode: (first) => checked.map(({ tokens, i, input }) => this.encode(input, tokens, first + i, now, time, i, idempotencyKey)),
    };
    const appended = this.log.append(batch);
    if (typeof appended === 'number') {
      this.metrics.eventsPublished.inc(events.length);
      return positions(appended, events.length);
    }
    return appended.then((first) => {
      this.metrics.eventsPublished.inc(events.length);
      return positions(first, events.length);
    });
  }

  firstRetained(): number {
    return this.log.firstRetained();
  }

  reader(from: number): LogReader {
    return this.log.reader(from);
  }

  waitForHead(position: number, timeoutMs: number): Promise<boolean> {
    return this.log.waitForHead(position, timeoutMs);
  }

  /** From the log: events in position order, each once. */
  events(events: readonly RetainedEvent[]): void {
    for (const event of events) this.route(event);
  }

  gap(firstMissing: number, firstAvailable: number): void {
    this.onLogGap(firstMissing, firstAvailable);
  }

  /**
   * Stores one event with its position, once: received bytes are spliced, other events encoded into a
   * buffer of their exact size (no random UUID: an event without an id gets one from the batch's
   * idempotency key, or from the epoch and its position, unique within the log).
   */
  private encode(input: Event, tokens: readonly string[], sequence: number, now: number, time: string, i: number, idempotencyKey: string): RetainedEvent {
    const given = input.id;
    const id = given || (idempotencyKey ? `${idempotencyKey}:${i}` : `${this.epoch.slice(0, 13)}-${sequence}`);
    // Received bytes (a lazily decoded request) are spliced, not re-encoded; other callers' events are encoded.
    const lazy = input instanceof LazyEvent;
    const bytes = lazy ? spliceEvent(input.encoded, given ? '' : id, input.time ? '' : time, sequence) : encodeEvent(input, id, input.time || time, sequence);
    if (bytes.length > this.config.maxEventBytes) {
      throw TetherError.invalid(`${describe(input, i)}: ${bytes.length} bytes; the limit is ${this.config.maxEventBytes}`);
    }
    if (lazy) return new LazyRetainedEvent(bytes, now, { sequence, topic: input.topic, tokens, id });
    return {
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
  }

  private route(event: RetainedEvent): void {
    const groups = this.groups;
    this.routing = event;
    this.registry.match(event.topic, event.tokens, this.visit);
    this.routing = undefined;
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

  private validate(event: Event, i: number): readonly string[] {
    const topic = event.topic;
    let tokens = this.topics.get(topic);
    if (!tokens) {
      try {
        tokens = parseTopic(topic, this.config);
      } catch (err) {
        throw TetherError.invalid(`${describe(event, i)}: ${(err as Error).message}`);
      }
      // Only valid topics are kept; emptied when full, so the bound holds without bookkeeping per hit.
      if (this.config.topicCacheMax > 0) {
        if (this.topics.size >= this.config.topicCacheMax) this.topics.clear();
        this.topics.set(topic, tokens);
      }
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

/** Idempotency keys become JetStream message ids and event ids: printable and short. */
export const MAX_IDEMPOTENCY_KEY_BYTES = 128;

function positions(first: number, count: number): string[] {
  const out = new Array<string>(count);
  for (let i = 0; i < count; i++) out[i] = String(first + i);
  return out;
}

function describe(event: Event, i: number): string {
  return `event ${i}${event.id ? ` (id ${event.id})` : ''}`;
}
