import { createLogger } from '../../shared/logger';
import { Consumer } from './consumer';
import { consumerConfigFromEnv } from './consumer-config';

/** Starts the consumer service from the environment; stops on SIGTERM or SIGINT. */
async function main(): Promise<void> {
  const log = createLogger('consumer');
  let config;
  try {
    config = consumerConfigFromEnv();
  } catch (err) {
    log.fatal((err as Error).message);
    process.exitCode = 2;
    return;
  }
  const consumer = new Consumer(config, log.child({ consumer: config.name }));
  const stop = () => void consumer.stop().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  await consumer.start();
}

void main().catch((err: unknown) => {
  createLogger('consumer').fatal({ err }, 'consumer failed to start');
  process.exit(1);
});
