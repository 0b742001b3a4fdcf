import { randomBytes } from 'node:crypto';
import { Metadata, status } from '@grpc/grpc-js';
import { AddressList } from '../../shared/address-list';
import { ClientCredentials } from '../../shared/client-credentials';
import { clientOptions } from '../../shared/client-options';
import { TetherError, retryPushbackMs, statusName } from '../../shared/errors';
import type { Event } from '../../shared/gen/tether/v1/event';
import { PublisherServiceClient } from '../../shared/gen/tether/v1/publisher';
import type { Logger } from '../../shared/logger';
import { parseSubscriptionList } from '../../shared/subscription-spec';
import type { PublisherConfig } from './publisher-config';

interface Batch {
  readonly events: Event[];
  readonly key: string;
  attempts: number;
}

/** Failures worth sending the same batch again, to the next address: the provider was away or slow. */
const RETRYABLE = new Set<number>([status.UNAVAILABLE, status.DEADLINE_EXCEEDED, status.CANCELLED, status.RESOURCE_EXHAUSTED]);

/**
 * Publishes a steady stream of sample events. Each batch carries an idempotency key; a batch that fails
 * because the provider is away or slow is sent again with the same key to the next address of the list,
 * so a retry after a lost answer is stored once. Calls fail fast with UNAVAILABLE or end at their
 * deadline, never hang.
 */
export class SamplePublisher {
  private readonly addresses: AddressList;
  private readonly clients = new Map<string, PublisherServiceClient>();
  private readonly topics: string[];
  /** Distinguishes this run's keys from an earlier run's within the duplicate window. */
  private readonly run = randomBytes(6).toString('hex');
  private timer: NodeJS.Timeout | undefined;
  private inFlight = false;
  private retry: Batch | undefined;
  private batches = 0;
  /** A quota refusal said when to try again: nothing is sent before then. */
  private quietUntil = 0;
  private readonly credentials: ClientCredentials;
  published = 0;
  failed = 0;
  private n = 0;

  constructor(
    private readonly config: PublisherConfig,
    private readonly log: Logger,
  ) {
    this.addresses = new AddressList(config.providerAddress);
    this.credentials = new ClientCredentials(config);
    this.topics = parseSubscriptionList(config.topics).map((s) => s.pattern);
  }

  start(): Promise<void> {
    const intervalMs = Math.max(1, Math.round((1000 * this.config.batchSize) / this.config.ratePerSecond));
    return new Promise((resolve) => {
      this.timer = setInterval(() => {
        if (this.config.count > 0 && this.n >= this.config.count && !this.retry && !this.inFlight) {
          this.stop();
          resolve();
          return;
        }
        // One call in flight at a time: a slow provider slows the publisher instead of piling up calls.
        if (!this.inFlight && Date.now() >= this.quietUntil) this.send(this.retry ?? this.nextBatch());
      }, intervalMs);
    });
  }

  stop(): void {
    clearInterval(this.timer);
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }

  private nextBatch(): Batch | undefined {
    const events: Event[] = [];
    for (let i = 0; i < this.config.batchSize && (this.config.count === 0 || this.n < this.config.count); i++) events.push(this.sample(this.n++));
    return events.length > 0 ? { events, key: `${this.config.source}-${this.run}-${++this.batches}`, attempts: 0 } : undefined;
  }

  private client(): PublisherServiceClient {
    const address = this.addresses.current;
    let client = this.clients.get(address);
    if (!client) {
      client = new PublisherServiceClient(address, this.credentials.channel(), clientOptions());
      this.clients.set(address, client);
    }
    return client;
  }

  private send(batch: Batch | undefined): void {
    this.retry = undefined;
    if (!batch) return;
    batch.attempts++;
    this.inFlight = true;
    const deadline = new Date(Date.now() + this.config.deadlineMs);
    const address = this.addresses.current;
    this.client().publish({ events: batch.events, idempotencyKey: batch.key }, new Metadata(), { deadline }, (err, res) => {
      this.inFlight = false;
      if (!err) {
        this.published += batch.events.length;
        this.log.debug({ sequences: res.sequences, epoch: res.epoch }, 'published');
        return;
      }
      const pushback = retryPushbackMs(err);
      if (pushback !== undefined) this.quietUntil = Date.now() + pushback;
      const retry = RETRYABLE.has(err.code) && batch.attempts < this.config.maxAttempts;
      this.log.warn({ address, code: statusName(err.code), err: TetherError.from(err).message, events: batch.events.length, attempt: batch.attempts, retry }, 'publish failed');
      // A quota refusal is this caller's own limit: the same address answers once it has waited.
      if (RETRYABLE.has(err.code) && pushback === undefined) this.addresses.advance();
      if (retry) this.retry = batch;
      else this.failed += batch.events.length;
    });
  }

  private sample(n: number): Event {
    const topic = this.topics[n % this.topics.length];
    const body = JSON.stringify({ n, topic, at: new Date().toISOString() });
    return {
      id: '',
      source: this.config.source,
      type: `sample.${topic.split('.').at(-1)}`,
      topic,
      time: '',
      dataContentType: 'application/json',
      extensions: { region: topic.split('.')[1] ?? '' },
      data: Buffer.from(body.padEnd(this.config.payloadBytes, ' ')),
      sequence: '0',
    };
  }
}
