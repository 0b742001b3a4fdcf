import { createLogger } from '../../shared/logger';
import { Provider } from './provider';
import { providerConfigFromEnv } from './provider-config';

/** Starts the provider from the environment and drains it on SIGTERM or SIGINT. */
async function main(): Promise<void> {
  const log = createLogger('provider');
  let config;
  try {
    config = providerConfigFromEnv();
  } catch (err) {
    log.fatal((err as Error).message);
    process.exitCode = 2;
    return;
  }
  const provider = new Provider(config, log);
  let signalled = false;
  const shutdown = (signal: string) => {
    if (signalled) return;
    signalled = true;
    log.info({ signal }, 'shutting down');
    // A hard ceiling: even a wedged drain cannot keep the process alive past grace + 2 s.
    setTimeout(() => process.exit(1), config.shutdownGraceMs + 2_000).unref();
    void provider.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  await provider.start();
}

void main().catch((err: unknown) => {
  createLogger('provider').fatal({ err }, 'provider failed to start');
  process.exit(1);
});
