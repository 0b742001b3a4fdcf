import { type ChannelCredentials, credentials, makeGenericClientConstructor, type ServiceError } from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';

const HealthClient = makeGenericClientConstructor(healthService, 'Health');

/**
 * Asks a server's grpc.health.v1 Check for one service ('' = the whole server). Resolves with the
 * serving status, or with the gRPC error's code name when the call fails (UNAVAILABLE when down).
 */
export function probeHealth(address: string, serviceName = '', timeoutMs = 1_000, channel: ChannelCredentials = credentials.createInsecure()): Promise<string> {
  const client = new HealthClient(address, channel);
  return new Promise<string>((resolve) => {
    client.check({ service: serviceName }, { deadline: Date.now() + timeoutMs }, (err: ServiceError | null, res: { status: string | number }) => {
      client.close();
      if (err) resolve(`ERROR:${err.code}`);
      else resolve(typeof res.status === 'number' ? ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'][res.status] : res.status);
    });
  });
}
