import { credentials, status } from '@grpc/grpc-js';
import { ReflectionClient } from '../cli/reflection-client';
import { ProviderHarness } from './helpers/provider-harness';

// Issue 10, point 3: reflection is served by default (grpcurl and `tether call` rely on it) and can be
// switched off with TETHER_REFLECTION=0.
test.each([
  [1, 'served'],
  [0, 'switched off'],
] as const)('TETHER_REFLECTION=%s: reflection %s', async (reflection, _what) => {
  const h = await ProviderHarness.start({ reflection });
  const client = new ReflectionClient(h.address, credentials.createInsecure());
  try {
    const listed = client.listServices(Date.now() + 5_000);
    if (reflection === 1) {
      expect(await listed).toEqual(expect.arrayContaining(['tether.v1.ConnectionTrackerService', 'tether.v1.PublisherService', 'tether.v1.SinkService']));
    } else {
      await expect(listed).rejects.toMatchObject({ code: status.UNIMPLEMENTED });
    }
  } finally {
    client.close();
    await h.stop();
  }
});
