import { clientOptions } from '../shared/client-options';
import { type OpenSinkResponse, SinkServiceClient } from '../shared/gen/tether/v1/sink';
import { parseSubscriptionList } from '../shared/subscription-spec';
import { type CommonOptions, out } from './format';

/** Opens a sink with the given subscriptions and prints events until interrupted (or --count). */
export async function tail(opts: CommonOptions, subscriptions: string, name: string, count: number): Promise<void> {
  const specs = parseSubscriptionList(subscriptions);
  if (specs.length === 0) throw new Error('tail needs at least one subscription pattern');
  const client = new SinkServiceClient(opts.address, opts.credentials, clientOptions());
  const call = client.openSink();
  let seen = 0;
  await new Promise<void>((resolve, reject) => {
    // A polite goodbye: half-close and let the provider end the sink (recorded as client-closed).
    const finish = () => {
      call.end();
      setTimeout(() => call.cancel(), 1_000).unref();
    };
    call.on('data', (msg: OpenSinkResponse) => {
      const k = msg.kind;
      if (k?.$case === 'error') process.stderr.write(`subscription ${k.value.subscriptionId} refused: ${k.value.message}\n`);
      if (k?.$case === 'ack' && !opts.json) process.stderr.write(`subscribed: ${k.value.subscriptionIds.join(', ')}\n`);
      if (k?.$case === 'closing') process.stderr.write(`provider closing the sink: ${k.value.reason} ${k.value.message}\n`);
      if (k?.$case !== 'events') return;
      for (const d of k.value.deliveries) {
        const e = d.event;
        if (!e) continue;
        if (opts.json) out(JSON.stringify({ ...e, data: Buffer.from(e.data).toString(), subscriptions: d.subscriptionIds }));
        else out(`#${e.sequence} ${e.topic} ${e.type} [${d.subscriptionIds.join(',')}] ${Buffer.from(e.data).toString()}`);
        if (count > 0 && ++seen >= count) return finish();
      }
    });
    call.on('error', (err: Error & { code?: number }) => (err.code === 1 ? resolve() : reject(err)));
    call.on('end', resolve);
    call.on('status', () => resolve());
    process.once('SIGINT', finish);
    call.write({ kind: { $case: 'open', value: { consumerName: name, maxReceiveMessageBytes: 0 } } });
    call.write({ kind: { $case: 'subscribe', value: { subscriptions: specs, requestId: '' } } });
  });
  client.close();
}
