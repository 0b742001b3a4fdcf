import * as os from 'node:os';
import { randomBytes } from 'node:crypto';
import { type ConfigOf, configError, int, loadConfig, oneOf, optionalStr, str } from '../../shared/config';
import { isLoopbackHost } from '../../shared/loopback';

const MiB = 1024 * 1024;

/**
 * Every setting of the provider. Each bound on a queue, map or buffer is named here. The keepalive
 * defaults (20 s + 10 s) tolerate a long GC pause or event-loop stall: a ping timeout shorter than the
 * worst stall kills healthy connections.
 */
export const providerSettings = {
  host: optionalStr('TETHER_HOST', 'Address the gRPC server and `/metrics` listen on. Empty: all interfaces with authentication configured, else 127.0.0.1 (with a warning).'),
  port: int('TETHER_PORT', 50051, 'gRPC port (0 picks a free one).', 0, 65535),
  metricsPort: int('TETHER_METRICS_PORT', 9464, 'Prometheus `/metrics` port; -1 disables, 0 picks a free one.', -1, 65535),
  keepaliveTimeMs: int('TETHER_KEEPALIVE_TIME_MS', 20_000, 'Server keepalive ping interval per connection.', 100),
  keepaliveTimeoutMs: int('TETHER_KEEPALIVE_TIMEOUT_MS', 10_000, 'Ping answer deadline; a hung or silent consumer is reclaimed within time + timeout.', 100),
  livenessSweepMs: int('TETHER_LIVENESS_SWEEP_MS', 500, 'How often the tracker samples socket reads, drain progress and idle sinks.', 10, 60_000),
  heartbeatMs: int('TETHER_HEARTBEAT_MS', 10_000, 'An in-band heartbeat goes to a sink idle this long, so consumers can tell a dead provider.', 50),
  maxSinks: int('TETHER_MAX_SINKS', 10_000, 'Open sinks in total; more are refused with RESOURCE_EXHAUSTED.', 1),
  maxConnections: int('TETHER_MAX_CONNECTIONS', 10_000, 'Accepted TCP connections; more are refused at accept.', 1),
  maxStreamsPerConnection: int('TETHER_MAX_STREAMS_PER_CONNECTION', 1_000, 'Concurrent HTTP/2 streams (calls) on one connection.', 1),
  maxMessageBytes: int('TETHER_MAX_MESSAGE_BYTES', 8 * 1024 * 1024, 'Largest request the provider reads (a Publish batch); larger ones get RESOURCE_EXHAUSTED.', 1024),
  maxSubscriptionsPerSink: int('TETHER_MAX_SUBSCRIPTIONS_PER_SINK', 10_000, 'Subscriptions one sink may hold.', 1),
  maxPatternLength: int('TETHER_MAX_PATTERN_LENGTH', 256, 'Characters in a pattern or topic.', 1, 4096),
  maxPatternDepth: int('TETHER_MAX_PATTERN_DEPTH', 16, 'Tokens in a pattern or topic.', 1, 256),
  topicCacheMax: int('TETHER_TOPIC_CACHE_MAX', 4096, 'Distinct topics whose parsed tokens are kept, so a repeated topic is not split and checked again per event (0: none). Emptied when full.', 0, 1_000_000),
  maxAttributes: int('TETHER_MAX_ATTRIBUTES', 16, 'Attribute matches per subscription, and extension attributes per event.', 0, 256),
  maxEventBytes: int('TETHER_MAX_EVENT_BYTES', 256 * 1024, 'Encoded size of one event.', 64),
  maxPublishBatch: int('TETHER_MAX_PUBLISH_BATCH', 1_000, 'Events in one Publish call.', 1),
  maxConsumerNameLength: int('TETHER_MAX_CONSUMER_NAME_LENGTH', 128, 'UTF-8 bytes in a consumer name (printable characters only).', 1, 1024),
  maxSubscriptionIdBytes: int('TETHER_MAX_SUBSCRIPTION_ID_BYTES', 256, 'UTF-8 bytes in a subscription id (printable characters only).', 1, 4096),
  maxSpecsPerSubscribe: int('TETHER_MAX_SPECS_PER_SUBSCRIBE', 10_000, 'Specs in one Subscribe; more refuse the whole request. At least TETHER_MAX_SUBSCRIPTIONS_PER_SINK.', 1),
  maxIdsPerUnsubscribe: int('TETHER_MAX_IDS_PER_UNSUBSCRIBE', 10_000, 'Ids in one Unsubscribe; more refuse the whole request. At least TETHER_MAX_SUBSCRIPTIONS_PER_SINK.', 1),
  sinkQueueMaxEvents: int('TETHER_SINK_QUEUE_MAX_EVENTS', 20_000, 'Deliveries queued for one sink; overflow closes it as slow-consumer.', 1),
  sinkQueueMaxBytes: int('TETHER_SINK_QUEUE_MAX_BYTES', 32 * MiB, 'Bytes queued for one sink; overflow closes it as slow-consumer.', 1024),
  sinkControlQueueMax: int('TETHER_SINK_CONTROL_QUEUE_MAX', 64, 'Control replies queued for one sink; at the bound the sink stops reading requests until they drain.', 2),
  sinkDrainTimeoutMs: int('TETHER_SINK_DRAIN_TIMEOUT_MS', 15_000, 'A blocked sink with no drain progress this long is closed as slow-consumer.', 10),
  batchMaxEvents: int('TETHER_BATCH_MAX_EVENTS', 256, 'Deliveries per gRPC message when the stream is busy.', 1),
  batchMaxBytes: int('TETHER_BATCH_MAX_BYTES', 256 * 1024, 'Bytes per gRPC message when the stream is busy.', 1024),
  historyMaxEvents: int('TETHER_HISTORY_MAX_EVENTS', 10_000, 'Events kept for resume (any number: a resume reads them as the stream drains). With the JetStream log: the replica\'s recent cache; the stream\'s limits set retention.', 0),
  historyMaxBytes: int('TETHER_HISTORY_MAX_BYTES', 16 * MiB, 'Bytes kept for resume (JetStream log: in the recent cache).', 0),
  historyMaxAgeMs: int('TETHER_HISTORY_MAX_AGE_MS', 300_000, 'Age after which an event leaves the resume history (JetStream log: the recent cache).', 0),
  replayScanPerTurn: int('TETHER_REPLAY_SCAN_PER_TURN', 4_096, 'Retained events one resume reads per event-loop turn.', 1),
  openTimeoutMs: int('TETHER_OPEN_TIMEOUT_MS', 10_000, 'A sink or publish stream must send its first message within this time.', 10),
  closeLingerMs: int('TETHER_CLOSE_LINGER_MS', 5_000, 'A stream ended with a status that has not finished after this is reset.', 10),
  maxHealthWatchers: int('TETHER_MAX_HEALTH_WATCHERS', 256, 'Concurrent grpc.health.v1 Watch streams.', 1),
  classifyWindowMs: int('TETHER_CLASSIFY_WINDOW_MS', 100, 'How long a stream end waits to see whether its socket closes too (crash or keepalive vs. clean close).', 0, 10_000),
  purgeChunk: int('TETHER_PURGE_CHUNK', 2_000, 'Subscriptions of a closed sink removed from the index per event-loop turn.', 1),
  maxReclaimWatchers: int('TETHER_MAX_RECLAIM_WATCHERS', 64, 'Concurrent WatchReclaims streams.', 1),
  watcherQueueMax: int('TETHER_WATCHER_QUEUE_MAX', 1_000, 'Reclaim records buffered for one slow watcher before it is dropped.', 1),
  latencyWindow: int('TETHER_LATENCY_WINDOW', 1_024, 'Recent reclaims kept for the detection-latency summary.', 1),
  eventLog: oneOf('TETHER_EVENT_LOG', 'memory', ['memory', 'jetstream'], '`memory`: the embedded log, one provider. `jetstream`: replicas share one NATS JetStream stream.'),
  natsUrl: str('TETHER_NATS_URL', 'nats://127.0.0.1:4222', 'NATS servers, comma-separated (JetStream log only).'),
  stream: str('TETHER_STREAM', 'tether', 'JetStream stream holding the log; created by the first replica. Its name and creation time are the epoch.'),
  streamMaxMsgs: int('TETHER_STREAM_MAX_MSGS', -1, 'Stream limit in JetStream messages, i.e. published batches (not events); -1: none.', -1),
  streamMaxBytes: int('TETHER_STREAM_MAX_BYTES', 1024 * MiB, 'Stream limit in bytes of stored messages; -1: none.', -1),
  streamMaxAgeMs: int('TETHER_STREAM_MAX_AGE_MS', 86_400_000, 'Stream limit on message age in ms (JetStream stores nanoseconds); 0: none.', 0),
  streamStorage: oneOf('TETHER_STREAM_STORAGE', 'file', ['file', 'memory'], '`file` survives a NATS crash; `memory` loses every event on one.'),
  streamDuplicateWindowMs: int('TETHER_STREAM_DUPLICATE_WINDOW_MS', 120_000, 'How long JetStream remembers an idempotency key, so a retried batch is stored once.', 100),
  replicaId: str('TETHER_REPLICA_ID', '', 'This replica\'s name in the fleet view; empty: the host name plus a short random suffix.'),
  natsTimeoutMs: int('TETHER_NATS_TIMEOUT_MS', 1_500, 'Deadline of each JetStream request; a Publish NATS does not store in time fails UNAVAILABLE.', 100, 60_000),
  natsPingMs: int('TETHER_NATS_PING_MS', 2_000, 'NATS client ping interval; two unanswered pings mark NATS unreachable.', 100),
  natsReconnectWaitMs: int('TETHER_NATS_RECONNECT_WAIT_MS', 250, 'Delay between NATS reconnect attempts (reconnects never stop).', 10),
  maxPendingAppends: int('TETHER_MAX_PENDING_APPENDS', 1_024, 'Batches waiting for JetStream to store them; more are refused UNAVAILABLE.', 1),
  publishStreamMaxPending: int('TETHER_PUBLISH_STREAM_MAX_PENDING', 16, 'Unanswered batches on one PublishStream before the provider stops reading it.', 1),
  replayReadAhead: int('TETHER_REPLAY_READ_AHEAD', 32, 'JetStream messages one resume fetches ahead of its sink.', 1, 10_000),
  replayMaxReaders: int('TETHER_REPLAY_MAX_READERS', 64, 'Resumes reading the stream at once; more wait for a slot.', 1),
  resumeCatchUpMs: int('TETHER_RESUME_CATCHUP_MS', 5_000, 'A resume ahead of this replica\'s head waits this long for the replica to catch up before it is refused OUT_OF_RANGE.', 0, 60_000),
  leaseTtlMs: int('TETHER_LEASE_TTL_MS', 15_000, 'A replica whose lease is this old is lost: its sinks are reported replica-lost. Survives a NATS restart shorter than this.', 1_000),
  leaseRenewMs: int('TETHER_LEASE_RENEW_MS', 2_000, 'How often a replica renews its lease and publishes its sink table.', 100),
  leasePollMs: int('TETHER_LEASE_POLL_MS', 1_000, 'How often replicas look for expired leases (NATS 2.9 raises no event when a key expires).', 100),
  fenceAfterMs: int('TETHER_FENCE_AFTER_MS', 10_000, 'A replica that could not renew its lease for this long closes its sinks (replica-lost) so consumers fail over; below TETHER_LEASE_TTL_MS.', 100),
  fleetSyncMs: int('TETHER_FLEET_SYNC_MS', 250, 'A sink opened or closed reaches the fleet\'s sink table within this; a replica lost sooner after opening a sink cannot report it.', 10),
  fleetMaxSinks: int('TETHER_FLEET_MAX_SINKS', 100_000, 'Sinks of other replicas kept in the fleet view.', 1),
  shutdownGraceMs: int('TETHER_SHUTDOWN_GRACE_MS', 5_000, 'On SIGTERM, streams still open after this are forced closed.', 0),
  allowUnauthenticated: int('TETHER_ALLOW_UNAUTHENTICATED', 0, '1 lets a provider without authentication listen on a non-loopback TETHER_HOST.', 0, 1),
  tlsCertFile: optionalStr('TETHER_TLS_CERT_FILE', 'PEM certificate chain of the gRPC port; set with TETHER_TLS_KEY_FILE to serve TLS. Reloaded on change or SIGHUP.'),
  tlsKeyFile: optionalStr('TETHER_TLS_KEY_FILE', 'PEM private key of TETHER_TLS_CERT_FILE.'),
  tlsClientCaFile: optionalStr('TETHER_TLS_CLIENT_CA_FILE', 'PEM CA bundle; set: every client must present a certificate it verifies (mTLS).'),
  tlsHandshakeTimeoutMs: int('TETHER_TLS_HANDSHAKE_TIMEOUT_MS', 10_000, 'A TLS handshake not finished within this is dropped.', 100),
  credentialsCheckMs: int('TETHER_CREDENTIALS_CHECK_MS', 2_000, 'How often certificate, key, JWKS and mapping files are checked for changes.', 100),
  authJwksFile: optionalStr('TETHER_AUTH_JWKS_FILE', 'JWKS of the keys bearer tokens are verified with (needs TLS). Reloaded on change or SIGHUP.'),
  authIssuer: optionalStr('TETHER_AUTH_ISSUER', 'Required `iss` of tokens; empty accepts any.'),
  authAudience: optionalStr('TETHER_AUTH_AUDIENCE', 'Required `aud` of tokens; empty accepts any.'),
  authCertIdentitiesFile: optionalStr('TETHER_AUTH_CERT_IDENTITIES_FILE', 'YAML mapping client-certificate subjects (CN) to roles, allow-lists and quotas (needs TETHER_TLS_CLIENT_CA_FILE).'),
  authClockToleranceMs: int('TETHER_AUTH_CLOCK_TOLERANCE_MS', 1_000, 'Clock skew allowed on token `exp` and `nbf`.', 0, 5_000),
  authMaxTokenLifetimeMs: int('TETHER_AUTH_MAX_TOKEN_LIFETIME_MS', 86_400_000, 'Tokens valid for longer than this from now are refused; a revocation lasts at least this long.', 1_000),
  authCacheEntries: int('TETHER_AUTH_CACHE_ENTRIES', 10_000, 'Verified tokens remembered, so a busy caller is not verified on every call.', 1),
  reflection: int('TETHER_REFLECTION', 1, '1 serves gRPC server reflection (to authenticated callers when authentication is on); 0 turns it off.', 0, 1),
  quotaSinks: int('TETHER_QUOTA_SINKS', 16, 'Open sinks per identity (a token `quotas.sinks` claim overrides it).', 0),
  quotaSubscriptions: int('TETHER_QUOTA_SUBSCRIPTIONS', 20_000, 'Subscriptions per identity across its sinks (`quotas.subscriptions`).', 0),
  quotaPublishEventsPerS: int('TETHER_QUOTA_PUBLISH_EVENTS_PER_S', 10_000, 'Events per second an identity may publish (`quotas.publish_events_per_s`).', 0),
  quotaPublishBytesPerS: int('TETHER_QUOTA_PUBLISH_BYTES_PER_S', 16 * MiB, 'Event payload bytes per second an identity may publish (`quotas.publish_bytes_per_s`).', 0),
  quotaBurstMs: int('TETHER_QUOTA_BURST_MS', 1_000, 'A publish quota may be spent this far ahead at once (bucket size = rate × this).', 1, 60_000),
  quotaCountRetryMs: int('TETHER_QUOTA_COUNT_RETRY_MS', 5_000, 'Retry hint sent when a sink or subscription quota is full.', 0),
  quotaMaxSubjects: int('TETHER_QUOTA_MAX_SUBJECTS', 100_000, 'Identities tracked for quotas at once (idle ones are dropped).', 1),
  maxRevocations: int('TETHER_MAX_REVOCATIONS', 10_000, 'Revocations in force at once.', 1),
  revocationsFile: optionalStr('TETHER_REVOCATIONS_FILE', 'File keeping revocations across restarts; empty keeps them in memory only.'),
  auditMaxSubjectLabels: int('TETHER_AUDIT_MAX_SUBJECT_LABELS', 1_000, 'Distinct subjects labelled in tether_audit_events_total; the rest count as "(other)".', 1),
  natsCredsFile: optionalStr('TETHER_NATS_CREDS_FILE', 'NATS credentials (.creds) the JetStream event log connects with; re-read on every reconnect.'),
  natsTlsCaFile: optionalStr('TETHER_NATS_TLS_CA_FILE', 'PEM CA that verifies the NATS server of the JetStream event log; set: TLS to NATS is required.'),
};

export type ProviderConfig = ConfigOf<typeof providerSettings>;

/** What a gRPC client accepts unless it says otherwise: the receive limit a consumer gets by default. */
export const DEFAULT_RECEIVE_BYTES = 4 * MiB;

/**
 * The smallest receive limit a consumer may state: one event of the largest size naming one subscription,
 * and a control reply with its bounded list of refusals, must fit.
 */
export function minReceiveBytes(c: ProviderConfig): number {
  return Math.max(c.maxEventBytes + c.maxSubscriptionIdBytes + 64, 64 * 1024);
}

/** Authentication is configured: tokens, or client certificates mapped to identities. */
export function authConfigured(c: ProviderConfig): boolean {
  return c.authJwksFile !== '' || c.authCertIdentitiesFile !== '';
}

/** Where to listen: as configured, or by default everywhere only when callers must authenticate. */
export function listenHost(c: ProviderConfig): string {
  return c.host || (authConfigured(c) ? '0.0.0.0' : '127.0.0.1');
}

function securityChecks(c: ProviderConfig): string[] {
  const problems: string[] = [];
  if ((c.tlsCertFile === '') !== (c.tlsKeyFile === '')) problems.push('TETHER_TLS_CERT_FILE and TETHER_TLS_KEY_FILE are set together');
  if (c.tlsClientCaFile && !c.tlsCertFile) problems.push('TETHER_TLS_CLIENT_CA_FILE needs TETHER_TLS_CERT_FILE and TETHER_TLS_KEY_FILE');
  // Tokens go over TLS only: a bearer token in the clear can be replayed by anyone who sees it.
  if (c.authJwksFile && !c.tlsCertFile) problems.push('TETHER_AUTH_JWKS_FILE needs TLS (TETHER_TLS_CERT_FILE and TETHER_TLS_KEY_FILE): tokens go over TLS only');
  if (c.authCertIdentitiesFile && !c.tlsClientCaFile) problems.push('TETHER_AUTH_CERT_IDENTITIES_FILE needs TETHER_TLS_CLIENT_CA_FILE (client certificates)');
  if (c.tlsClientCaFile && !authConfigured(c)) {
    problems.push('TETHER_TLS_CLIENT_CA_FILE verifies callers but gives them no roles: set TETHER_AUTH_CERT_IDENTITIES_FILE or TETHER_AUTH_JWKS_FILE');
  }
  if (!authConfigured(c) && c.host && !isLoopbackHost(c.host) && c.allowUnauthenticated !== 1) {
    problems.push(`TETHER_HOST=${c.host} would let anyone who reaches it publish, read every event and evict consumers: configure TETHER_AUTH_JWKS_FILE or TETHER_AUTH_CERT_IDENTITIES_FILE, listen on loopback, or set TETHER_ALLOW_UNAUTHENTICATED=1`);
  }
  return problems;
}

function crossChecks(c: ProviderConfig): string[] {
  const problems: string[] = securityChecks(c);
  // A consumer can always resume all of its subscriptions in one Subscribe.
  if (c.maxSpecsPerSubscribe < c.maxSubscriptionsPerSink) problems.push('TETHER_MAX_SPECS_PER_SUBSCRIBE must be at least TETHER_MAX_SUBSCRIPTIONS_PER_SINK');
  if (c.maxIdsPerUnsubscribe < c.maxSubscriptionsPerSink) problems.push('TETHER_MAX_IDS_PER_UNSUBSCRIBE must be at least TETHER_MAX_SUBSCRIPTIONS_PER_SINK');
  if (c.maxEventBytes > c.batchMaxBytes) problems.push('TETHER_MAX_EVENT_BYTES must not exceed TETHER_BATCH_MAX_BYTES');
  if (c.maxEventBytes > c.maxMessageBytes) problems.push('TETHER_MAX_EVENT_BYTES must not exceed TETHER_MAX_MESSAGE_BYTES');
  // Nothing may be sent that a default gRPC client cannot receive.
  if (c.batchMaxBytes > DEFAULT_RECEIVE_BYTES) problems.push(`TETHER_BATCH_MAX_BYTES must not exceed ${DEFAULT_RECEIVE_BYTES} (a gRPC client's default receive limit)`);
  if (minReceiveBytes(c) > DEFAULT_RECEIVE_BYTES) {
    problems.push(`TETHER_MAX_EVENT_BYTES plus TETHER_MAX_SUBSCRIPTION_ID_BYTES must stay below ${DEFAULT_RECEIVE_BYTES} (a gRPC client's default receive limit)`);
  }
  if (c.eventLog === 'jetstream') {
    if (c.fenceAfterMs + c.leaseRenewMs > c.leaseTtlMs) problems.push('TETHER_FENCE_AFTER_MS plus TETHER_LEASE_RENEW_MS must stay below TETHER_LEASE_TTL_MS, so a cut-off replica fences before its lease expires');
    if (c.leaseRenewMs * 2 > c.leaseTtlMs) problems.push('TETHER_LEASE_RENEW_MS must be at most half TETHER_LEASE_TTL_MS');
    if (!/^[A-Za-z0-9_-]+$/.test(c.stream)) problems.push('TETHER_STREAM may hold only letters, digits, - and _');
  }
  return problems;
}

/** A replica's default name: the host name and a short random suffix, so two on one host differ. */
function withReplicaId<C extends { readonly replicaId: string }>(c: C): C {
  const id = (c.replicaId || `${os.hostname()}-${randomBytes(3).toString('hex')}`).replace(/[^A-Za-z0-9_-]/g, '-');
  return Object.freeze({ ...c, replicaId: id });
}

export function providerConfigFromEnv(env: Record<string, string | undefined> = process.env): ProviderConfig {
  return withReplicaId(loadConfig(providerSettings, env, crossChecks));
}

/** Defaults overridden by a partial object, validated like the environment: for in-process tests and benchmarks. */
export function providerConfig(overrides: Partial<ProviderConfig> = {}): ProviderConfig {
  const config = withReplicaId({ ...loadConfig(providerSettings, {}, crossChecks), ...overrides });
  const problems = crossChecks(config);
  for (const [key, setting] of Object.entries(providerSettings)) {
    if (!setting.schema.safeParse(config[key as keyof ProviderConfig]).success) problems.push(`${setting.env}=${String(config[key as keyof ProviderConfig])} is out of range`);
  }
  if (problems.length > 0) throw configError(problems);
  return Object.freeze(config);
}
