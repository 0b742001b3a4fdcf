import type { CloseReason } from '../../../shared/close-reason';

/**
 * What the tracker may ask of the transport under a sink: how many bytes its connection has read (a
 * keepalive answer is life too), and to tear that connection down. The socket owner implements it; the
 * tracker's sweep is unit-tested against a fake one.
 */
export interface LivenessProbe {
  /** Bytes read so far on the peer's connection, or -1 when it is gone. */
  bytesRead(peer: string): number;
  destroy(peer: string, reason: CloseReason): void;
}
