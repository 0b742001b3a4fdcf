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
  readonly image?: string;
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
  /** Dependencies that must have run to completion (exit 0) first, like the credentials step. */
  readonly completedFirst: string[];
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

/** Dependencies that must have run to completion first (the credentials step). */
const completedFirst = (svc: ComposeService): string[] =>
  Object.entries(svc.depends_on ?? {}).filter(([, c]) => c.condition === 'service_completed_successfully').map(([d]) => d);

/** A path argument, or the path after `name=` in one. */
function rewriteArgument(arg: string, volumes: LocalVolume[]): string {
  const eq = arg.indexOf('=');
  return eq > 0 && arg[eq + 1] === '/' ? `${arg.slice(0, eq + 1)}${rewritePaths(arg.slice(eq + 1), volumes)}` : rewritePaths(arg, volumes);
}

export interface LocaliseOptions {
  readonly preferPublished: boolean;
  readonly stateDir: string;
  /** The local nats-server binary; without one the stack runs as one provider on the embedded memory log. */
  readonly natsServer: string | undefined;
}

/** Services of the official NATS image: run from the local nats-server binary. */
const isNats = (svc: ComposeService) => /^nats(:|$)/.test(svc.image ?? '');
const isProvider = (svc: ComposeService) => svc.command.some((a) => a.endsWith('dist/services/provider/main.js'));

/** The provider replicas, in compose order; without NATS only the first one runs. */
export function providerNames(compose: ComposeFile): string[] {
  return Object.entries(compose.services).filter(([, svc]) => isProvider(svc)).map(([name]) => name);
}

/**
 * Without nats-server: drop NATS and every provider replica but the first, which runs on the embedded
 * memory log; address lists and depends_on lose what was dropped.
 */
export function withoutNats(compose: ComposeFile): ComposeFile {
  const [kept, ...others] = providerNames(compose);
  const dropped = new Set([...others, ...Object.entries(compose.services).filter(([, s]) => isNats(s)).map(([n]) => n)]);
  const services: Record<string, ComposeService> = {};
  for (const [name, svc] of Object.entries(compose.services)) {
    if (dropped.has(name)) continue;
    const environment: Record<string, string> = {};
    for (const [key, value] of Object.entries(svc.environment ?? {})) {
      const list = value.split(',');
      const kept = list.filter((a) => !dropped.has(/^([a-z][\w-]*):\d+$/.exec(a.trim())?.[1] ?? ''));
      environment[key] = list.length > 1 ? kept.join(',') : value;
    }
    if (name === kept) environment.TETHER_EVENT_LOG = 'memory';
    const depends = Object.fromEntries(Object.entries(svc.depends_on ?? {}).filter(([d]) => !dropped.has(d)));
    services[name] = { ...svc, environment, depends_on: depends };
  }
  return { ...compose, services };
}

export async function localise(compose: ComposeFile, options: LocaliseOptions): Promise<LocalService[]> {
  if (!options.natsServer) compose = withoutNats(compose);
  const { services } = compose;
  const portMap = new Map<string, Map<string, string>>();
  for (const [name, svc] of Object.entries(services)) {
    const map = new Map<string, string>();
    const local = async (containerPort: string) => (options.preferPublished && publishedPort(svc, containerPort)) || String(await freePort());
    for (const [key, value] of Object.entries(svc.environment ?? {})) {
      if (!key.endsWith('_PORT') || Number(value) <= 0) continue;
      map.set(value, await local(value));
    }
    // Ports a service takes from its command or image defaults (NATS): the published ones, and -m's.
    for (const entry of svc.ports ?? []) {
      const containerPort = entry.split(':').at(-1) as string;
      if (!map.has(containerPort)) map.set(containerPort, await local(containerPort));
    }
    const m = svc.command.indexOf('-m');
    if (isNats(svc) && m >= 0 && !map.has(svc.command[m + 1])) map.set(svc.command[m + 1], String(await freePort()));
    portMap.set(name, map);
  }
  const one = (own: string, value: string) =>
    value
      .replace(/^0\.0\.0\.0$/, '127.0.0.1')
      .replace(/^(nats:\/\/)?([a-z][\w-]*):(\d+)$/, (m, scheme: string | undefined, host: string, port: string) =>
        services[host] ? `${scheme ?? ''}127.0.0.1:${portMap.get(host)?.get(port) ?? port}` : m,
      )
      .replace(/^127\.0\.0\.1:(\d+)$/, (_m, port: string) => `127.0.0.1:${portMap.get(own)?.get(port) ?? port}`);
  // Address lists (`a:1,b:2`) are rewritten entry by entry.
  const rewrite = (own: string, value: string) => value.split(',').map((v) => one(own, v)).join(',');
  return Object.entries(services).map(([name, svc]) => {
    const volumes = localVolumes(name, svc.volumes ?? [], compose.volumes ?? {}, options.stateDir, REPO_ROOT);
    const env: Record<string, string> = {};
    for (const [key, value] of Object.entries(svc.environment ?? {})) {
      env[key] = key.endsWith('_PORT') ? (portMap.get(name)?.get(value) ?? value) : rewritePaths(rewrite(name, value), volumes);
    }
    const health = svc.healthcheck && healthCommand(svc.healthcheck.test);
    if (isNats(svc)) return localNats(name, svc, options.natsServer as string, portMap.get(name) as Map<string, string>, volumes);
    const dependsOn = Object.entries(svc.depends_on ?? {});
    return {
      name,
      // Paths in arguments too (`--ca /creds/…`, `provider=/creds/provider`): each names its local directory.
      command: svc.command.map((a) => rewriteArgument(a, volumes)),
      env,
      health: health && {
        command: health.map((a) => rewriteArgument(rewrite(name, a), volumes)),
        timeoutMs: svc.healthcheck?.timeout ? parseDuration(svc.healthcheck.timeout, `${name} healthcheck.timeout`) : DEFAULT_HEALTH_TIMEOUT_MS,
      },
      dependsOn: dependsOn.map(([d]) => d),
      completedFirst: completedFirst(svc),
      restart: parseRestart(svc.restart, name),
      stopGraceMs: svc.stop_grace_period ? parseDuration(svc.stop_grace_period, `${name} stop_grace_period`) : DEFAULT_STOP_GRACE_MS,
      volumes,
    };
  });
}

/**
 * A NATS service as a local nats-server: its command's flags with the volume's directory for -sd and a
 * loopback port for -m, listening on loopback at the port standing in for 4222. Its compose healthcheck
 * (wget in the alpine image) becomes the same /healthz request made by node.
 */
function localNats(name: string, svc: ComposeService, binary: string, ports: Map<string, string>, volumes: LocalVolume[]): LocalService {
  const args = svc.command.map((a, i) => (svc.command[i - 1] === '-m' ? (ports.get(a) ?? a) : rewritePaths(a, volumes)));
  const client = ports.get('4222') ?? '4222';
  const monitor = ports.get(svc.command[svc.command.indexOf('-m') + 1]);
  const probe = `fetch('http://127.0.0.1:${monitor}/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`;
  return {
    name,
    command: [binary, ...args, '-a', '127.0.0.1', '-p', client],
    env: {},
    health: monitor ? { command: ['node', '-e', probe], timeoutMs: DEFAULT_HEALTH_TIMEOUT_MS } : undefined,
    completedFirst: completedFirst(svc),
    dependsOn: Object.keys(svc.depends_on ?? {}),
    restart: parseRestart(svc.restart, name),
    stopGraceMs: svc.stop_grace_period ? parseDuration(svc.stop_grace_period, `${name} stop_grace_period`) : DEFAULT_STOP_GRACE_MS,
    volumes,
  };
}
