import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { clientOptions } from '../../shared/client-options';
import {
  ConnectionTrackerServiceClient,
  type GetTotalsResponse,
  type SinkInfo,
  type SubscriptionInfo,
  type WatchReclaimsResponse,
} from '../../shared/gen/tether/v1/tracker';
import type { ClientReadableStream } from '@grpc/grpc-js';

const DEADLINE_MS = 5_000;

type Unary<Req, Res> = (req: Req, md: Metadata, opts: { deadline: number }, cb: (err: ServiceError | null, res: Res) => void) => unknown;

/** The operator's view, promisified, each call with a deadline so a wedged provider cannot hang the soak. */
export class TrackerClient {
  private readonly client: ConnectionTrackerServiceClient;

  constructor(address: string) {
    this.client = new ConnectionTrackerServiceClient(address, credentials.createInsecure(), clientOptions());
  }

  listSinks(): Promise<SinkInfo[]> {
    return this.call(this.client.listSinks, { local: true }).then((r) => r.sinks);
  }

  listSubscriptions(sinkId: string): Promise<SubscriptionInfo[]> {
    return this.call(this.client.listSubscriptions, { sinkId }).then((r) => r.subscriptions);
  }

  totals(): Promise<GetTotalsResponse> {
    return this.call(this.client.getTotals, { local: true });
  }

  evict(sinkId: string, message: string): Promise<number> {
    return this.call(this.client.evictSink, { sinkId, message }).then((r) => r.reclaimedSubscriptions);
  }

  watchReclaims(): ClientReadableStream<WatchReclaimsResponse> {
    return this.client.watchReclaims({ local: true });
  }

  close(): void {
    this.client.close();
  }

  private call<Req, Res>(method: Unary<Req, Res>, req: Req): Promise<Res> {
    return new Promise((resolve, reject) =>
      method.call(this.client, req, new Metadata(), { deadline: Date.now() + DEADLINE_MS }, (err, res) => (err ? reject(err) : resolve(res))),
    );
  }
}
