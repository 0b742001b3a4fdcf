import { type ClientDuplexStream, credentials } from '@grpc/grpc-js';
import { clientOptions } from '../../shared/client-options';
import { PublisherServiceClient, type PublishStreamRequest, type PublishStreamResponse } from '../../shared/gen/tether/v1/publisher';
import { event } from '../helpers/sink-test-client';
import { waitFor } from '../helpers/wait';
import { MAX_SUBSCRIPTIONS } from './fleet';
import type { Findings } from './findings';
import type { Rng } from './rng';

const TICK_MS = 50;
const MAX_IN_FLIGHT = 8;
const MAX_REOPENS = 3;

/**
 * The steady publisher: one PublishStream, a bounded rate, at most MAX_IN_FLIGHT unanswered batches.
 * Every event goes to `soak.<k>.ev`, k in 1..500 skewed towards small k (so one-subscription consumers
 * see traffic too), and the answer's sequences tell the truth: which sequence went to which topic.
 */
export class SteadyPublisher {
  /** Sequences this publisher was given, ascending, and the topic number of each. */
  readonly sequences: number[] = [];
  readonly topics: number[] = [];
  skippedTicks = 0;
  private readonly client: PublisherServiceClient;
  private call: ClientDuplexStream<PublishStreamRequest, PublishStreamResponse> | undefined;
  private readonly inFlight = new Map<string, number[]>();
  private timer: NodeJS.Timeout | undefined;
  private nextBatch = 1;
  private reopens = 0;
  private stopped = false;

  constructor(
    address: string,
    private readonly rate: number,
    private readonly rng: Rng,
    private readonly findings: Findings,
    private readonly context: (at: number) => string = () => '',
  ) {
    this.client = new PublisherServiceClient(address, credentials.createInsecure(), clientOptions());
  }

  get published(): number {
    return this.sequences.length;
  }

  start(): void {
    this.open();
    const perTick = Math.max(1, Math.round((this.rate * TICK_MS) / 1000));
    this.timer = setInterval(() => this.tick(perTick), TICK_MS);
  }

  /** Stops sending, waits (bounded) for every answer, and ends the stream. */
  async stop(timeoutMs = 10_000): Promise<void> {
    clearInterval(this.timer);
    await waitFor('publisher answers', () => this.inFlight.size === 0, timeoutMs).catch(() =>
      this.findings.violate('publish', `${this.inFlight.size} batches still unanswered ${timeoutMs} ms after the publisher stopped`),
    );
    this.stopped = true;
    this.call?.end();
    this.client.close();
  }

  private open(): void {
    const call = this.client.publishStream();
    this.call = call;
    call.on('data', (r: PublishStreamResponse) => this.onAnswer(r));
    call.on('error', (err: Error) => this.onBroken(call, err.message));
    call.on('end', () => this.onBroken(call, 'stream ended'));
  }

  private tick(count: number): void {
    if (!this.call) return;
    if (this.inFlight.size >= MAX_IN_FLIGHT) {
      this.skippedTicks++;
      return;
    }
    const topics = Array.from({ length: count }, () => 1 + Math.floor(MAX_SUBSCRIPTIONS * this.rng.next() ** 2));
    const batchId = String(this.nextBatch++);
    this.inFlight.set(batchId, topics);
    this.call.write({ batchId, events: topics.map((k) => event(`soak.${k}.ev`, { source: 'soak', type: 'soak.tick', data: Buffer.from(`k=${k}`) })), idempotencyKey: '' });
  }

  private onAnswer(r: PublishStreamResponse): void {
    const topics = this.inFlight.get(r.batchId);
    this.inFlight.delete(r.batchId);
    if (!topics) return this.findings.violate('publish', `answer for unknown batch ${r.batchId}`);
    if (r.code !== 0) return this.findings.violate('publish', `batch ${r.batchId} refused with code ${r.code}: ${r.message}`);
    if (r.sequences.length !== topics.length) {
      return this.findings.violate('publish', `batch ${r.batchId} of ${topics.length} events got ${r.sequences.length} sequences`);
    }
    r.sequences.forEach((s, i) => {
      const seq = Number(s);
      if (seq <= (this.sequences.at(-1) ?? 0)) this.findings.violate('publish', `sequence ${seq} is not above the previous one`);
      this.sequences.push(seq);
      this.topics.push(topics[i]);
    });
  }

  private onBroken(call: ClientDuplexStream<PublishStreamRequest, PublishStreamResponse>, why: string): void {
    if (this.stopped || call !== this.call) return;
    this.call = undefined;
    const [at, unanswered] = [Date.now(), this.inFlight.size];
    setTimeout(() => this.findings.violate('publish', `the PublishStream broke (${why}) with ${unanswered} batches unanswered; their fate is unknown; ${this.context(at)}`), 1_500);
    this.inFlight.clear();
    if (this.reopens++ < MAX_REOPENS) this.open();
  }
}
