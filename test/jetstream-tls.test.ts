import * as path from 'node:path';
import { NatsLauncher } from './helpers/nats-launcher';
import { ProviderHarness } from './helpers/provider-harness';
import { SecurityFixtures } from './helpers/security-fixtures';
import { publishWith, publisherClient } from './helpers/secure-clients';
import { SinkTestClient, event } from './helpers/sink-test-client';

// Issue 10, point 6: the provider reaches the JetStream log's NATS over TLS, verified with
// TETHER_NATS_TLS_CA_FILE, so NATS can require TLS and is no way around the provider.
test('the JetStream log works against a NATS that requires TLS, verified with TETHER_NATS_TLS_CA_FILE', async () => {
  const fx = new SecurityFixtures();
  const natsCert = fx.ca.issue('nats', path.join(fx.dir, 'nats'), 'nats', { san: ['IP:127.0.0.1', 'DNS:localhost'] });
  const nats = await NatsLauncher.start(['--tls', '--tlscert', natsCert.cert, '--tlskey', natsCert.key]);
  const h = await ProviderHarness.start({ ...fx.providerConfig(), natsTlsCaFile: fx.ca.cert }, { nats });
  try {
    const token = await fx.token({ sub: 'js', roles: ['consumer', 'publisher'], subscribe: ['js.>'], publish: ['js.>'] });
    const sink = new SinkTestClient(h.address, fx.channel({ token })).open('js');
    sink.subscribe([{ subscriptionId: 'all', pattern: 'js.>' }]);
    await sink.waitFor('ack');
    const pub = publisherClient(h.address, fx.channel({ token }));
    expect((await publishWith(pub, [event('js.one'), event('js.two')])).err).toBeUndefined();
    await sink.waitDeliveries(2);
    sink.close();
    pub.close();
    await h.expectEmpty();
  } finally {
    await h.stop();
    await nats.stop();
    fx.cleanup();
  }
});
