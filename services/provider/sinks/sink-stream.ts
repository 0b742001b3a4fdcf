import type { status } from '@grpc/grpc-js';
import type { Outbound } from './outbound-queue';

/**
 * The part of a gRPC stream a sink uses. Narrow so the model test can drive a sink through a fake one
 * (tracked writes, a drain it fires itself, a reset it records) without sockets.
 */
export interface SinkStream {
  /** Writes one message; false when the transport wants a drain before more. */
  write(message: Outbound): boolean;
  /** Calls `fn` once at the next drain. */
  onceDrain(fn: () => void): void;
  offDrain(fn: () => void): void;
  /**
   * Ends the stream with a status (OK ends it cleanly); queued behind what was written. `retryAfterMs`
   * goes out as the grpc-retry-pushback-ms trailer (a quota refusal).
   */
  finish(code: status, details: string, retryAfterMs?: number): void;
  /** Resets just this stream at once, whatever flow control holds back. */
  reset(): void;
  /** Stops (and restarts) reading requests, so the client's writes are held by flow control. */
  pauseRequests(): void;
  resumeRequests(): void;
}
