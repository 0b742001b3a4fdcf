import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO_ROOT, loadCompose, localise } from '../services/local/compose-local';
import { waitFor } from './helpers/wait';

// Issue 3: every compose service's command and environment, read from docker-compose.yml itself (so the
// two cannot drift), started on this machine with addresses rewritten to loopback.
const ROOT = REPO_ROOT;

function run(argv: string[], env: Record<string, string> = {}): ChildProcess {
  const [cmd, ...args] = argv;
  return spawn(cmd === 'node' ? process.execPath : cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

function runSync(argv: string[]): { code: number | null; stdout: string } {
  const [cmd, ...args] = argv;
  const res = spawnSync(cmd === 'node' ? process.execPath : cmd, args, { cwd: ROOT, encoding: 'utf8', timeout: 10_000 });
  return { code: res.status, stdout: res.stdout };
}

test('docker compose services start from their compose command and environment, over TLS with tokens; events reach both consumers; a kill shows as a reclaim', async () => {
  const services = loadCompose();
  expect(Object.keys(services).sort()).toEqual(['consumer-orders', 'consumer-sensors', 'credentials', 'provider', 'publisher']);
  const volumes = fs.mkdtempSync(path.join(os.tmpdir(), 'tether-compose-'));
  const local = Object.fromEntries((await localise(services, false, volumes)).map((s) => [s.name, s]));
  const children = new Map<string, ChildProcess>();
  const healthy = (name: string) => runSync(local[name].health as string[]).code === 0;
  try {
    // The one-shot credentials step first: the provider waits for it to complete.
    expect(services.provider.depends_on?.credentials.condition).toBe('service_completed_successfully');
    expect(runSync(local.credentials.command).code).toBe(0);
    // Start in depends_on order, each gated on its own compose healthcheck command.
    children.set('provider', run(local.provider.command, local.provider.env));
    await waitFor('provider healthcheck', () => healthy('provider'), 15_000, 100);
    for (const name of ['consumer-orders', 'consumer-sensors', 'publisher']) {
      expect(services[name].depends_on?.provider.condition).toBe('service_healthy');
      children.set(name, run(local[name].command, local[name].env));
    }
    await waitFor('consumer healthchecks', () => healthy('consumer-orders') && healthy('consumer-sensors'), 15_000, 100);

    const status = async (name: string) =>
      (await (await fetch(`http://127.0.0.1:${local[name].env.CONSUMER_METRICS_PORT}/status`)).json()) as { handled: number; perSubscription: Record<string, number> };
    await waitFor('events at both consumers', async () => (await status('consumer-orders')).handled > 0 && (await status('consumer-sensors')).handled > 0, 15_000, 100);

    // Operator calls need the operator token; without it the tracker refuses.
    const operator = ['--ca', local.provider.env.TETHER_CA_FILE, '--token-file', local.provider.env.TETHER_TOKEN_FILE];
    const address = local['consumer-orders'].env.TETHER_PROVIDER_ADDRESS;
    expect(runSync(['node', 'dist/cli/main.js', '--address', address, '--ca', local.provider.env.TETHER_CA_FILE, 'sinks']).code).toBe(1);
    const cli = (...args: string[]) => runSync(['node', 'dist/cli/main.js', '--address', address, ...operator, ...args]);
    const sinks = JSON.parse(cli('sinks', '--json').stdout) as Array<{ consumerName: string; subscriptionCount: number }>;
    expect(Object.fromEntries(sinks.map((s) => [s.consumerName, s.subscriptionCount]))).toEqual({ orders: 3, sensors: 301 });

    // Kill a consumer and watch the reclaim arrive through the CLI and the metrics.
    const follow = run(['node', 'dist/cli/main.js', '--address', address, ...operator, 'reclaims', '--follow', '--count', '1', '--json']);
    let followed = '';
    follow.stdout?.on('data', (c: Buffer) => (followed += c.toString()));
    const metrics = async () => (await fetch(`http://127.0.0.1:${local.provider.env.TETHER_METRICS_PORT}/metrics`)).text();
    await waitFor('reclaim watcher attached', async () => /tether_reclaim_watchers 1/.test(await metrics()), 5_000, 50);
    children.get('consumer-sensors')?.kill('SIGKILL');
    await waitFor('reclaim followed', () => followed.includes('"reason":"crashed"'), 10_000, 50);
    expect(JSON.parse(followed.trim())).toMatchObject({ consumerName: 'sensors', subject: 'sensors', subscriptionCount: 301, reason: 'crashed' });
    const after = await metrics();
    expect(after).toMatch(/tether_reclaimed_subscriptions_total\{reason="crashed"\} 301/);
    expect(after).toMatch(/tether_live_sinks 1/);
  } finally {
    for (const child of children.values()) child.kill('SIGKILL');
    fs.rmSync(volumes, { recursive: true, force: true });
  }
});
