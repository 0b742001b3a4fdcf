import { probeHealth } from '../shared/health-probe';
import { type CommonOptions, out } from './format';

/** Prints the health status; exits 0 only when SERVING (used as the compose healthcheck). */
export async function health(opts: CommonOptions, service: string): Promise<number> {
  const status = await probeHealth(opts.address, service, opts.timeoutMs, opts.credentials);
  out(opts.json ? JSON.stringify({ address: opts.address, service, status }) : status);
  return status === 'SERVING' ? 0 : 1;
}
