/**
 * Why a sink was closed. Every reclaim names exactly one of these, the way centrifuge's
 * disconnect codes do, and says whether the consumer should reconnect.
 */
export const CLOSE_REASONS = {
  'client-closed': { reconnect: false, description: 'the consumer ended or cancelled its sink' },
  crashed: { reconnect: true, description: 'the consumer closed the connection abruptly (process died or reset)' },
  'keepalive-timeout': { reconnect: true, description: 'no keepalive answer: the consumer hung or the network went silent' },
  'slow-consumer': { reconnect: true, description: 'the outbound queue overflowed or stopped draining' },
  evicted: { reconnect: true, description: 'an operator evicted the sink' },
  shutdown: { reconnect: true, description: 'the provider is shutting down' },
  'protocol-error': { reconnect: false, description: 'the consumer broke the sink protocol' },
  'connection-lost': { reconnect: true, description: 'the shared connection was torn down for another sink on it' },
  'replica-lost': { reconnect: true, description: 'the provider replica holding the sink died or was cut off from the shared log' },
  // The consumer reconnects with credentials it re-reads (a refreshed token file).
  'credentials-expired': { reconnect: true, description: "the caller's token or client certificate expired" },
  // Reconnecting is refused until the revoked credentials expire; the consumer keeps trying with backoff.
  revoked: { reconnect: true, description: "an operator revoked the caller's credentials" },
} as const;

export type CloseReason = keyof typeof CLOSE_REASONS;

export const ALL_CLOSE_REASONS = Object.keys(CLOSE_REASONS) as CloseReason[];
