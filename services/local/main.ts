import * as path from 'node:path';
import { type LocalService, localise, loadCompose, providerNames, REPO_ROOT } from './compose-local';
import { waitHealthy } from './health-check';
import { natsServerOnPath } from './nats-binary';
import { DEFAULT_SUPERVISION, ServiceProcess } from './service-process';

/**
 * `npm start`: the docker-compose stack without Docker. Starts every compose service from its own
 * command and environment on loopback, in depends_on order gated on each healthcheck, restarts what
 * exits as `restart:` says, keeps each volume in a directory under .tether-state/ (so a consumer
 * resumes from its saved position), and on Ctrl-C stops dependents first, each within its
 * stop_grace_period.
 */
const STATE_DIR = path.join(REPO_ROOT, '.tether-state');
/** How long a service has to pass its healthcheck after it starts. */
const START_TIMEOUT_MS = 30_000;
/** How often a starting service is checked; faster than compose's interval, because someone is waiting. */
const HEALTH_POLL_MS = 250;

const levels: ServiceProcess[][] = [];
let stopping = false;

function say(line: string): void {
  process.stdout.write(`[tether] ${line}\n`);
}

/** The services in start order: each level depends only on earlier ones. */
function startLevels(services: LocalService[]): LocalService[][] {
  const out: LocalService[][] = [];
  const placed = new Set<string>();
  while (placed.size < services.length) {
    const ready = services.filter((s) => !placed.has(s.name) && s.dependsOn.every((d) => placed.has(d)));
    if (ready.length === 0) throw new Error('docker-compose.yml depends_on has a cycle');
    for (const s of ready) placed.add(s.name);
    out.push(ready);
  }
  return out;
}

async function stopAll(): Promise<void> {
  if (stopping) return;
  stopping = true;
  say('stopping…');
  for (const p of levels.flat()) p.stopRestarting();
  // Dependents first, as compose does: consumers and the publisher leave before the provider.
  for (const level of [...levels].reverse()) await Promise.all(level.map((p) => p.stop()));
  process.exit(0);
}

async function main(): Promise<void> {
  process.on('SIGINT', () => void stopAll());
  process.on('SIGTERM', () => void stopAll());
  const compose = loadCompose();
  const natsServer = natsServerOnPath();
  const [firstProvider] = providerNames(compose);
  if (!natsServer) say(`nats-server is not on the PATH: running one provider (${firstProvider}) on the embedded memory log instead of the replicated stack`);
  const services = await localise(compose, { preferPublished: true, stateDir: STATE_DIR, natsServer });
  const supervision = { ...DEFAULT_SUPERVISION, cwd: REPO_ROOT, say, output: (name: string, l: string) => process.stdout.write(`[${name}] ${l}\n`) };
  for (const svc of services) {
    for (const v of svc.volumes) say(`${svc.name}: volume ${v.source} (${v.target}) is ${path.relative(REPO_ROOT, v.dir) || v.dir}`);
  }
  for (const level of startLevels(services)) {
    if (stopping) return;
    const started = level.map((svc) => new ServiceProcess(svc, supervision));
    levels.push(started);
    for (const p of started) p.start();
    const health = await Promise.all(
      started.map(async (p) =>
        // A one-shot step (the credentials) must finish with 0 before what depends on it starts.
        services.some((s) => s.completedFirst.includes(p.name))
          ? (await p.exitCode()) === 0
          : p.service.health
          ? waitHealthy(p.service.health.command, {
              checkTimeoutMs: p.service.health.timeoutMs,
              withinMs: START_TIMEOUT_MS,
              everyMs: HEALTH_POLL_MS,
              cwd: REPO_ROOT,
              abandon: () => stopping || p.done,
            })
          : true,
      ),
    );
    const unhealthy = started.filter((_p, i) => !health[i]);
    if (unhealthy.length > 0 && !stopping) throw new Error(`${unhealthy.map((p) => p.name).join(', ')} did not become healthy (or a one-shot step failed)`);
  }
  const provider = services.find((s) => s.name === firstProvider);
  const operator = provider?.env.TETHER_TOKEN_FILE ? `TETHER_CA_FILE=${path.relative(REPO_ROOT, provider.env.TETHER_CA_FILE)} TETHER_TOKEN_FILE=${path.relative(REPO_ROOT, provider.env.TETHER_TOKEN_FILE)} ` : '';
  say(`all services up. Try: ${operator}npx tether --address 127.0.0.1:${provider?.env.TETHER_PORT} sinks`);
  say(`metrics: http://127.0.0.1:${provider?.env.TETHER_METRICS_PORT}/metrics; Ctrl-C stops everything`);
}

main().catch((err: unknown) => {
  say(`failed: ${(err as Error).message}`);
  void stopAll();
});
