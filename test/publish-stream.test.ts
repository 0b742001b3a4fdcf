import { credentials, status } from '@grpc/grpc-js';
import { clientOptions } from '../shared/client-options';
import { PublisherServiceClient, type PublishStreamResponse } from '../shared/gen/tether/v1/publisher';
import { ProviderHarness } from './helpers/provider-harness';
import { SinkTestClient, event } from './helpers/sink-test-client';
import { waitFor } from './helpers/wait';

// PublishStream: batches answered in order; a bad batch is answered in-band and the stream goes on;
// a draining provider ends the stream with UNAVAILABLE.
test('PublishStream answers each batch in order, in-band errors keep the stream, drain ends it UNAVAILABLE', async () => {
  const h = await ProviderHarness.start({ maxPublishBatch: 5 });
  const sink = new SinkTestClient(h.address).open('stream-reader').subscribe([{ subscriptionId: 'all', pattern: 'ps.>' }]);
  await sink.waitFor('ack');
  const client = new PublisherServiceClient(h.address, credentials.createInsecure(), clientOptions());
  const call = client.publishStream();
  const answers: PublishStreamResponse[] = [];
  let streamError: (Error & { code?: number }) | undefined;
  call.on('data', (a: PublishStreamResponse) => answers.push(a));
  call.on('error', (e) => (streamError = e));
  try {
    call.write({ batchId: '1', events: [event('ps.a'), event('ps.b')], idempotencyKey: '' });
    call.write({ batchId: '2', events: [event('bad..topic')], idempotencyKey: '' });
    call.write({ batchId: '3', events: Array.from({ length: 6 }, () => event('ps.c')), idempotencyKey: '' });
    call.write({ batchId: '4', events: [event('ps.d')], idempotencyKey: '' });
    await waitFor('four answers', () => answers.length === 4);
    expect(answers.map((a) => [a.batchId, a.code, a.sequences])).toEqual([
      ['1', status.OK, ['1', '2']],
      ['2', status.INVALID_ARGUMENT, []],
      ['3', status.INVALID_ARGUMENT, []],
      ['4', status.OK, ['3']],
    ]);
    expect(answers[1].message).toMatch(/invalid token/);
    expect(answers[2].message).toMatch(/6 events; the limit is 5/);
    const delivered = await sink.waitDeliveries(3);
    expect(delivered.map((d) => d.event?.topic)).toEqual(['ps.a', 'ps.b', 'ps.d']);

    await h.provider.stop(200);
    await waitFor('stream ended by the drain', () => streamError !== undefined);
    expect(streamError?.code).toBe(status.UNAVAILABLE);
  } finally {
    call.cancel();
    client.close();
    sink.close();
    await h.stop();
  }
});
