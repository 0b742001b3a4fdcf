import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConsumerProcess } from './helpers/consumer-process';
import { ProviderHarness } from './helpers/provider-harness';
import { event, publish, publisher } from './helpers/sink-test-client';
import { waitFor, within } from './helpers/wait';

// Issue 9: a consumer that cannot keep its position refuses to start with one line, not a stack trace a
// second; a write that fails at run time is logged once and counted; a bad LOG_LEVEL is a config error.
const EXIT_BOUND_MS = 10_000;

interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tether-startup-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function lines(output: string): LogLine[] {
  return output
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as LogLine);
}

/** Starts a consumer that must refuse; returns its exit code and every log line it wrote. */
async function refusal(env: Record<string, string>): Promise<{ code: number | null; log: LogLine[]; raw: string }> {
  // Nothing listens at this address: a consumer that got as far as connecting would log its retries.
  const consumer = new ConsumerProcess({ TETHER_PROVIDER_ADDRESS: '127.0.0.1:9', CONSUMER_STATE_FLUSH_MS: '20', ...env });
  try {
    const code = await within('the consumer exits', consumer.closed, EXIT_BOUND_MS);
    return { code, log: lines(consumer.log), raw: consumer.log };
  } finally {
    await consumer.kill();
  }
}

function expectOneFatalLine(result: { log: LogLine[]; raw: string }, ...mentions: string[]): void {
  expect(result.log).toHaveLength(1);
  expect(result.log[0].level).toBe(60);
  for (const m of mentions) expect(result.log[0].msg).toContain(m);
  expect(result.raw).not.toMatch(/\n\s+at |"stack"/); // no stack trace, in the message or as a field
}

test('a state file under a directory that does not exist: exit 1, one line naming CONSUMER_STATE_FILE', async () => {
  const file = path.join(dir, 'missing', 'position.json');
  const result = await refusal({ CONSUMER_STATE_FILE: file });
  expect(result.code).toBe(1);
  expectOneFatalLine(result, 'CONSUMER_STATE_FILE', file, 'does not exist');
});

test('a state file whose parent is a regular file (unwritable even for root): exit 1, one line', async () => {
  fs.writeFileSync(path.join(dir, 'plain-file'), 'not a directory');
  const file = path.join(dir, 'plain-file', 'position.json');
  const result = await refusal({ CONSUMER_STATE_FILE: file });
  expect(result.code).toBe(1);
  expectOneFatalLine(result, 'CONSUMER_STATE_FILE', file, 'is not a directory');
});

// Root writes through mode bits, so only a non-root run can see this refusal.
(process.getuid?.() === 0 ? test.skip : test)('a state directory without write permission (0o500): exit 1, one line', async () => {
  const locked = path.join(dir, 'locked');
  fs.mkdirSync(locked, { mode: 0o500 });
  const result = await refusal({ CONSUMER_STATE_FILE: path.join(locked, 'position.json') });
  expect(result.code).toBe(1);
  expectOneFatalLine(result, 'CONSUMER_STATE_FILE', 'cannot write a file in');
});

test('a corrupt state file: exit 1, one line, and the file is left as it was', async () => {
  const file = path.join(dir, 'position.json');
  fs.writeFileSync(file, '{"epoch":"e1","lastSeq');
  const result = await refusal({ CONSUMER_STATE_FILE: file });
  expect(result.code).toBe(1);
  expectOneFatalLine(result, 'CONSUMER_STATE_FILE', file, 'does not hold a saved position');
  expect(fs.readFileSync(file, 'utf8')).toBe('{"epoch":"e1","lastSeq');
  expect(fs.readdirSync(dir)).toEqual(['position.json']); // the write probe left nothing behind
});

test('a bad LOG_LEVEL: exit 2, one line naming LOG_LEVEL and the allowed values', async () => {
  const result = await refusal({ LOG_LEVEL: 'loud' });
  expect(result.code).toBe(2);
  expectOneFatalLine(result, 'LOG_LEVEL="loud"', 'fatal, error, warn, info, debug, trace, silent');
});

test('a state write that fails at run time is logged once per distinct error, counted, and recovers', async () => {
  const h = await ProviderHarness.start();
  const stateDir = path.join(dir, 'state');
  fs.mkdirSync(stateDir);
  const file = path.join(stateDir, 'position.json');
  const consumer = new ConsumerProcess({
    TETHER_PROVIDER_ADDRESS: h.address,
    CONSUMER_NAME: 'flaky-disk',
    CONSUMER_SUBSCRIPTIONS: 'f=flaky.>',
    CONSUMER_STATE_FILE: file,
    CONSUMER_STATE_FLUSH_MS: '20',
  });
  const pub = publisher(h.address);
  const saved = () => (fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as { lastSequence: number }).lastSequence : 0);
  const writeErrors = async () => Number(/^tether_consumer_state_write_errors_total (\d+)/m.exec(await consumer.metrics())?.[1] ?? NaN);
  const failures = () => lines(consumer.log).filter((l) => l.msg.startsWith('could not save the resume position'));
  try {
    await consumer.waitSubscribed();
    await publish(pub, [event('flaky.a')]);
    await waitFor('position 1 saved', () => saved() === 1);
    expect(await writeErrors()).toBe(0);

    fs.rmSync(stateDir, { recursive: true });
    await publish(pub, [event('flaky.b')]);
    await waitFor('at least 10 failed writes', async () => (await writeErrors()) >= 10, 10_000, 20);
    expect(failures()).toHaveLength(1); // ten failures, one line
    expect(failures()[0]).toMatchObject({ level: 50, file });
    expect(consumer.log).not.toMatch(/\n\s+at |"stack"/);

    fs.mkdirSync(stateDir);
    await waitFor('position 2 saved once the directory is back', () => saved() === 2);
    await waitFor('recovery logged', () => lines(consumer.log).some((l) => l.msg === 'resume position saved again'));
    expect(fs.readdirSync(stateDir)).toEqual(['position.json']);
  } finally {
    pub.close();
    await consumer.kill();
    await h.expectEmpty();
    await h.stop();
  }
});
