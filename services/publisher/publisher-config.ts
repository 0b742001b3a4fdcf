import { parseAddressList } from '../../shared/address-list';
import { clientCredentialProblems, clientCredentialSettings } from '../../shared/client-credentials';
import { type ConfigOf, int, loadConfig, str } from '../../shared/config';

export const publisherSettings = {
  providerAddress: str('TETHER_PROVIDER_ADDRESS', '127.0.0.1:50051', 'host:port of the event provider; a comma-separated list of replicas to fail over between, first preferred.'),
  topics: str('PUBLISHER_TOPICS', 'orders.eu.created;orders.us.created;payments.card.failed;sensors.{1..5}.reading', "Topics to cycle through, separated by ';' (`{1..5}` expands a range)."),
  source: str('PUBLISHER_SOURCE', 'tether-sample-publisher', 'CloudEvents source of the sample events.'),
  ratePerSecond: int('PUBLISHER_RATE', 5, 'Events per second.', 1, 1_000_000),
  batchSize: int('PUBLISHER_BATCH', 1, 'Events per Publish call.', 1, 10_000),
  count: int('PUBLISHER_COUNT', 0, 'Stop after this many events; 0 runs until stopped.', 0),
  deadlineMs: int('PUBLISHER_DEADLINE_MS', 2_000, 'Deadline of each Publish call.', 10),
  maxAttempts: int('PUBLISHER_MAX_ATTEMPTS', 10, 'Sends of one batch (same idempotency key, next address each time) before it is counted failed.', 1),
  payloadBytes: int('PUBLISHER_PAYLOAD_BYTES', 64, 'Size of each event payload.', 0, 1_000_000),
  ...clientCredentialSettings,
};

export type PublisherConfig = ConfigOf<typeof publisherSettings>;

export function publisherConfigFromEnv(env: Record<string, string | undefined> = process.env): PublisherConfig {
  return loadConfig(publisherSettings, env, (c) => {
    const problems = clientCredentialProblems(c);
    try {
      parseAddressList(c.providerAddress);
    } catch (err) {
      problems.push(`TETHER_PROVIDER_ADDRESS: ${(err as Error).message}`);
    }
    return problems;
  });
}
