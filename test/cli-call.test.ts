import { spawn } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import { DIST } from './helpers/paths';
import { within } from './helpers/wait';

// Issue 9: `tether call` honours --timeout like every other command. The server here accepts TCP and
// never answers (a hung process looks the same from outside), so only a deadline can end the command.
const CLI = path.join(DIST, 'cli', 'main.js');

let blackHole: net.Server;
let address: string;
const sockets = new Set<net.Socket>();

beforeAll(async () => {
  blackHole = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
  address = `127.0.0.1:${(blackHole.address() as net.AddressInfo).port}`;
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((resolve) => blackHole.close(resolve));
});

function tether(...args: string[]): Promise<{ code: number | null; stderr: string; ms: number }> {
  const started = Date.now();
  const child = spawn(process.execPath, [CLI, '--address', address, '--timeout', '300', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const closed = new Promise<{ code: number | null; stderr: string; ms: number }>((resolve) =>
    child.once('close', (code) => resolve({ code, stderr, ms: Date.now() - started })),
  );
  return within('tether to exit', closed, 10_000).finally(() => child.kill('SIGKILL'));
}

test.each([
  ['listing services', []],
  ['a unary method', ['tether.v1.ConnectionTrackerService/GetTotals', '{}']],
  ['a server-streaming method (the lookup is bounded)', ['tether.v1.ConnectionTrackerService/WatchReclaims', '{}']],
])('tether call, %s, against a server that never answers: DEADLINE_EXCEEDED at --timeout', async (_what, args) => {
  const res = await tether('call', ...args);
  expect(res.code).toBe(1);
  expect(res.stderr).toMatch(/^tether: DEADLINE_EXCEEDED/);
  expect(res.ms).toBeLessThan(5_000); // node start-up plus the 300 ms deadline, far below grpc-js's 20 s connect timeout
});
