import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { parse } from 'yaml';
import { parseDuration } from './compose-duration';
import { localVolumes, type LocalVolume, rewritePaths } from './compose-volumes';

/**
 * Reads docker-compose.yml and turns each service into a command and environment for this machine:
 * every *_PORT gets a loopback port (the published one when `preferPublished`, else a free one),
 * `service:port` addresses and healthcheck targets follow, and each volume becomes a directory under
 * `stateDir`. `npm start` and the compose test both run the stack through this, so neither can drift
 * from the compose file.
 */
export interface ComposeService {
  readonly command: string[];
  readonly environment?: Record<string, string>;
  readonly ports?: string[];
  readonly volumes?: string[];
  readonly depends_on?: Record<string, { condition: string }>;
  readonly healthcheck?: { test: string[]; timeout?: string };
  readonly restart?: string;
  readonly stop_grace_period?: string;
}

export interface ComposeFile {
  readonly services: Record<string, ComposeService>;
  /** Top-level named volumes. */
  readonly volumes?: Record<string, unknown>;
}

/** When a service that exits is started again: compose's `restart:`, with `unless-stopped` meaning `always` here. */
export interface RestartPolicy {
  readonly when: 'never' | 'always' | 'on-failure';
  /** `on-failure:N` caps the restarts at N. */
  readonly maxRestarts?: number;
}

export interface LocalService {
  readonly name: string;
  readonly command: string[];
  readonly env: Record<string, string>;
  /** The compose healthcheck command, rewritten, and how long one check may take; absent when the service has none. */
  readonly health?: { readonly command: string[]; readonly timeoutMs: number };
  readonly dependsOn: string[];
  readonly restart: RestartPolicy;
  /** compose's stop_grace_period: SIGTERM, then SIGKILL after this long. */
  readonly stopGraceMs: number;
  readonly volumes: LocalVolume[];
}

/** compose's defaults when a service does not say. */
const DEFAULT_STOP_GRACE_MS = 10_000;
const DEFAULT_HEALTH_TIMEOUT_MS = 30_000;

export const REPO_ROOT = findRoot(__dirname);

function findRoot(from: string): string {
  let dir = from;
  for (let i = 0; i < 5; i++) {
    if (fs.existsSync(path.join(dir, 'docker-compose.yml'))) return dir;
    dir = path.dirname(dir);
  }
  throw new Error(`docker-compose.yml not found above ${from}`);
}

export function loadCompose(file = path.join(REPO_ROOT, 'docker-compose.yml')): ComposeFile {
  return parse(fs.readFileSync(file, 'utf8'), { merge: true }) as ComposeFile;
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

export function parseRestart(value: string | undefined, service: string): RestartPolicy {
  const [mode, max] = (value ?? 'no').split(':');
  if (mode === 'no') return { when: 'never' };
  if (mode === 'always' || mode === 'unless-stopped') return { when: 'always' };
  if (mode === 'on-failure' && (max === undefined || /^\d+$/.test(max))) return { when: 'on-failure', maxRestarts: max === undefined ? undefined : Number(max) };
  throw new Error(`${service}: restart "${value}" is not no, always, unless-stopped or on-failure[:N]`);
}

/** The command a compose healthcheck `test` runs: CMD runs it as is, CMD-SHELL through sh; NONE disables it. */
function healthCommand(test: string[]): string[] | undefined {
  const [kind, ...rest] = test;
  if (kind === 'CMD') return rest;
  if (kind === 'CMD-SHELL') return ['sh', '-c', rest.join(' ')];
  return undefined;
}

export async function localise(compose: ComposeFile, options: { preferPublished: boolean; stateDir: string }): Promise<LocalService[]> {
  const { services } = compose;
  const portMap = new Map<string, Map<string, string>>();
  for (const [name, svc] of Object.entries(services)) {
    const map = new Map<string, string>();
    for (const [key, value] of Object.entries(svc.environment ?? {})) {
      if (!key.endsWith('_PORT') || Number(value) <= 0) continue;
      map.set(value, (options.preferPublished && publishedPort(svc, value)) || String(await freePort()));
    }
    portMap.set(name, map);
  }
  const rewrite = (own: string, value: string) =>
    value
      .replace(/^0\.0\.0\.0$/, '127.0.0.1')
      .replace(/^([a-z][\w-]*):(\d+)$/, (m, host: string, port: string) => (services[host] ? `127.0.0.1:${portMap.get(host)?.get(port) ?? port}` : m))
      .replace(/^127\.0\.0\.1:(\d+)$/, (_m, port: string) => `127.0.0.1:${portMap.get(own)?.get(port) ?? port}`);
  return Object.entries(services).map(([name, svc]) => {
    const volumes = localVolumes(name, svc.volumes ?? [], compose.volumes ?? {}, options.stateDir, REPO_ROOT);
    const env: Record<string, string> = {};
    for (const [key, value] of Object.entries(svc.environment ?? {})) {
      env[key] = key.endsWith('_PORT') ? (portMap.get(name)?.get(value) ?? value) : rewritePaths(rewrite(name, value), volumes);
    }
    const health = svc.healthcheck && healthCommand(svc.healthcheck.test);
    return {
      name,
      command: svc.command,
      env,
      health: health && {
        command: health.map((a) => rewrite(name, a)),
        timeoutMs: svc.healthcheck?.timeout ? parseDuration(svc.healthcheck.timeout, `${name} healthcheck.timeout`) : DEFAULT_HEALTH_TIMEOUT_MS,
      },
      dependsOn: Object.keys(svc.depends_on ?? {}),
      restart: parseRestart(svc.restart, name),
      stopGraceMs: svc.stop_grace_period ? parseDuration(svc.stop_grace_period, `${name} stop_grace_period`) : DEFAULT_STOP_GRACE_MS,
      volumes,
    };
  });
}
