import { connect } from '@nats-io/transport-node';
import { NatsLauncher } from './helpers/nats-launcher';
import { ProviderHarness } from './helpers/provider-harness';
import { SecurityFixtures } from './helpers/security-fixtures';
import { SinkTestClient, event, publish, publisher } from './helpers/sink-test-client';

// Issue 10, point 6: with the JetStream log the provider reaches NATS over TLS when TETHER_NATS_TLS_CA_FILE
// is set, against a nats-server that requires TLS (a plaintext client is refused there).
test('the provider keeps its JetStream log on a NATS server that requires TLS, verified with TETHER_NATS_TLS_CA_FILE', async () => {
  const fx = new SecurityFixtures();
  const nats = await NatsLauncher.start(['--tls', '--tlscert', fx.server.cert, '--tlskey', fx.server.key]);
  try {
    // The server really requires TLS: a client without it does not get in.
    await expect(connect({ servers: nats.url, timeout: 2_000, reconnect: false })).rejects.toThrow();
    const h = await ProviderHarness.start({ natsTlsCaFile: fx.ca.cert }, { nats, replicaId: 'tls' });
    try {
      const sink = new SinkTestClient(h.address).open('over-tls').subscribe([{ subscriptionId: 's', pattern: 'tls.>' }]);
      await sink.waitFor('ack');
      const pub = publisher(h.address);
      const { sequences } = await publish(pub, [event('tls.a'), event('tls.b')]);
      expect(sequences).toHaveLength(2);
      const deliveries = await sink.waitDeliveries(2);
      expect(deliveries.map((d) => d.event?.topic)).toEqual(['tls.a', 'tls.b']);
      pub.close();
      sink.close();
      await h.expectEmpty();
    } finally {
      await h.stop();
    }
  } finally {
    await nats.stop();
  }
});
