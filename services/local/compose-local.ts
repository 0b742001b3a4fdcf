import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse } from 'yaml';

/**
 * Reads docker-compose.yml and turns each service into a command and environment for this machine:
 * every *_PORT gets a loopback port (the published one when `preferPublished`, else a free one), and
 * `service:port` addresses and healthcheck targets follow. `npm start` and the compose test both run
 * the stack through this, so neither can drift from the compose file.
 */
export interface ComposeService {
  readonly command: string[];
  readonly environment: Record<string, string>;
  readonly ports?: string[];
  readonly depends_on?: Record<string, { condition: string }>;
  readonly healthcheck?: { test: string[] };
  /** "volume:/container/path[:ro]" entries. */
  readonly volumes?: string[];
}

export interface LocalService {
  readonly name: string;
  readonly command: string[];
  readonly env: Record<string, string>;
  /** The compose healthcheck command, rewritten; absent when the service has none. */
  readonly health?: string[];
  readonly dependsOn: string[];
  /** Dependencies that must have run to completion (exit 0) first, like the credentials step. */
  readonly completedFirst: string[];
}

export const REPO_ROOT = findRoot(__dirname);

function findRoot(from: string): string {
  let dir = from;
  for (let i = 0; i < 5; i++) {
    if (fs.existsSync(path.join(dir, 'docker-compose.yml'))) return dir;
    dir = path.dirname(dir);
  }
  throw new Error(`docker-compose.yml not found above ${from}`);
}

export function loadCompose(file = path.join(REPO_ROOT, 'docker-compose.yml')): Record<string, ComposeService> {
  const doc = parse(fs.readFileSync(file, 'utf8'), { merge: true }) as { services: Record<string, ComposeService> };
  return doc.services;
}

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** host port published for a container port, from entries like "127.0.0.1:9466:9465". */
function publishedPort(svc: ComposeService, containerPort: string): string | undefined {
  for (const entry of svc.ports ?? []) {
    const parts = entry.split(':');
    if (parts.at(-1) === containerPort) return parts.at(-2);
  }
  return undefined;
}

/**
 * Named volumes become directories under `volumesRoot`: a path inside a mounted volume maps to
 * `volumesRoot` + that path, so a volume must be mounted at the same path in every service (as in
 * docker-compose.yml), and a parent of the mount points (the credentials step's output) maps too.
 */
function volumeRewriter(services: Record<string, ComposeService>, volumesRoot: string): (value: string) => string {
  const roots = new Set<string>();
  for (const svc of Object.values(services)) {
    for (const entry of svc.volumes ?? []) {
      const target = entry.split(':')[1];
      if (target?.startsWith('/')) roots.add(`/${target.split('/')[1]}`);
    }
  }
  return (value) => {
    for (const root of roots) if (value === root || value.startsWith(`${root}/`)) return path.join(volumesRoot, value);
    return value;
  };
}

export async function localise(
  services: Record<string, ComposeService>,
  preferPublished: boolean,
  volumesRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'tether-volumes-')),
): Promise<LocalService[]> {
  const toLocal = volumeRewriter(services, volumesRoot);
  const portMap = new Map<string, Map<string, string>>();
  for (const [name, svc] of Object.entries(services)) {
    const map = new Map<string, string>();
    for (const [key, value] of Object.entries(svc.environment ?? {})) {
      if (!key.endsWith('_PORT') || Number(value) <= 0) continue;
      map.set(value, (preferPublished && publishedPort(svc, value)) || String(await freePort()));
    }
    portMap.set(name, map);
  }
  const rewrite = (own: string, value: string) =>
    toLocal(value)
      .replace(/^0\.0\.0\.0$/, '127.0.0.1')
      .replace(/^([a-z][\w-]*):(\d+)$/, (m, host: string, port: string) => (services[host] ? `127.0.0.1:${portMap.get(host)?.get(port) ?? port}` : m))
      .replace(/^127\.0\.0\.1:(\d+)$/, (_m, port: string) => `127.0.0.1:${portMap.get(own)?.get(port) ?? port}`);
  return Object.entries(services).map(([name, svc]) => {
    const env: Record<string, string> = {};
    for (const [key, value] of Object.entries(svc.environment ?? {})) {
      env[key] = key.endsWith('_PORT') ? (portMap.get(name)?.get(value) ?? value) : rewrite(name, value);
    }
    const dependsOn = Object.entries(svc.depends_on ?? {});
    return {
      name,
      command: svc.command.map(toLocal),
      env,
      health: svc.healthcheck?.test.slice(1).map((a) => rewrite(name, a)),
      dependsOn: dependsOn.map(([d]) => d),
      completedFirst: dependsOn.filter(([, c]) => c.condition === 'service_completed_successfully').map(([d]) => d),
    };
  });
}
