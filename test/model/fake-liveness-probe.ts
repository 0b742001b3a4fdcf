import type { CloseReason } from '../../shared/close-reason';
import type { LivenessProbe } from '../../services/provider/tracking/liveness-probe';

/** Per-peer byte counters the test bumps, standing in for the sockets the provider would own. */
export class FakeLivenessProbe implements LivenessProbe {
  private readonly counters = new Map<string, number>();
  readonly destroyed: Array<{ peer: string; reason: CloseReason }> = [];

  bytesRead(peer: string): number {
    return this.counters.get(peer) ?? 0;
  }

  /** The consumer's socket read `bytes` more (a request, or a keepalive answer). */
  activity(peer: string, bytes = 9): void {
    this.counters.set(peer, this.bytesRead(peer) + bytes);
  }

  destroy(peer: string, reason: CloseReason): void {
    this.destroyed.push({ peer, reason });
  }
}
