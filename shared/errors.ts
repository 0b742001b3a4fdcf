import { Metadata, status, type ServiceError } from '@grpc/grpc-js';

/**
 * The one error type of Tether: a message plus the gRPC status it maps to.
 * Code throws it anywhere; only the gRPC edge turns it into a status object.
 */
export class TetherError extends Error {
  /**
   * @param retryAfterMs with RESOURCE_EXHAUSTED from a quota: when trying again can succeed. Sent as the
   *   `grpc-retry-pushback-ms` trailer where a call ends, or a retry-after field where the refusal is in-band.
   */
  constructor(
    readonly code: status,
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'TetherError';
  }

  /** Normalise anything thrown; unknown errors become INTERNAL (and the caller logs them). */
  static from(err: unknown): TetherError {
    if (err instanceof TetherError) return err;
    if (isServiceError(err)) return new TetherError(err.code, err.details || err.message);
    const message = err instanceof Error ? err.message : String(err);
    return new TetherError(status.INTERNAL, message);
  }

  static invalid(message: string): TetherError {
    return new TetherError(status.INVALID_ARGUMENT, message);
  }

  static exhausted(message: string): TetherError {
    return new TetherError(status.RESOURCE_EXHAUSTED, message);
  }

  static unauthenticated(message: string): TetherError {
    return new TetherError(status.UNAUTHENTICATED, message);
  }

  static denied(message: string): TetherError {
    return new TetherError(status.PERMISSION_DENIED, message);
  }

  static notFound(message: string): TetherError {
    return new TetherError(status.NOT_FOUND, message);
  }

  /** The system is not in a state the operation needs (e.g. a state directory that cannot be written). */
  static failedPrecondition(message: string): TetherError {
    return new TetherError(status.FAILED_PRECONDITION, message);
  }

  static unavailable(message: string): TetherError {
    return new TetherError(status.UNAVAILABLE, message);
  }

  /** The shape grpc-js callbacks and `call.emit('error')` accept. */
  toServiceError(): Partial<ServiceError> {
    const metadata = new Metadata();
    if (this.retryAfterMs !== undefined) metadata.set(RETRY_PUSHBACK_KEY, String(Math.max(0, Math.ceil(this.retryAfterMs))));
    return { code: this.code, details: this.message, metadata };
  }
}

/** The trailer gRPC clients read as "retry after this many milliseconds" (gRFC A6). */
export const RETRY_PUSHBACK_KEY = 'grpc-retry-pushback-ms';

/** The pushback a failed call carried, if any. */
export function retryPushbackMs(err: unknown): number | undefined {
  const metadata = (err as { metadata?: Metadata } | undefined)?.metadata;
  const value = metadata instanceof Metadata ? metadata.get(RETRY_PUSHBACK_KEY)[0] : undefined;
  const ms = value === undefined ? NaN : Number(value);
  return Number.isFinite(ms) && ms >= 0 ? ms : undefined;
}

export function isServiceError(err: unknown): err is ServiceError {
  return err instanceof Error && typeof (err as ServiceError).code === 'number' && 'details' in err;
}

export function statusName(code: number): string {
  return status[code] ?? String(code);
}
