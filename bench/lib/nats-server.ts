import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

/** Debian's nats-server binary, or undefined when it is not installed. */
export function natsServerBinary(): string | undefined {
  for (const candidate of ['/usr/sbin/nats-server', '/usr/bin/nats-server']) if (fs.existsSync(candidate)) return candidate;
  const which = spawnSync('which', ['nats-server'], { encoding: 'utf8' });
  return which.status === 0 ? which.stdout.trim() : undefined;
}

/** A nats-server of our own on a free loopback port with a temporary store; stopped and removed after. */
export class NatsServer {
  private child: ChildProcess | undefined;
  private dir = '';
  port = 0;

  /** With `jetstream`, JetStream is on and stores in the temporary directory. */
  constructor(private readonly jetstream = false) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const bin = natsServerBinary();
    if (!bin) throw new Error('nats-server is not installed (apt-get install nats-server)');
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    this.port = (probe.address() as net.AddressInfo).port;
    await new Promise((r) => probe.close(r));
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tether-nats-'));
    this.child = spawn(bin, ['-a', '127.0.0.1', '-p', String(this.port), '-sd', this.dir, ...(this.jetstream ? ['-js'] : [])], { stdio: 'ignore' });
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const ok = await new Promise<boolean>((resolve) => {
        const s = net.connect(this.port, '127.0.0.1', () => (s.destroy(), resolve(true)));
        s.on('error', () => resolve(false));
      });
      if (ok) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('nats-server did not start');
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
