import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { ProviderProcess } from '../helpers/provider-process';
import type { Findings } from './findings';

/**
 * The real provider process the soak runs against: on a port the kernel picks (the soak never restarts it,
 * so it needs none of the tests' reserved ports), its whole log streamed to `logDir/provider.log`, and an
 * exit the soak did not ask for reported as a violation.
 */
export class ProviderUnderTest {
  readonly process: ProviderProcess;
  private stopping = false;
  exitedEarly = false;

  private constructor(port: number, env: Record<string, string>) {
    this.process = new ProviderProcess(port, env);
  }

  static async start(env: Record<string, string>, logDir: string, findings: Findings): Promise<ProviderUnderTest> {
    const p = new ProviderUnderTest(await kernelPort(), env);
    await p.process.start();
    const child = p.process.child;
    const file = fs.createWriteStream(path.join(logDir, 'provider.log'));
    file.write(p.process.output);
    child?.stderr?.on('data', (chunk: Buffer) => file.write(chunk));
    child?.once('exit', (code, signal) => {
      file.end();
      if (p.stopping) return;
      p.exitedEarly = true;
      findings.violate('provider', `the provider exited during the run (code ${code}, signal ${signal}); the soak sends no signal before its end, so this came from outside or from a crash`);
    });
    return p;
  }

  get address(): string {
    return this.process.address;
  }

  get port(): number {
    return this.process.port;
  }

  get metricsUrl(): string {
    return `http://127.0.0.1:${/"metricsPort":(\d+)/.exec(this.process.output)?.[1]}/metrics`;
  }

  /** Resident set size in bytes; 0 once the process is gone. */
  rssBytes(): number {
    try {
      return this.process.rssBytes();
    } catch {
      return 0;
    }
  }

  /** SIGTERM, then the exit code within `timeoutMs` (SIGKILL after). */
  async stop(timeoutMs = 5_000): Promise<number | null | 'timeout'> {
    this.stopping = true;
    if (this.exitedEarly) return null;
    this.process.signal('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([this.process.exited, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), timeoutMs)))]);
    clearTimeout(timer);
    await this.process.kill();
    return code;
  }
}

function kernelPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
