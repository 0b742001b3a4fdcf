import { type ChannelCredentials, type ClientDuplexStream, credentials, Metadata } from '@grpc/grpc-js';
import { clientOptions } from '../../shared/client-options';
import { type OpenSinkRequest, type OpenSinkResponse, SinkServiceClient, type SubscriptionSpec, type ResumeFrom, type Delivery, type SubscriptionError } from '../../shared/gen/tether/v1/sink';
import { PublisherServiceClient } from '../../shared/gen/tether/v1/publisher';
import type { Event } from '../../shared/gen/tether/v1/event';
import { waitFor } from './wait';

type Kinds = NonNullable<OpenSinkResponse['kind']>;
type Kind = Kinds['$case'];
type ValueOf<K extends Kind> = Extract<Kinds, { $case: K }>['value'];

/** An in-process sink client for protocol tests: records every message and status it gets. */
export class SinkTestClient {
  readonly client: SinkServiceClient;
  readonly call: ClientDuplexStream<OpenSinkRequest, OpenSinkResponse>;
  readonly messages: OpenSinkResponse[] = [];
  error: (Error & { code?: number; details?: string }) | undefined;
  ended = false;

  constructor(address: string, channel: ChannelCredentials = credentials.createInsecure()) {
    this.client = new SinkServiceClient(address, channel, clientOptions());
    this.call = this.client.openSink();
    this.call.on('data', (m: OpenSinkResponse) => this.messages.push(m));
    this.call.on('error', (e) => {
      this.error = e;
    });
    this.call.on('end', () => {
      this.ended = true;
    });
  }

  open(name: string): this {
    this.call.write({ kind: { $case: 'open', value: { consumerName: name, maxReceiveMessageBytes: 0 } } });
    return this;
  }

  subscribe(subscriptions: Array<Partial<SubscriptionSpec> & { subscriptionId: string; pattern: string }>, resume?: ResumeFrom): this {
    this.call.write({
      kind: { $case: 'subscribe', value: { subscriptions: subscriptions.map((s) => ({ attributes: {}, ...s })), resume, requestId: '' } },
    });
    return this;
  }

  unsubscribe(ids: string[]): this {
    this.call.write({ kind: { $case: 'unsubscribe', value: { subscriptionIds: ids, requestId: '' } } });
    return this;
  }

  of<K extends Kind>(kind: K): ValueOf<K>[] {
    return this.messages.flatMap((m) => (m.kind?.$case === kind ? [m.kind.value as ValueOf<K>] : []));
  }

  /** Refused subscription changes, from every ack's list. */
  refusals(): SubscriptionError[] {
    return this.of('ack').flatMap((a) => a.errors);
  }

  deliveries(): Delivery[] {
    return this.messages.flatMap((m) => (m.kind?.$case === 'events' ? m.kind.value.deliveries : []));
  }

  async waitFor<K extends Kind>(kind: K, count = 1, timeoutMs = 5_000): Promise<ValueOf<K>[]> {
    await waitFor(`${count} ${kind} message(s)`, () => this.of(kind).length >= count, timeoutMs);
    return this.of(kind);
  }

  async waitRefusals(count = 1, timeoutMs = 5_000): Promise<SubscriptionError[]> {
    await waitFor(`${count} refusal(s)`, () => this.refusals().length >= count, timeoutMs);
    return this.refusals();
  }

  async waitDeliveries(count: number, timeoutMs = 5_000) {
    await waitFor(`${count} deliveries`, () => this.deliveries().length >= count, timeoutMs);
    return this.deliveries();
  }

  async waitError(timeoutMs = 5_000) {
    await waitFor('a stream error', () => this.error !== undefined, timeoutMs);
    return this.error as Error & { code: number; details: string };
  }

  close(): void {
    this.call.cancel();
    this.client.close();
  }
}

export function publisher(address: string, channel: ChannelCredentials = credentials.createInsecure()): PublisherServiceClient {
  return new PublisherServiceClient(address, channel, clientOptions());
}

export function event(topic: string, extra: Partial<Event> = {}): Event {
  return { id: '', source: 'test', type: 'test.event', topic, time: '', dataContentType: 'text/plain', extensions: {}, data: Buffer.from(topic), sequence: '0', ...extra };
}

export function publish(client: PublisherServiceClient, events: Event[], deadlineMs = 5_000): Promise<{ sequences: string[]; epoch: string }> {
  return new Promise((resolve, reject) =>
    client.publish({ events, idempotencyKey: '' }, new Metadata(), { deadline: Date.now() + deadlineMs }, (err, res) => (err ? reject(err) : resolve(res))),
  );
}
