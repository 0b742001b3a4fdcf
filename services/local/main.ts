import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { localise, loadCompose, REPO_ROOT, type LocalService } from './compose-local';

/**
 * `npm start`: the docker-compose stack without Docker. Starts every compose service from its own
 * command and environment on loopback, in depends_on order gated on each healthcheck, prefixes their
 * logs, and stops them all on Ctrl-C.
 */
const children = new Map<string, ChildProcess>();
const exits = new Map<string, Promise<number | null>>();
let stopping = false;
/**
 * The compose volumes (the dev credentials) as directories of this run, at a fixed place so the README
 * can name the operator's files; made anew on every start and removed when it stops.
 */
const volumesRoot = path.join(REPO_ROOT, '.tether-local');
fs.rmSync(volumesRoot, { recursive: true, force: true });
fs.mkdirSync(volumesRoot, { recursive: true, mode: 0o700 });
process.on('exit', () => fs.rmSync(volumesRoot, { recursive: true, force: true }));

function say(line: string): void {
  process.stdout.write(`[tether] ${line}\n`);
}

function start(svc: LocalService): void {
  const [cmd, ...args] = svc.command;
  const child = spawn(cmd === 'node' ? process.execPath : cmd, args, { cwd: REPO_ROOT, env: { ...process.env, ...svc.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.set(svc.name, child);
  exits.set(svc.name, new Promise((resolve) => child.once('exit', (code) => resolve(code))));
  say(`${svc.name} started (pid ${child.pid})`);
  for (const stream of [child.stdout, child.stderr]) {
    if (stream) readline.createInterface({ input: stream }).on('line', (l) => process.stdout.write(`[${svc.name}] ${l}\n`));
  }
  child.on('exit', (code, signal) => {
    children.delete(svc.name);
    if (!stopping) say(`${svc.name} exited (${signal ?? code})`);
  });
}

async function healthy(svc: LocalService, timeoutMs: number): Promise<boolean> {
  if (!svc.health) return true;
  const [cmd, ...args] = svc.health;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !stopping) {
    if (spawnSync(cmd === 'node' ? process.execPath : cmd, args, { cwd: REPO_ROOT, timeout: 5_000 }).status === 0) return true;
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

function stopAll(): void {
  if (stopping) return;
  stopping = true;
  say('stopping…');
  for (const child of children.values()) child.kill('SIGTERM');
  setTimeout(() => process.exit(0), 8_000).unref();
  const check = setInterval(() => {
    if (children.size === 0) process.exit(0);
  }, 100);
  check.unref();
}

async function main(): Promise<void> {
  process.on('SIGINT', stopAll);
  process.on('SIGTERM', stopAll);
  const services = await localise(loadCompose(), true, volumesRoot);
  const started = new Set<string>();
  while (started.size < services.length && !stopping) {
    const ready = services.filter((s) => !started.has(s.name) && s.dependsOn.every((d) => started.has(d)));
    if (ready.length === 0) throw new Error('docker-compose.yml depends_on has a cycle');
    for (const svc of ready) start(svc);
    for (const svc of ready) {
      // A one-shot step (the credentials) must finish with 0 before what depends on it starts.
      if (services.some((s) => s.completedFirst.includes(svc.name))) {
        const code = await exits.get(svc.name);
        if (code !== 0) throw new Error(`${svc.name} exited with ${code}`);
      } else if (!(await healthy(svc, 30_000))) throw new Error(`${svc.name} did not become healthy`);
      started.add(svc.name);
    }
  }
  const provider = services.find((s) => s.name === 'provider');
  say(`all services up. The operator's credentials: TETHER_CA_FILE=${provider?.env.TETHER_CA_FILE} TETHER_TOKEN_FILE=${provider?.env.TETHER_TOKEN_FILE}`);
  say(`try: TETHER_CA_FILE=… TETHER_TOKEN_FILE=… npx tether --address 127.0.0.1:${provider?.env.TETHER_PORT} sinks`);
  say(`metrics: http://127.0.0.1:${provider?.env.TETHER_METRICS_PORT}/metrics; Ctrl-C stops everything`);
}

main().catch((err: unknown) => {
  say(`failed: ${(err as Error).message}`);
  stopAll();
});
