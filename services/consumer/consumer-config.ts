import * as os from 'node:os';
import { parseAddressList } from '../../shared/address-list';
import { clientCredentialProblems, clientCredentialSettings, hasClientAuth } from '../../shared/client-credentials';
import { RECEIVE_WINDOW_BYTES } from '../../shared/client-options';
import { type ConfigOf, int, loadConfig, optionalStr, str } from '../../shared/config';
import { isLoopbackHost } from '../../shared/loopback';
import { parseSubscriptionList } from '../../shared/subscription-spec';

/** Every setting of the consumer service. */
export const consumerSettings = {
  providerAddress: str('TETHER_PROVIDER_ADDRESS', '127.0.0.1:50051', 'host:port of the event provider; a comma-separated list of replicas to fail over between, first preferred.'),
  name: str('CONSUMER_NAME', '', 'Consumer name shown by the tracker; empty means the host name.'),
  subscriptions: str('CONSUMER_SUBSCRIPTIONS', '>', "Subscriptions: `[id=]pattern[key=value,…]` separated by ';'; `{1..300}` expands a range."),
  host: optionalStr('CONSUMER_HOST', 'Address the health, `/metrics` and `/status` endpoints listen on. Empty: all interfaces when the consumer authenticates to the provider, else 127.0.0.1.'),
  healthPort: int('CONSUMER_HEALTH_PORT', 50061, 'gRPC health port (0 picks a free one).', 0, 65535),
  metricsPort: int('CONSUMER_METRICS_PORT', 9465, 'HTTP `/metrics` and `/status` port; -1 disables, 0 picks a free one.', -1, 65535),
  queueMax: int('CONSUMER_QUEUE_MAX', 10_000, 'Events received but not yet handled; at the bound the consumer stops reading.', 1),
  handlerDelayMs: int('CONSUMER_HANDLER_DELAY_MS', 0, 'Simulated handling time per event (demos and fault tests).', 0),
  logEvents: int('CONSUMER_LOG_EVENTS', 1, '1 logs every event at info level, 0 logs them at debug.', 0, 1),
  keepaliveTimeMs: int('CONSUMER_KEEPALIVE_TIME_MS', 300_000, 'Client keepalive ping interval; 5 min is what strict gRPC servers permit.', 10_000),
  keepaliveTimeoutMs: int('CONSUMER_KEEPALIVE_TIMEOUT_MS', 20_000, 'Client keepalive ping deadline.', 1_000),
  receiveWindowBytes: int('CONSUMER_RECEIVE_WINDOW_BYTES', RECEIVE_WINDOW_BYTES, 'HTTP/2 flow-control window granted to the provider (per stream and connection); 64 KiB, the HTTP/2 default, stalls the provider inside every large delivery.', 65_535, 2 ** 31 - 1),
  idleTimeoutMs: int('CONSUMER_IDLE_TIMEOUT_MS', 30_000, 'No message (events or provider heartbeats) for this long means the provider is gone: reconnect.', 100),
  backoffInitialMs: int('CONSUMER_BACKOFF_INITIAL_MS', 100, 'First reconnect delay ceiling.', 1),
  backoffMaxMs: int('CONSUMER_BACKOFF_MAX_MS', 5_000, 'Reconnect delay cap.', 1),
  maxSubscriptions: int('CONSUMER_MAX_SUBSCRIPTIONS', 10_000, 'Entries the subscription list may expand to.', 1),
  stateFile: str(
    'CONSUMER_STATE_FILE',
    '',
    'File keeping the resume position across process restarts; empty keeps it in memory only. Its directory must exist and be writable: the consumer checks at start-up and refuses to run otherwise.',
  ),
  stateFlushMs: int('CONSUMER_STATE_FLUSH_MS', 1_000, 'How often a changed position is written to CONSUMER_STATE_FILE.', 10),
  ...clientCredentialSettings,
  allowUnauthenticated: int('TETHER_ALLOW_UNAUTHENTICATED', 0, '1 lets a consumer without credentials serve /status and /metrics on a non-loopback CONSUMER_HOST.', 0, 1),
};

export type ConsumerConfig = ConfigOf<typeof consumerSettings>;

/** Where the endpoints listen: as configured, or everywhere only for a consumer that authenticates. */
export function consumerHost(c: ConsumerConfig): string {
  return c.host || (hasClientAuth(c) ? '0.0.0.0' : '127.0.0.1');
}

export function consumerConfigFromEnv(env: Record<string, string | undefined> = process.env): ConsumerConfig {
  const config = loadConfig(consumerSettings, env, (c) => {
    try {
      parseAddressList(c.providerAddress);
    } catch (err) {
      return [`TETHER_PROVIDER_ADDRESS: ${(err as Error).message}`];
    }
    try {
      if (parseSubscriptionList(c.subscriptions, c.maxSubscriptions).length === 0) return ['CONSUMER_SUBSCRIPTIONS is empty'];
    } catch (err) {
      return [`CONSUMER_SUBSCRIPTIONS: ${(err as Error).message}`];
    }
    const problems = clientCredentialProblems(c);
    if (c.backoffMaxMs < c.backoffInitialMs) problems.push('CONSUMER_BACKOFF_MAX_MS must be at least CONSUMER_BACKOFF_INITIAL_MS');
    if (c.host && !isLoopbackHost(c.host) && !hasClientAuth(c) && c.allowUnauthenticated !== 1) {
      problems.push(`CONSUMER_HOST=${c.host} would show what this consumer received to anyone who reaches it, with no authentication configured: set TETHER_TOKEN_FILE or TETHER_CERT_FILE, listen on loopback, or set TETHER_ALLOW_UNAUTHENTICATED=1`);
    }
    return problems;
  });
  return config.name ? config : Object.freeze({ ...config, name: os.hostname() });
}
