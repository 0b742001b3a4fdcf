import { Metadata } from '@grpc/grpc-js';
import { ClientCredentials } from '../../shared/client-credentials';
import { clientOptions } from '../../shared/client-options';
import { TetherError, retryPushbackMs, statusName } from '../../shared/errors';
import type { Event } from '../../shared/gen/tether/v1/event';
import { PublisherServiceClient } from '../../shared/gen/tether/v1/publisher';
import type { Logger } from '../../shared/logger';
import { parseSubscriptionList } from '../../shared/subscription-spec';
import type { PublisherConfig } from './publisher-config';

/**
 * Publishes a steady stream of sample events. A failed call (provider down, deadline) is logged and
 * the stream goes on: calls fail fast with UNAVAILABLE or end at their deadline, never hang.
 */
export class SamplePublisher {
  private readonly client: PublisherServiceClient;
  private readonly topics: string[];
  private timer: NodeJS.Timeout | undefined;
  private inFlight = false;
  /** A quota refusal said when to try again: nothing is sent before then. */
  private quietUntil = 0;
  published = 0;
  failed = 0;
  private n = 0;

  constructor(
    private readonly config: PublisherConfig,
    private readonly log: Logger,
  ) {
    this.client = new PublisherServiceClient(config.providerAddress, new ClientCredentials(config).channel(), clientOptions());
    this.topics = parseSubscriptionList(config.topics).map((s) => s.pattern);
  }

  start(): Promise<void> {
    const intervalMs = Math.max(1, Math.round((1000 * this.config.batchSize) / this.config.ratePerSecond));
    return new Promise((resolve) => {
      this.timer = setInterval(() => {
        if (this.config.count > 0 && this.n >= this.config.count) {
          this.stop();
          resolve();
          return;
        }
        // One call in flight at a time: a slow provider slows the publisher instead of piling up calls.
        if (!this.inFlight && Date.now() >= this.quietUntil) this.publishBatch();
      }, intervalMs);
    });
  }

  stop(): void {
    clearInterval(this.timer);
    this.client.close();
  }

  private publishBatch(): void {
    const events: Event[] = [];
    for (let i = 0; i < this.config.batchSize && (this.config.count === 0 || this.n < this.config.count); i++) events.push(this.sample(this.n++));
    this.inFlight = true;
    const deadline = new Date(Date.now() + this.config.deadlineMs);
    this.client.publish({ events }, new Metadata(), { deadline }, (err, res) => {
      this.inFlight = false;
      if (err) {
        this.failed += events.length;
        const pushback = retryPushbackMs(err);
        if (pushback !== undefined) this.quietUntil = Date.now() + pushback;
        this.log.warn({ code: statusName(err.code), err: TetherError.from(err).message, events: events.length }, 'publish failed');
        return;
      }
      this.published += events.length;
      this.log.debug({ sequences: res.sequences, epoch: res.epoch }, 'published');
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
