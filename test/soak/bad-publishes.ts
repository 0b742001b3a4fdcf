import { credentials } from '@grpc/grpc-js';
import { clientOptions } from '../../shared/client-options';
import type { Event } from '../../shared/gen/tether/v1/event';
import { PublisherServiceClient, type PublishStreamResponse } from '../../shared/gen/tether/v1/publisher';
import { event } from '../helpers/sink-test-client';
import { waitFor } from '../helpers/wait';
import type { FaultContext } from './fault-context';

const ROUNDS = 5;

/**
 * Bad batches. Those marked `refuse` break a documented limit and must be refused whole: each holds a valid
 * event to `floodpub.ok` beside the bad one. An empty batch may be answered either way, but in-band.
 */
function badBatches(): Array<{ events: Event[]; refuse: boolean }> {
  const ok = () => event('floodpub.ok');
  return [
    { events: [ok(), event('floodpub.bad topic')], refuse: true },
    { events: [ok(), event('floodpub..empty')], refuse: true },
    { events: [ok(), event(`floodpub.${'x'.repeat(300)}`)], refuse: true },
    { events: [ok(), event(Array(17).fill('floodpub').join('.'))], refuse: true },
    { events: [ok(), event('floodpub.ext', { extensions: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`e${i}`, 'v'])) })], refuse: true },
    { events: Array.from({ length: 1_001 }, ok), refuse: true },
    { events: [], refuse: false },
  ];
}

/**
 * Sends bad batches over one PublishStream: every one must be answered in-band with a non-OK code while
 * the stream stays open. The flood sink subscribes `floodpub.>`, so a half-published batch shows up as a
 * delivery there.
 */
export async function badPublishes(ctx: FaultContext): Promise<void> {
  const client = new PublisherServiceClient(ctx.address, credentials.createInsecure(), clientOptions());
  const call = client.publishStream();
  const answers: PublishStreamResponse[] = [];
  let broken: string | undefined;
  call.on('data', (r: PublishStreamResponse) => answers.push(r));
  call.on('error', (err: Error) => (broken = err.message));
  let sent = 0;
  const mustRefuse = new Set<string>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const { events, refuse } of badBatches()) {
      const batchId = String(++sent);
      if (refuse) mustRefuse.add(batchId);
      call.write({ batchId, events, idempotencyKey: '' });
    }
  }
  await waitFor('bad publish answers', () => answers.length >= sent || broken !== undefined, 10_000).catch(() => undefined);
  if (broken) ctx.findings.violate('bad publish', `PublishStream broke on bad batches: ${broken}`);
  else if (answers.length < sent) ctx.findings.violate('bad publish', `${sent - answers.length} of ${sent} bad batches unanswered after 10 s`);
  const accepted = answers.filter((a) => a.code === 0 && mustRefuse.has(a.batchId));
  if (accepted.length > 0) ctx.findings.violate('bad publish', `${accepted.length} bad batches were accepted (batch ids ${accepted.map((a) => a.batchId).join(', ')})`);
  call.end();
  client.close();
}
