import { type ChannelCredentials, type ClientDuplexStream, Metadata, type ServiceError } from '@grpc/grpc-js';
import { clientOptions } from '../../shared/client-options';
import { probeHealth } from '../../shared/health-probe';
import { PublisherServiceClient, type PublishStreamRequest, type PublishStreamResponse } from '../../shared/gen/tether/v1/publisher';
import { ConnectionTrackerServiceClient } from '../../shared/gen/tether/v1/tracker';
import type { Event } from '../../shared/gen/tether/v1/event';
import { deferred } from './wait';

export type CallError = ServiceError;

/** Settles a unary call into its error (or undefined) and value, never rejecting. */
export function settle<T>(fn: (md: Metadata, opts: { deadline: number }, cb: (err: ServiceError | null, res?: T) => void) => void): Promise<{ err?: ServiceError; res?: T }> {
  return new Promise((resolve) => fn(new Metadata(), { deadline: Date.now() + 5_000 }, (err, res) => resolve(err ? { err } : { res })));
}

export function trackerClient(address: string, channel: ChannelCredentials): ConnectionTrackerServiceClient {
  return new ConnectionTrackerServiceClient(address, channel, clientOptions());
}

export function publisherClient(address: string, channel: ChannelCredentials): PublisherServiceClient {
  return new PublisherServiceClient(address, channel, clientOptions());
}

export function publishWith(client: PublisherServiceClient, events: Event[]) {
  return settle<{ sequences: string[] }>((md, o, cb) => client.publish({ events, idempotencyKey: '' }, md, o, cb));
}

export function health(address: string, channel: ChannelCredentials): Promise<string> {
  return probeHealth(address, '', 2_000, channel);
}

/** A PublishStream that records its answers and how it ended. */
export class PublishStreamProbe {
  readonly call: ClientDuplexStream<PublishStreamRequest, PublishStreamResponse>;
  readonly answers: PublishStreamResponse[] = [];
  private readonly ended = deferred<ServiceError | undefined>();

  constructor(client: PublisherServiceClient) {
    this.call = client.publishStream();
    this.call.on('data', (a: PublishStreamResponse) => this.answers.push(a));
    this.call.on('error', (e: ServiceError) => this.ended.resolve(e));
    this.call.on('end', () => this.ended.resolve(undefined));
  }

  send(batchId: number, events: Event[]): void {
    this.call.write({ batchId: String(batchId), events, idempotencyKey: '' });
  }

  get end(): Promise<ServiceError | undefined> {
    return this.ended.promise;
  }
}
