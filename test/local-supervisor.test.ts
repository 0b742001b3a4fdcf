import type { LocalService, RestartPolicy } from '../services/local/compose-local';
import { parseDuration } from '../services/local/compose-duration';
import { runHealthcheck, waitHealthy } from '../services/local/health-check';
import { ServiceProcess } from '../services/local/service-process';
import { REPO_ROOT } from './helpers/paths';
import { waitFor } from './helpers/wait';

// Issue 9: npm start honours restart: and stop_grace_period, and checks health without blocking. Each
// service here is a real node process running a one-line script.
function service(script: string, restart: RestartPolicy, stopGraceMs = 10_000): LocalService {
  return { name: 'svc', command: ['node', '-e', script], env: {}, dependsOn: [], completedFirst: [], restart, stopGraceMs, volumes: [] };
}

function supervise(svc: LocalService, overrides: { maxRestarts?: number; stableRunMs?: number } = {}) {
  const said: string[] = [];
  const output: string[] = [];
  const proc = new ServiceProcess(svc, {
    cwd: REPO_ROOT,
    restartDelayInitialMs: 20,
    restartDelayMaxMs: 80,
    maxRestarts: overrides.maxRestarts ?? 3,
    stableRunMs: overrides.stableRunMs ?? 60_000,
    say: (l) => said.push(l),
    output: (_name, l) => output.push(l),
  });
  return { proc, said, output, starts: () => said.filter((l) => / started \(pid \d+\)$/.test(l)).length };
}

const running: ServiceProcess[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
});

test('on-failure: a crashing service is restarted with a growing delay, then given up after the bound', async () => {
  const { proc, said, starts } = supervise(service('process.exit(3)', { when: 'on-failure' }));
  running.push(proc);
  proc.start();
  await waitFor('the supervisor gives up', () => proc.done, 10_000);
  expect(starts()).toBe(4); // the first start and 3 restarts
  expect(proc.restarts).toBe(3);
  expect(said.filter((l) => l.includes('restarting in')).map((l) => /restarting in (\d+) ms/.exec(l)?.[1])).toEqual(['20', '40', '80']);
  expect(said.at(-1)).toMatch(/exited \(code 3\) after 3 restarts in a row; giving up/);
});

test('on-failure:N caps the restarts at N', async () => {
  const { proc, starts } = supervise(service('process.exit(1)', { when: 'on-failure', maxRestarts: 1 }));
  running.push(proc);
  proc.start();
  await waitFor('the supervisor gives up', () => proc.done, 10_000);
  expect(starts()).toBe(2);
});

test('on-failure: a clean exit stays down; restart "no": any exit stays down', async () => {
  for (const [restart, script] of [
    [{ when: 'on-failure' }, 'process.exit(0)'],
    [{ when: 'never' }, 'process.exit(1)'],
  ] as const) {
    const { proc, said, starts } = supervise(service(script, restart));
    running.push(proc);
    proc.start();
    await waitFor('the service settles', () => proc.done, 10_000);
    expect(starts()).toBe(1);
    expect(said.at(-1)).toMatch(/so it stays down$/);
  }
});

test('always: a service killed with SIGKILL comes back with a new pid; after stop() it stays down', async () => {
  const { proc, said, starts } = supervise(service('console.log("up"); setInterval(() => {}, 1000)', { when: 'always' }));
  running.push(proc);
  proc.start();
  const first = proc.pid as number;
  process.kill(first, 'SIGKILL');
  await waitFor('restarted', () => starts() === 2 && proc.running && proc.pid !== first, 10_000);
  expect(said.some((l) => l.includes('exited (SIGKILL); restarting in 20 ms'))).toBe(true);
  await proc.stop();
  expect(proc.running).toBe(false);
  expect(starts()).toBe(2); // stop() is not an unexpected exit
});

test('a run longer than the stable time starts the restart count afresh', async () => {
  // Runs 300 ms then fails: with a 100 ms stable time each exit is the first of its run, so it never gives up.
  const { proc, starts } = supervise(service('setTimeout(() => process.exit(1), 300)', { when: 'on-failure' }), { maxRestarts: 1, stableRunMs: 100 });
  running.push(proc);
  proc.start();
  await waitFor('four starts', () => starts() >= 4, 15_000);
  expect(proc.done).toBe(false);
  expect(proc.restarts).toBe(1);
});

test('stop_grace_period: SIGTERM first; a service that ignores it is killed when the grace period ends', async () => {
  // "ready" only once the SIGTERM handler is in place, so the test never signals a child that has none yet.
  const polite = supervise(service('process.on("SIGTERM", () => process.exit(0)); console.log("ready"); setInterval(() => {}, 1000)', { when: 'always' }, 10_000));
  const stubborn = supervise(service('process.on("SIGTERM", () => console.log("ignoring SIGTERM")); console.log("ready"); setInterval(() => {}, 1000)', { when: 'always' }, 400));
  running.push(polite.proc, stubborn.proc);
  polite.proc.start();
  stubborn.proc.start();
  await waitFor('both ready', () => polite.output.includes('ready') && stubborn.output.includes('ready'), 10_000);

  let started = Date.now();
  await polite.proc.stop();
  expect(Date.now() - started).toBeLessThan(5_000); // well before its 10 s grace period
  expect(polite.said.some((l) => l.includes('SIGKILL'))).toBe(false);

  started = Date.now();
  await stubborn.proc.stop();
  expect(Date.now() - started).toBeGreaterThanOrEqual(400);
  expect(Date.now() - started).toBeLessThan(3_000);
  expect(stubborn.output).toContain('ignoring SIGTERM');
  expect(stubborn.said.at(-1)).toMatch(/still running 400 ms after SIGTERM \(stop_grace_period\): SIGKILL/);
  expect(stubborn.proc.running).toBe(false);
});

test('a healthcheck runs without blocking the event loop, and one that overruns its timeout fails', async () => {
  let ticks = 0;
  const ticker = setInterval(() => ticks++, 20);
  try {
    expect(await runHealthcheck(['node', '-e', 'setTimeout(() => process.exit(0), 400)'], 5_000, REPO_ROOT)).toBe(true);
    expect(ticks).toBeGreaterThanOrEqual(5); // the loop kept turning while the check ran
    expect(await runHealthcheck(['node', '-e', 'process.exit(1)'], 5_000, REPO_ROOT)).toBe(false);
    const started = Date.now();
    expect(await runHealthcheck(['node', '-e', 'setInterval(() => {}, 1000)'], 300, REPO_ROOT)).toBe(false);
    expect(Date.now() - started).toBeLessThan(3_000);
  } finally {
    clearInterval(ticker);
  }
});

test('waiting for health stops as soon as it is abandoned', async () => {
  let abandoned = false;
  const started = Date.now();
  const wait = waitHealthy(['node', '-e', 'process.exit(1)'], { checkTimeoutMs: 2_000, withinMs: 30_000, everyMs: 20, cwd: REPO_ROOT, abandon: () => abandoned });
  abandoned = true;
  expect(await wait).toBe(false);
  expect(Date.now() - started).toBeLessThan(5_000); // not the 30 s it was given
});

test('compose durations', () => {
  expect(parseDuration('15s', 'x')).toBe(15_000);
  expect(parseDuration('1m30s', 'x')).toBe(90_000);
  expect(parseDuration('500ms', 'x')).toBe(500);
  expect(parseDuration('1.5s', 'x')).toBe(1_500);
  expect(parseDuration('2', 'x')).toBe(2_000);
  expect(() => parseDuration('15 seconds', 'stop_grace_period')).toThrow(/stop_grace_period: "15 seconds" is not a duration/);
});
