import { ConsumerProcess } from './helpers/consumer-process';
import { ProviderProcess, freePort } from './helpers/provider-process';
import { SilentProxy } from './helpers/silent-proxy';
import { waitFor } from './helpers/wait';

// Found by the soak: a hung consumer behind a TCP proxy was sometimes reclaimed as `crashed`. On a keepalive
// timeout Node half-closes the provider's side before destroying it, and the proxy answers that FIN with
// its own; that answer is no crash. It needs the provider in its own process (in one process the proxy's
// FIN cannot arrive between the half-close and the destroy), and several trials (it hit 1 in 6).
test('a hung consumer behind a proxy is reclaimed as keepalive-timeout, every time', async () => {
  const provider = new ProviderProcess(await freePort());
  await provider.start();
  try {
    for (let trial = 0; trial < 6; trial++) {
      const proxy = new SilentProxy(provider.port);
      await proxy.start();
      const name = `hung-${trial}`;
      const consumer = new ConsumerProcess({ TETHER_PROVIDER_ADDRESS: `127.0.0.1:${proxy.port}`, CONSUMER_NAME: name, CONSUMER_SUBSCRIPTIONS: 's=a.{1..10}.b' });
      try {
        await consumer.waitSubscribed(30_000);
        consumer.signal('SIGSTOP');
        const line = new RegExp(`"consumer":"${name}".*?"reason":"([a-z-]+)"`);
        await waitFor(`reclaim of ${name}`, () => line.test(provider.output), 10_000);
        expect(line.exec(provider.output)?.[1]).toBe('keepalive-timeout');
      } finally {
        await consumer.kill();
        await proxy.stop();
      }
    }
  } finally {
    await provider.kill();
  }
});
