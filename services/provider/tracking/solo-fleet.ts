import type { FleetView, RemoteSink, ReplicaTotals } from './fleet-view';

/** One provider on its own log: the fleet is this replica, so there is nothing remote to show. */
export class SoloFleet implements FleetView {
  remoteSinks(): RemoteSink[] {
    return [];
  }

  remoteTotals(): ReplicaTotals[] {
    return [];
  }

  onRemoteReclaim(): () => void {
    return () => undefined;
  }

  async evictRemote(): Promise<number | undefined> {
    return undefined;
  }

  async start(): Promise<void> {}

  async stop(): Promise<void> {}
}
