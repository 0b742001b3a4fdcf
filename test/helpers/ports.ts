import * as net from 'node:net';

// Below Linux's ephemeral range (32768–60999): no server bound to port 0 and no outgoing connection is ever
// given one of these, so a port a test frees while its provider is down stays free until it restarts.
const BASE = 20_000;
const PER_WORKER = 400;
let next = 0;

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A port for a provider that must come back on the same address after a kill. Each jest worker draws from
 * its own block, so two test files running in parallel never share one.
 */
export async function reservedPort(): Promise<number> {
  const worker = Number(process.env.JEST_WORKER_ID ?? 0);
  const start = BASE + (worker % 25) * PER_WORKER;
  for (let i = 0; i < PER_WORKER; i++) {
    const port = start + (next++ % PER_WORKER);
    if (await bindable(port)) return port;
  }
  throw new Error(`no free port in ${start}–${start + PER_WORKER - 1}`);
}
