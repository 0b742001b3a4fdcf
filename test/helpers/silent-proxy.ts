import * as net from 'node:net';

/**
 * A TCP proxy on loopback that can go silent: it stops forwarding in both directions without closing
 * anything (no FIN, no RST), as a dead network path does. `heal` resumes forwarding; a side closed
 * during the silence is then closed on the other side too. `reset` aborts every connection with RST.
 */
export class SilentProxy {
  private readonly server: net.Server;
  private readonly pairs = new Set<{ client: net.Socket; upstream: net.Socket }>();
  private silent = false;
  /** Closes seen while silent: a silent path carries no FIN either, so they wait for heal. */
  private readonly pendingCloses = new Set<() => void>();
  port = 0;

  constructor(private readonly targetPort: number) {
    this.server = net.createServer((client) => this.accept(client));
  }

  async start(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this.port;
  }

  get connections(): number {
    return this.pairs.size;
  }

  silence(): void {
    this.silent = true;
    for (const { client, upstream } of this.pairs) {
      client.pause();
      upstream.pause();
    }
  }

  heal(): void {
    this.silent = false;
    for (const { client, upstream } of this.pairs) {
      client.resume();
      upstream.resume();
    }
    for (const close of this.pendingCloses) close();
    this.pendingCloses.clear();
  }

  /** Aborts every connection with RST, as a crashed peer's kernel would. */
  reset(): void {
    for (const { client, upstream } of this.pairs) {
      client.resetAndDestroy();
      upstream.resetAndDestroy();
    }
  }

  async stop(): Promise<void> {
    this.silent = false;
    this.reset();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    const upstream = net.connect(this.targetPort, '127.0.0.1');
    const pair = { client, upstream };
    this.pairs.add(pair);
    if (this.silent) {
      client.pause();
      upstream.pause();
    }
    // Forward by hand: pipe() resumes a paused source on 'drain', which would break the silence.
    client.on('data', (chunk) => upstream.write(chunk));
    upstream.on('data', (chunk) => client.write(chunk));
    const closeBoth = () => {
      if (this.silent) {
        this.pendingCloses.add(closeBoth);
        return;
      }
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', closeBoth);
    upstream.on('close', closeBoth);
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
  }
}
