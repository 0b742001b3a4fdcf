import type { ChannelOptions } from '@grpc/grpc-js';

/**
 * The HTTP/2 flow-control window a client grants the server, per stream and per connection. HTTP/2's
 * default of 64 KiB is smaller than one full delivery (256 events of 256 B), so the provider stalled in
 * every message until the consumer's WINDOW_UPDATE came back: 1 MiB lifted fan-out to 16 consumers by
 * about a fifth (bench/fanout). It also bounds what a stalled consumer can have in flight.
 */
export const RECEIVE_WINDOW_BYTES = 1024 * 1024;

/**
 * Client channel options. Keepalive stays within what strict servers (C-core, Go, Java, proxies) permit:
 * pings no more often than every 5 minutes, only while a call is open, else GOAWAY too_many_pings.
 * Faster detection of a dead provider comes from the provider's in-band heartbeats instead.
 */
export function clientOptions(keepaliveTimeMs = 300_000, keepaliveTimeoutMs = 20_000, receiveWindowBytes = RECEIVE_WINDOW_BYTES): ChannelOptions {
  return {
    'grpc.keepalive_time_ms': keepaliveTimeMs,
    'grpc.keepalive_timeout_ms': keepaliveTimeoutMs,
    'grpc.keepalive_permit_without_calls': 0,
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
    'grpc-node.flow_control_window': receiveWindowBytes,
    // One channel per client object: two consumers in one process must not share (and break) a connection.
    'grpc.use_local_subchannel_pool': 1,
  };
}
