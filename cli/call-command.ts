import type { Client, ClientReadableStream } from '@grpc/grpc-js';
import { type CommonOptions, out } from './format';
import { ReflectionClient } from './reflection-client';

/**
 * `tether call [Service/Method] [json]`: any method through server reflection, like grpcurl.
 * Without a method it lists the services. Unary and server-streaming methods are supported.
 * `--timeout` is one deadline for the reflection lookups and a unary call together, so a hung or
 * unreachable server ends the command with DEADLINE_EXCEEDED. A server stream, once open, runs until
 * the server ends it or Ctrl-C, as `reclaims --follow` and `tail` do.
 */
export async function call(opts: CommonOptions, target: string | undefined, json: string): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  const reflection = new ReflectionClient(opts.address, opts.credentials);
  let client: Client | undefined;
  try {
    if (!target) {
      for (const name of await reflection.listServices(deadline)) out(name);
      return;
    }
    const slash = target.lastIndexOf('/') >= 0 ? target.lastIndexOf('/') : target.lastIndexOf('.');
    const serviceName = target.slice(0, slash);
    const methodName = target.slice(slash + 1);
    const resolved = await reflection.serviceClient(serviceName, deadline);
    client = resolved.client;
    const method = resolved.methods[methodName];
    if (!method) throw new Error(`${serviceName} has no method ${methodName}; it has ${Object.keys(resolved.methods).join(', ')}`);
    if (method.requestStream) throw new Error(`${methodName} takes a client stream; call supports unary and server-streaming methods`);
    const request = JSON.parse(json || '{}') as object;
    const fn = (client as unknown as Record<string, (...a: unknown[]) => unknown>)[methodName].bind(client);
    if (method.responseStream) {
      const stream = fn(request) as ClientReadableStream<object>;
      await new Promise<void>((resolve, reject) => {
        stream.on('data', (m) => out(JSON.stringify(m, null, opts.json ? 0 : 2)));
        stream.on('end', resolve);
        stream.on('error', (err: Error & { code?: number }) => (err.code === 1 ? resolve() : reject(err)));
        process.once('SIGINT', () => stream.cancel());
      });
    } else {
      const res = await new Promise<object>((resolve, reject) => fn(request, { deadline }, (err: Error | null, r: object) => (err ? reject(err) : resolve(r))));
      out(JSON.stringify(res, null, 2));
    }
  } finally {
    client?.close();
    reflection.close();
  }
}
