import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { credsAuthenticator } from '@nats-io/nats-core';
import { connect as natsConnect } from '@nats-io/transport-node';
import { natsServerBinary } from '../bench/lib/nats-server';
import { REPO_ROOT, loadCompose, localise } from '../services/local/compose-local';
import { runHealthcheck } from '../services/local/health-check';
import { waitFor } from './helpers/wait';

// Issue 3: every compose service's command and environment, read from docker-compose.yml itself (so the
// two cannot drift), started on this machine with addresses rewritten to loopback.
const ROOT = REPO_ROOT;

function run(argv: string[], env: Record<string, string> = {}): ChildProcess & { output: () => string } {
  const [cmd, ...args] = argv;
  const child = spawn(cmd === 'node' ? process.execPath : cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  // Keep the tail only, and always read: a full pipe would stall the service.
  for (const s of [child.stdout, child.stderr]) s?.on('data', (c: Buffer) => (output = (output + c.toString()).slice(-64 * 1024)));
  return Object.assign(child, { output: () => output });
}

function runSync(argv: string[]): { code: number | null; stdout: string } {
  const [cmd, ...args] = argv;
  const res = spawnSync(cmd === 'node' ? process.execPath : cmd, args, { cwd: ROOT, encoding: 'utf8', timeout: 10_000 });
  return { code: res.status, stdout: res.stdout };
}

/**
 * Directories the Dockerfile's final stage creates owned by node, before it switches to `USER node`:
 * `install -d … -o node …`, or `mkdir` plus `chown node[:node]` in one RUN.
 */
function nodeOwnedDirs(dockerfile: string): string[] {
  const finalStage = dockerfile.replace(/\\\n/g, ' ').split(/^FROM\s/m).at(-1) ?? '';
  const [beforeUser, afterUser] = finalStage.split(/^USER\s+node\s*$/m);
  if (afterUser === undefined) throw new Error('the final stage does not switch to USER node');
  const dirs: string[] = [];
  for (const run of beforeUser.match(/^RUN\s.*$/gm) ?? []) {
    const commands = run.replace(/^RUN\s+/, '').split(/&&|;/).map((c) => c.trim().split(/\s+/));
    const made = new Set<string>();
    for (const [cmd, ...args] of commands) {
      const paths = args.filter((a) => a.startsWith('/'));
      if (cmd === 'install' && args.includes('-d') && args[args.indexOf('-o') + 1] === 'node') dirs.push(...paths);
      if (cmd === 'mkdir') paths.forEach((p) => made.add(p));
      if (cmd === 'chown' && /^node(:node)?$/.test(args.find((a) => !a.startsWith('-')) ?? '')) dirs.push(...paths.filter((p) => made.has(p)));
    }
  }
  return dirs.map((d) => path.posix.normalize(d));
}

test('each consumer keeps CONSUMER_STATE_FILE on its own declared volume, in a directory the image creates for the node user', () => {
  const compose = loadCompose();
  const imageDirs = nodeOwnedDirs(fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'));
  const consumers = Object.entries(compose.services).filter(([, svc]) => svc.command.includes('dist/services/consumer/main.js'));
  expect(consumers.map(([name]) => name).sort()).toEqual(['consumer-orders', 'consumer-sensors']);
  const volumesUsed: string[] = [];
  for (const [name, svc] of consumers) {
    const file = svc.environment?.CONSUMER_STATE_FILE;
    expect({ name, file: path.posix.isAbsolute(file ?? '') }).toEqual({ name, file: true });
    const mount = (svc.volumes ?? []).map((v) => v.split(':')).find(([, target]) => path.posix.dirname(file as string) === path.posix.normalize(target));
    expect({ name, mounted: !!mount }).toEqual({ name, mounted: true });
    const [volume, target] = mount as string[];
    expect(Object.keys(compose.volumes ?? {})).toContain(volume); // a named volume, so it outlives the container
    expect(imageDirs).toContain(path.posix.normalize(target)); // a fresh volume copies this directory's owner: node can write
    volumesUsed.push(volume);
  }
  expect(new Set(volumesUsed).size).toBe(volumesUsed.length); // one volume per consumer
});

test('the credentials step keeps the dev CA and the NATS account across runs and re-makes what they sign', async () => {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tether-compose-creds-'));
  try {
    const local = Object.fromEntries((await localise(loadCompose(), { preferPublished: false, stateDir, natsServer: natsServerBinary() })).map((s) => [s.name, s]));
    const read = (file: string) => fs.readFileSync(path.join(stateDir, file), 'utf8');
    const account = () => /^  (A[A-Z2-7]{55}): /m.exec(read('creds-nats/nats.conf'))?.[1];
    expect(runSync(local.credentials.command).code).toBe(0);
    const first = { ca: read('creds-provider/ca.pem'), account: account(), token: read('creds-orders/token'), creds: read('creds-provider/nats.creds') };
    expect(first.account).toBeDefined();
    expect(read('creds-nats/nats.conf')).toMatch(/^tls \{/m);
    expect(runSync(local.credentials.command).code).toBe(0);
    expect(read('creds-provider/ca.pem')).toBe(first.ca);
    expect(account()).toBe(first.account);
    expect(read('creds-orders/token')).not.toBe(first.token);
    expect(read('creds-provider/nats.creds')).not.toBe(first.creds);
    // Only the credentials step mounts the kept keys.
    const mounts = Object.entries(loadCompose().services).filter(([, svc]) => (svc.volumes ?? []).some((v) => v.startsWith('dev-keys:')));
    expect(mounts.map(([name]) => name)).toEqual(['credentials']);
  } finally {
    fs.rmSync(stateDir, { recursive: true, force: true });
  }
});

test('without nats-server the stack is one provider on the memory log, and every address list names it alone', async () => {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tether-compose-solo-'));
  try {
    const local = Object.fromEntries((await localise(loadCompose(), { preferPublished: false, stateDir, natsServer: undefined })).map((s) => [s.name, s]));
    expect(Object.keys(local).sort()).toEqual(['consumer-orders', 'consumer-sensors', 'credentials', 'provider-a', 'publisher']);
    expect(local['provider-a'].env.TETHER_EVENT_LOG).toBe('memory');
    const only = `127.0.0.1:${local['provider-a'].env.TETHER_PORT}`;
    for (const name of ['consumer-orders', 'consumer-sensors', 'publisher']) {
      expect(local[name].env.TETHER_PROVIDER_ADDRESS).toBe(only);
      expect(local[name].dependsOn).toEqual(['provider-a']);
    }
    expect(local['provider-a'].dependsOn).toEqual(['credentials']);
  } finally {
    fs.rmSync(stateDir, { recursive: true, force: true });
  }
});

test('docker compose services start from their compose command and environment: NATS, two replicas over TLS with tokens, consumers listing both; events reach both consumers; a kill shows as a reclaim in the fleet view; a restarted consumer resumes', async () => {
  const compose = loadCompose();
  const services = compose.services;
  expect(Object.keys(services).sort()).toEqual(['consumer-orders', 'consumer-sensors', 'credentials', 'nats', 'provider-a', 'provider-b', 'publisher']);
  expect(services.nats.image).toMatch(/^nats:[\d.]+-alpine$/);
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tether-compose-'));
  const local = Object.fromEntries((await localise(compose, { preferPublished: false, stateDir, natsServer: natsServerBinary() })).map((s) => [s.name, s]));
  // Address lists and nats:// URLs follow the services to loopback.
  const [a, b] = ['provider-a', 'provider-b'].map((n) => `127.0.0.1:${local[n].env.TETHER_PORT}`);
  expect(local['consumer-orders'].env.TETHER_PROVIDER_ADDRESS).toBe(`${a},${b}`);
  expect(local['consumer-sensors'].env.TETHER_PROVIDER_ADDRESS).toBe(`${b},${a}`);
  expect(local['provider-a'].env.TETHER_NATS_URL).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/);
  expect(local.nats.command).toContain(path.join(stateDir, 'nats-data'));
  const children = new Map<string, ReturnType<typeof run>>();
  const healthy = async (name: string) => runHealthcheck(local[name].health?.command as string[], local[name].health?.timeoutMs as number, ROOT);
  try {
    // Each consumer's state file lies in the local directory standing in for its volume.
    for (const name of ['consumer-orders', 'consumer-sensors']) {
      expect(path.dirname(local[name].env.CONSUMER_STATE_FILE)).toBe(path.join(stateDir, `${name}-state`));
      expect(fs.statSync(path.join(stateDir, `${name}-state`)).isDirectory()).toBe(true);
    }

    // The one-shot credentials step first: the provider waits for it to complete.
    for (const name of ['provider-a', 'provider-b']) expect(services[name].depends_on?.credentials.condition).toBe('service_completed_successfully');
    expect(runSync(local.credentials.command).code).toBe(0);
    expect(local['provider-a'].env.TETHER_TLS_CERT_FILE).toBe(path.join(stateDir, 'creds-provider', 'server.pem'));

    // Start in depends_on order, each gated on its own compose healthcheck command.
    children.set('nats', run(local.nats.command, local.nats.env));
    await waitFor('nats healthcheck', () => healthy('nats'), 15_000, 100);
    // NATS is no back door: without the providers' .creds, or without trusting the dev CA, no connection.
    const natsUrl = local['provider-a'].env.TETHER_NATS_URL;
    const caFile = local['provider-a'].env.TETHER_NATS_TLS_CA_FILE;
    const creds = () => fs.readFileSync(local['provider-a'].env.TETHER_NATS_CREDS_FILE);
    const attempt = async (options: object) => {
      const nc = await natsConnect({ servers: natsUrl, timeout: 3_000, ...options });
      await nc.close();
      return 'connected';
    };
    await expect(attempt({ tls: { caFile } })).rejects.toThrow(/Authorization Violation/i);
    await expect(attempt({ authenticator: credsAuthenticator(creds()) })).rejects.toThrow(/certificate/i);
    await expect(attempt({ tls: { caFile }, authenticator: credsAuthenticator(creds()) })).resolves.toBe('connected');
    for (const name of ['provider-a', 'provider-b']) {
      expect(services[name].depends_on?.nats.condition).toBe('service_healthy');
      children.set(name, run(local[name].command, local[name].env));
    }
    await waitFor('provider healthchecks', async () => (await healthy('provider-a')) && (await healthy('provider-b')), 15_000, 100);
    for (const name of ['consumer-orders', 'consumer-sensors', 'publisher']) {
      expect(services[name].depends_on?.['provider-a'].condition).toBe('service_healthy');
      expect(services[name].depends_on?.['provider-b'].condition).toBe('service_healthy');
      children.set(name, run(local[name].command, local[name].env));
    }
    await waitFor('consumer healthchecks', async () => (await healthy('consumer-orders')) && (await healthy('consumer-sensors')), 15_000, 100);

    const status = async (name: string) =>
      (await (await fetch(`http://127.0.0.1:${local[name].env.CONSUMER_METRICS_PORT}/status`)).json()) as { handled: number; lastSequence: number };
    await waitFor('events at both consumers', async () => (await status('consumer-orders')).handled > 0 && (await status('consumer-sensors')).handled > 0, 15_000, 100);
    const saved = (name: string) => {
      const file = local[name].env.CONSUMER_STATE_FILE;
      return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as { lastSequence: number }).lastSequence : 0;
    };
    await waitFor('both positions saved', () => saved('consumer-orders') > 0 && saved('consumer-sensors') > 0, 10_000, 100);

    // Operator calls need the operator token; without it the tracker refuses.
    const operator = ['--ca', local['provider-a'].env.TETHER_CA_FILE, '--token-file', local['provider-a'].env.TETHER_TOKEN_FILE];
    const address = local['consumer-orders'].env.TETHER_PROVIDER_ADDRESS;
    expect(runSync(['node', 'dist/cli/main.js', '--address', address, '--ca', local['provider-a'].env.TETHER_CA_FILE, 'sinks']).code).toBe(1);
    const cli = (...args: string[]) => runSync(['node', 'dist/cli/main.js', '--address', address, ...operator, ...args]);
    // The fleet view on replica A lists the sensors consumer's sink on B too.
    const sinks = () => JSON.parse(cli('sinks', '--json').stdout) as Array<{ consumerName: string; subscriptionCount: number; replicaId: string }>;
    await waitFor('both sinks in the fleet view', () => sinks().length === 2, 10_000, 200);
    expect(Object.fromEntries(sinks().map((s) => [s.consumerName, [s.subscriptionCount, s.replicaId]]))).toEqual({ orders: [3, 'provider-a'], sensors: [301, 'provider-b'] });

    // Kill a consumer and watch the reclaim arrive through the CLI and the metrics.
    const follow = run(['node', 'dist/cli/main.js', '--address', address, ...operator, 'reclaims', '--follow', '--count', '1', '--json']);
    children.set('follow', follow);
    const metrics = async (name: string) => (await fetch(`http://127.0.0.1:${local[name].env.TETHER_METRICS_PORT}/metrics`)).text();
    await waitFor('reclaim watcher attached', async () => /tether_reclaim_watchers 1/.test(await metrics('provider-a')), 5_000, 50);
    const savedBeforeKill = saved('consumer-sensors');
    children.get('consumer-sensors')?.kill('SIGKILL');
    await waitFor('reclaim followed', () => follow.output().includes('"reason":"crashed"'), 10_000, 50);
    const line = follow.output().split('\n').find((l) => l.startsWith('{')) ?? ''; // stderr may carry a warning
    expect(JSON.parse(line)).toMatchObject({ consumerName: 'sensors', subscriptionCount: 301, reason: 'crashed', replicaId: 'provider-b' });
    const after = await metrics('provider-b');
    expect(after).toMatch(/tether_reclaimed_subscriptions_total\{reason="crashed"\} 301/);
    expect(after).toMatch(/tether_live_sinks 0/);

    // Restarted from the same environment, it picks up its position from the state file.
    const restarted = run(local['consumer-sensors'].command, local['consumer-sensors'].env);
    children.set('consumer-sensors', restarted);
    await waitFor('restarted consumer resumes', () => /"msg":"resuming from the saved position"/.test(restarted.output()), 15_000, 50);
    const resumedFrom = Number(/"lastSequence":(\d+)[^\n]*"msg":"resuming from the saved position"/.exec(restarted.output())?.[1]);
    expect(resumedFrom).toBeGreaterThanOrEqual(savedBeforeKill);
    await waitFor('restarted consumer subscribed', () => healthy('consumer-sensors'), 15_000, 100);
  } finally {
    for (const child of children.values()) child.kill('SIGKILL');
    fs.rmSync(stateDir, { recursive: true, force: true });
  }
});
