import pino from 'pino';
import { Provider } from '../../services/provider/provider';
import { type ProviderConfig, providerConfig } from '../../services/provider/provider-config';

/** An in-process provider on a free loopback port with silent logs, for benchmarks. */
export async function startProvider(overrides: Partial<ProviderConfig> = {}): Promise<Provider> {
  const provider = new Provider(providerConfig({ host: '127.0.0.1', port: 0, metricsPort: -1, ...overrides }), pino({ level: 'silent' }));
  await provider.start();
  return provider;
}
