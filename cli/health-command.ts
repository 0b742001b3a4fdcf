import { parseAddressList } from '../shared/address-list';
import { probeHealth } from '../shared/health-probe';
import { type CommonOptions, out } from './format';

/** Prints the health status; exits 0 only when SERVING (used as the compose healthcheck). */
export async function health(opts: CommonOptions, service: string): Promise<number> {
  let address = '';
  let status = '';
  // With a list, the first address that is SERVING answers.
  for (address of parseAddressList(opts.address)) {
    status = await probeHealth(address, service, opts.timeoutMs, opts.credentials);
    if (status === 'SERVING') break;
  }
  out(opts.json ? JSON.stringify({ address, service, status }) : status);
  return status === 'SERVING' ? 0 : 1;
}
