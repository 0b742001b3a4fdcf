import { Metadata, status, type ServiceError } from '@grpc/grpc-js';

/**
 * The one error type of Tether: a message plus the gRPC status it maps to.
 * Code throws it anywhere; only the gRPC edge turns it into a status object.
 */
export class TetherError extends Error {
  constructor(
    readonly code: status,
    message: string,
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
    return { code: this.code, details: this.message, metadata: new Metadata() };
  }
}

export function isServiceError(err: unknown): err is ServiceError {
  return err instanceof Error && typeof (err as ServiceError).code === 'number' && 'details' in err;
}

export function statusName(code: number): string {
  return status[code] ?? String(code);
}
