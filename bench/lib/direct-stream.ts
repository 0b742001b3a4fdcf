import { DiscardPolicy, jetstreamManager, StorageType } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';

/** The stream a user would set up without Tether: the same limits and file storage as Tether's own. */
export const DIRECT_STREAM = 'direct';
export const DIRECT_SUBJECT = 'direct.batches';

export async function createDirectStream(url: string): Promise<void> {
  const nc = await connect({ servers: url });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: DIRECT_STREAM, subjects: [DIRECT_SUBJECT], storage: StorageType.File, discard: DiscardPolicy.Old, num_replicas: 1 });
  await nc.close();
}
