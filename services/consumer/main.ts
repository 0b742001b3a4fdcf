import { runService } from '../../shared/run-service';
import { Consumer } from './consumer';
import { consumerConfigFromEnv } from './consumer-config';

runService('consumer', () => consumerConfigFromEnv(), async (config, log) => {
  const consumer = new Consumer(config, log.child({ consumer: config.name }));
  await consumer.start();
  return consumer;
});
