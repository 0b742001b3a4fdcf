import { createLogger } from '../../shared/logger';
import { publisherConfigFromEnv } from './publisher-config';
import { SamplePublisher } from './sample-publisher';

/** Runs the sample publisher from the environment. */
async function main(): Promise<void> {
  const log = createLogger('publisher');
  let config;
  try {
    config = publisherConfigFromEnv();
  } catch (err) {
    log.fatal((err as Error).message);
    process.exitCode = 2;
    return;
  }
  const publisher = new SamplePublisher(config, log);
  const stop = () => {
    publisher.stop();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  log.info({ provider: config.providerAddress, rate: config.ratePerSecond }, 'publisher started');
  await publisher.start();
  log.info({ published: publisher.published, failed: publisher.failed }, 'publisher done');
}

void main().catch((err: unknown) => {
  createLogger('publisher').fatal({ err }, 'publisher failed');
  process.exit(1);
});
