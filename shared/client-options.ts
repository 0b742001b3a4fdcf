import type { ChannelOptions } from '@grpc/grpc-js';

/**
 * Client channel options. Keepalive stays within what strict servers (C-core, Go, Java, proxies) permit:
 * pings no more often than every 5 minutes, only while a call is open, else GOAWAY too_many_pings.
 * Faster detection of a dead provider comes from the provider's in-band heartbeats instead.
 */
export function clientOptions(keepaliveTimeMs = 300_000, keepaliveTimeoutMs = 20_000): ChannelOptions {
  return {
    'grpc.keepalive_time_ms': keepaliveTimeMs,
    'grpc.keepalive_timeout_ms': keepaliveTimeoutMs,
    'grpc.keepalive_permit_without_calls': 0,
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
    // One channel per client object: two consumers in one process must not share (and break) a connection.
    'grpc.use_local_subchannel_pool': 1,
  };
}
