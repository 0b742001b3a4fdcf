import { runService } from '../../shared/run-service';
import { publisherConfigFromEnv } from './publisher-config';
import { SamplePublisher } from './sample-publisher';

runService('publisher', () => publisherConfigFromEnv(), async (config, log) => {
  const publisher = new SamplePublisher(config, log);
  log.info({ provider: config.providerAddress, rate: config.ratePerSecond }, 'publisher started');
  void publisher.start().then(() => {
    log.info({ published: publisher.published, failed: publisher.failed }, 'publisher done');
    process.exit(0);
  });
  return { stop: async () => publisher.stop() };
});
