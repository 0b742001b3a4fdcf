import type { ChannelCredentials, ServiceError } from '@grpc/grpc-js';
import { status, type ServiceError as GrpcError } from '@grpc/grpc-js';
import { parseAddressList } from '../shared/address-list';
import { statusName } from '../shared/errors';

/**
 * Runs `fn` against each address of a comma-separated list in turn until one answers: only a provider
 * that is away (UNAVAILABLE) sends it on to the next; any other answer, error or not, is final.
 */
export async function failover<T>(opts: CommonOptions, fn: (opts: CommonOptions) => Promise<T>): Promise<T> {
  const addresses = parseAddressList(opts.address);
  let last: unknown;
  for (const address of addresses) {
    try {
      return await fn({ ...opts, address });
    } catch (err) {
      if ((err as Partial<GrpcError>).code !== status.UNAVAILABLE) throw err;
      last = err;
    }
  }
  throw last;
}

/** Options every command takes. */
export interface CommonOptions {
  readonly address: string;
  readonly json: boolean;
  readonly timeoutMs: number;
  /** TLS and a bearer token when TETHER_CA_FILE, TETHER_CERT_FILE/KEY_FILE or TETHER_TOKEN_FILE (or --ca…) are set. */
  readonly credentials: ChannelCredentials;
}

export function out(line: string): void {
  process.stdout.write(line + '\n');
}

/** Prints rows as an aligned table, or as JSON with --json. */
export function printTable(opts: CommonOptions, rows: Array<Record<string, unknown>>, empty = '(none)'): void {
  if (opts.json) return out(JSON.stringify(rows, null, 2));
  if (rows.length === 0) return out(empty);
  const cols = Object.keys(rows[0]);
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c]).length)));
  out(cols.map((c, i) => c.padEnd(widths[i])).join('  '));
  for (const r of rows) out(cols.map((c, i) => String(r[c]).padEnd(widths[i])).join('  '));
}

export function printObject(opts: CommonOptions, obj: Record<string, unknown>): void {
  if (opts.json) return out(JSON.stringify(obj, null, 2));
  for (const [k, v] of Object.entries(obj)) out(`${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
}

/** Wraps a callback-style unary call with a deadline into a promise. */
export function unary<Res>(
  opts: CommonOptions,
  fn: (deadline: { deadline: number }, cb: (err: ServiceError | null, res: Res) => void) => unknown,
): Promise<Res> {
  return new Promise((resolve, reject) => fn({ deadline: Date.now() + opts.timeoutMs }, (err, res) => (err ? reject(err) : resolve(res))));
}

export function describeError(err: unknown): string {
  const e = err as Partial<ServiceError>;
  if (typeof e.code === 'number') return `${statusName(e.code)}: ${e.details || e.message}`;
  return err instanceof Error ? err.message : String(err);
}
