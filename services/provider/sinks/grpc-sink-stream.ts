import { type ServerDuplexStream, status } from '@grpc/grpc-js';
import { TetherError } from '../../../shared/errors';
import type { OpenSinkRequest } from '../../../shared/gen/tether/v1/sink';
import type { Scheduler } from '../scheduler';
import { resetServerStream } from '../transport/stream-reset';
import type { Outbound } from './outbound-queue';
import type { SinkStream } from './sink-stream';

export type SinkCall = ServerDuplexStream<OpenSinkRequest, Outbound>;

/**
 * A SinkStream over a grpc-js server call. A polite end (a status queued behind the data) that has not
 * completed after `lingerMs` becomes a reset, so a stream whose reader vanished never keeps its buffers.
 * Where the reset path is unavailable, `fallback` tears down the connection instead.
 */
export class GrpcSinkStream implements SinkStream {
  private ended = false;
  private cancelLinger: (() => void) | undefined;

  constructor(
    private readonly call: SinkCall,
    private readonly scheduler: Scheduler,
    private readonly lingerMs: number,
    private readonly fallback: () => void,
  ) {
    const done = () => this.cancelLinger?.();
    call.once('finish', done);
    call.once('cancelled', done);
  }

  write(message: Outbound): boolean {
    return this.call.write(message);
  }

  onceDrain(fn: () => void): void {
    this.call.once('drain', fn);
  }

  offDrain(fn: () => void): void {
    this.call.off('drain', fn);
  }

  finish(code: status, details: string, retryAfterMs?: number): void {
    if (this.ended || this.call.cancelled) return;
    this.ended = true;
    if (code === status.OK) this.call.end();
    else this.call.emit('error', new TetherError(code, details, retryAfterMs).toServiceError());
    this.cancelLinger = this.scheduler.after(this.lingerMs, () => this.reset());
  }

  reset(): void {
    this.cancelLinger?.();
    this.ended = true;
    if (this.call.cancelled) return;
    if (!resetServerStream(this.call)) this.fallback();
  }

  pauseRequests(): void {
    this.call.pause();
  }

  resumeRequests(): void {
    this.call.resume();
  }
}
