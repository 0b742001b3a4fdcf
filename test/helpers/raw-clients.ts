import {
  Channel,
  type ChannelOptions,
  Client,
  type ClientDuplexStream,
  type ClientReadableStream,
  credentials,
  Metadata,
  type ServiceError,
} from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { type Delivery, OpenSinkRequest, OpenSinkResponse, type ResumeFrom, type SubscriptionSpec } from '../../shared/gen/tether/v1/sink';
import {
  ConnectionTrackerServiceClient,
  type GetTotalsResponse,
  type ListSinksResponse,
  type ListSubscriptionsResponse,
  type ReclaimRecord,
  type WatchReclaimsResponse,
} from '../../shared/gen/tether/v1/tracker';
import { probeHealth } from '../../shared/health-probe';
import { ProviderProcess, freePort } from './provider-process';
import { waitFor } from './wait';

// Clients for the hostile-input tests against the provider process: a sink client that sends raw bytes
// and records the size of every message it receives, the tracker over gRPC, and a health watcher.

type Kinds = NonNullable<OpenSinkResponse['kind']>;
type Kind = Kinds['$case'];
type ValueOf<K extends Kind> = Extract<Kinds, { $case: K }>['value'];
export type CallError = Error & { code: number; details: string };

/** One channel per client object, grpc-js's default 4 MiB receive limit. */
export const OWN_CHANNEL: ChannelOptions = { 'grpc.use_local_subchannel_pool': 1 };

/** A channel several client objects share: their calls all go over one HTTP/2 connection. */
export function sharedChannel(address: string, options: ChannelOptions = OWN_CHANNEL): Channel {
  return new Channel(address, credentials.createInsecure(), options);
}

/**
 * A sink client whose requests are bytes (so a test can hand-encode them) and whose deserializer records
 * the length of every message the provider sent.
 */
export class RawSinkClient {
  readonly client: Client;
  readonly call: ClientDuplexStream<Buffer, OpenSinkResponse>;
  readonly messages: OpenSinkResponse[] = [];
  /** Encoded size of each received message, in arrival order. */
  readonly sizes: number[] = [];
  error: CallError | undefined;
  ended = false;
  private readonly ownsChannel: boolean;
  // Kept as messages arrive, so polling them during a flood costs nothing.
  private readonly replyList: Array<{ kind: 'ack'; value: ValueOf<'ack'> } | { kind: 'error'; value: ValueOf<'error'> }> = [];
  private readonly deliveryList: Delivery[] = [];

  constructor(target: string | Channel, options: ChannelOptions = OWN_CHANNEL) {
    this.ownsChannel = typeof target === 'string';
    this.client =
      typeof target === 'string'
        ? new Client(target, credentials.createInsecure(), options)
        : new Client('shared', credentials.createInsecure(), { channelOverride: target });
    this.call = this.client.makeBidiStreamRequest<Buffer, OpenSinkResponse>(
      '/tether.v1.SinkService/OpenSink',
      (b: Buffer) => b,
      (b: Buffer) => {
        this.sizes.push(b.length);
        return OpenSinkResponse.decode(b);
      },
      new Metadata(),
      {},
    );
    this.call.on('data', (m: OpenSinkResponse) => {
      this.messages.push(m);
      if (m.kind?.$case === 'ack') this.replyList.push({ kind: 'ack', value: m.kind.value });
      else if (m.kind?.$case === 'error') this.replyList.push({ kind: 'error', value: m.kind.value });
      else if (m.kind?.$case === 'events') for (const d of m.kind.value.deliveries) this.deliveryList.push(d);
    });
    this.call.on('error', (e) => {
      this.error = e as CallError;
    });
    this.call.on('end', () => {
      this.ended = true;
    });
  }

  send(request: OpenSinkRequest): this {
    return this.writeRaw(Buffer.from(OpenSinkRequest.encode(request).finish()));
  }

  writeRaw(bytes: Buffer): this {
    this.call.write(bytes);
    return this;
  }

  open(name: string, maxReceiveMessageBytes = 0): this {
    return this.send({ kind: { $case: 'open', value: { consumerName: name, maxReceiveMessageBytes } } });
  }

  subscribe(specs: Array<Partial<SubscriptionSpec> & { subscriptionId: string; pattern: string }>, opts: { resume?: ResumeFrom; requestId?: string } = {}): this {
    return this.send({
      kind: { $case: 'subscribe', value: { subscriptions: specs.map((s) => ({ attributes: {}, ...s })), resume: opts.resume, requestId: opts.requestId ?? '' } },
    });
  }

  unsubscribe(ids: string[], requestId = ''): this {
    return this.send({ kind: { $case: 'unsubscribe', value: { subscriptionIds: ids, requestId } } });
  }

  of<K extends Kind>(kind: K): ValueOf<K>[] {
    return this.messages.flatMap((m) => (m.kind?.$case === kind ? [m.kind.value as ValueOf<K>] : []));
  }

  /** The replies to requests (acks and errors) in arrival order. */
  replies(): ReadonlyArray<{ kind: 'ack'; value: ValueOf<'ack'> } | { kind: 'error'; value: ValueOf<'error'> }> {
    return this.replyList;
  }

  deliveries(): readonly Delivery[] {
    return this.deliveryList;
  }

  get maxSize(): number {
    return this.sizes.reduce((a, b) => Math.max(a, b), 0);
  }

  async waitFor<K extends Kind>(kind: K, count = 1, timeoutMs = 5_000): Promise<ValueOf<K>[]> {
    await waitFor(`${count} ${kind} message(s)`, () => this.of(kind).length >= count || this.error !== undefined, timeoutMs);
    if (this.of(kind).length < count) throw new Error(`waiting for ${kind}, the stream failed: ${this.error?.code} ${this.error?.details}`);
    return this.of(kind);
  }

  async waitError(timeoutMs = 5_000): Promise<CallError> {
    await waitFor('a stream error', () => this.error !== undefined, timeoutMs);
    return this.error as CallError;
  }

  close(): void {
    this.call.cancel();
    if (this.ownsChannel) this.client.close();
  }
}

function unary<Res>(run: (md: Metadata, opts: { deadline: number }, cb: (err: ServiceError | null, res: Res) => void) => void, deadlineMs: number): Promise<Res> {
  return new Promise((resolve, reject) => run(new Metadata(), { deadline: Date.now() + deadlineMs }, (err, res) => (err ? reject(err) : resolve(res))));
}

/** The ConnectionTrackerService of a provider process, as promises. */
export class Tracker {
  readonly client: ConnectionTrackerServiceClient;
  readonly reclaims: ReclaimRecord[] = [];
  private watch: ClientReadableStream<WatchReclaimsResponse> | undefined;
  private watchError: CallError | undefined;

  constructor(address: string) {
    this.client = new ConnectionTrackerServiceClient(address, credentials.createInsecure(), OWN_CHANNEL);
  }

  totals(deadlineMs = 2_000): Promise<GetTotalsResponse> {
    return unary((md, o, cb) => this.client.getTotals({ local: true }, md, o, cb), deadlineMs);
  }

  listSinks(deadlineMs = 2_000): Promise<ListSinksResponse> {
    return unary((md, o, cb) => this.client.listSinks({ local: true }, md, o, cb), deadlineMs);
  }

  listSubscriptions(sinkId: string, deadlineMs = 2_000): Promise<ListSubscriptionsResponse> {
    return unary((md, o, cb) => this.client.listSubscriptions({ sinkId }, md, o, cb), deadlineMs);
  }

  evictSink(sinkId: string, deadlineMs = 2_000) {
    return unary((md, o, cb) => this.client.evictSink({ sinkId, message: '' }, md, o, cb), deadlineMs);
  }

  /**
   * Starts recording WatchReclaims records into `reclaims`. The server sends no headers before its first
   * record, so a GetTotals on the same connection, answered after the watch was taken up, is the barrier.
   */
  async watchReclaims(): Promise<void> {
    this.watch = this.client.watchReclaims({ local: true });
    this.watch.on('data', (r: WatchReclaimsResponse) => r.record && this.reclaims.push(r.record));
    this.watch.on('error', (e) => (this.watchError = e as CallError));
    await this.totals();
  }

  async waitReclaim(sinkId: string, timeoutMs: number): Promise<ReclaimRecord> {
    await waitFor(`a reclaim record for ${sinkId}`, () => this.reclaims.some((r) => r.sinkId === sinkId) || this.watchError !== undefined, timeoutMs);
    if (this.watchError) throw new Error(`WatchReclaims failed: ${this.watchError.code} ${this.watchError.details}`);
    return this.reclaims.find((r) => r.sinkId === sinkId) as ReclaimRecord;
  }

  /** Waits until the tracker holds no sink and no subscription; returns the totals. */
  async expectEmpty(timeoutMs = 5_000): Promise<GetTotalsResponse> {
    let last: GetTotalsResponse | undefined;
    try {
      await waitFor('tracker back to zero', async () => {
        last = await this.totals();
        return last.liveSinks === 0 && last.liveSubscriptions === 0;
      }, timeoutMs, 25);
    } catch (err) {
      throw new Error(`${(err as Error).message}: live_sinks=${last?.liveSinks} live_subscriptions=${last?.liveSubscriptions}`);
    }
    return last as GetTotalsResponse;
  }

  close(): void {
    this.watch?.cancel();
    this.client.close();
  }
}

/**
 * Starts the built provider on a free port and waits until it says SERVING; fails at once, with its log, if
 * the process exits instead. Besides ProviderProcess's own probe (200 ms per check) it probes with a 2 s
 * deadline, so a loaded machine cannot keep every check from being answered in time. Another test run on
 * this machine can take the port between the check and the bind: then it tries the next one.
 */
export async function startProvider(env: Record<string, string> = {}, timeoutMs = 30_000): Promise<ProviderProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(env, timeoutMs);
    } catch (err) {
      if (attempt >= 3 || !/EADDRINUSE/.test((err as Error).message)) throw err;
    }
  }
}

async function startOnce(env: Record<string, string>, timeoutMs: number): Promise<ProviderProcess> {
  // Production keepalive unless a test says otherwise: none of these tests is about keepalive, and a 500 ms
  // ping timeout kills healthy test connections on a loaded machine.
  const p = new ProviderProcess(await freePort(), { TETHER_KEEPALIVE_TIME_MS: '20000', TETHER_KEEPALIVE_TIMEOUT_MS: '10000', ...env });
  const starting = p.start(timeoutMs); // spawns synchronously: p.exited is this process's exit from here on
  let exited = false;
  const exitedFirst = p.exited.then((code) => {
    exited = true;
    throw new Error(`provider exited with ${code} before serving: ${p.output.trim().split('\n').slice(-3).join(' | ')}`);
  });
  const serving = waitFor('provider SERVING', async () => exited || (await probeHealth(p.address, '', 2_000)) === 'SERVING', timeoutMs, 50);
  try {
    await Promise.race([starting, exitedFirst, serving]);
  } catch (err) {
    await p.kill();
    throw err;
  } finally {
    for (const pending of [starting, exitedFirst, serving]) pending.catch(() => undefined);
  }
  return p;
}

/** An open grpc.health.v1.Health/Watch stream on the whole server ('') and how it ended. */
export class HealthWatch {
  readonly statuses: unknown[] = [];
  ended = false;
  error: CallError | undefined;
  private readonly client: Client;
  private readonly call: ClientReadableStream<{ status: unknown }>;

  constructor(address: string) {
    this.client = new Client(address, credentials.createInsecure(), OWN_CHANNEL);
    this.call = this.client.makeServerStreamRequest(
      '/grpc.health.v1.Health/Watch',
      healthService.Watch.requestSerialize,
      healthService.Watch.responseDeserialize,
      { service: '' },
    ) as ClientReadableStream<{ status: unknown }>;
    this.call.on('data', (m: { status: unknown }) => this.statuses.push(m.status));
    this.call.on('error', (e) => {
      this.error = e as CallError;
      this.ended = true;
    });
    this.call.on('end', () => {
      this.ended = true;
    });
  }

  close(): void {
    this.call.cancel();
    this.client.close();
  }
}
