import { runService } from '../../shared/run-service';
import { Provider } from './provider';
import { providerConfigFromEnv } from './provider-config';

runService(
  'provider',
  () => providerConfigFromEnv(),
  async (config, log) => {
    const provider = new Provider(config, log);
    await provider.start();
    return { stop: () => provider.stop() };
  },
  // The drain has its own grace; this ceiling only catches a drain that wedges.
  (config) => config.shutdownGraceMs + 2_000,
);
