import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export type Route = () => Promise<{ type: string; body: string }> | { type: string; body: string };

/** A small HTTP endpoint for /metrics and status pages. Port -1 means disabled. */
export class HttpEndpoint {
  private server: http.Server | undefined;

  constructor(private readonly routes: Record<string, Route>) {}

  async listen(host: string, port: number): Promise<number> {
    if (port < 0) return -1;
    const server = http.createServer((req, res) => {
      const route = this.routes[(req.url ?? '/').split('?')[0]];
      if (!route) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found; try ${Object.keys(this.routes).join(', ')}\n`);
        return;
      }
      Promise.resolve(route())
        .then(({ type, body }) => res.writeHead(200, { 'content-type': type }).end(body))
        .catch((err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(String(err)));
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    return (server.address() as AddressInfo).port;
  }

  close(): Promise<void> {
    const server = this.server;
    if (!server) return Promise.resolve();
    server.closeAllConnections();
    return new Promise((resolve) => server.close(() => resolve()));
  }
}
