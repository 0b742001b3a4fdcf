import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { status } from '@grpc/grpc-js';
import { probeHealth } from '../shared/health-probe';
import type { Delivery } from '../shared/gen/tether/v1/sink';
import { DIST } from './helpers/paths';
import { type ProviderProcess, freePort } from './helpers/provider-process';
import { OWN_CHANNEL, RawSinkClient, Tracker, startProvider } from './helpers/raw-clients';
import { rawGrpcCall } from './helpers/raw-grpc';
import { event, publish, publisher } from './helpers/sink-test-client';
import { waitFor } from './helpers/wait';

// Issue 9, point 6: one regression test per reproduced failure, against the built provider in its own
// process. This file: undecodable bytes on the wire, and byte limits that count real message sizes.

const DEFAULT_BATCH_MAX_BYTES = 262_144;

/** 200 subscription ids of exactly 64 characters, all matching `wide.topic`. */
const WIDE_IDS = Array.from({ length: 200 }, (_, i) => `wide-${String(i).padStart(3, '0')}-`.padEnd(64, 'x'));
const WIDE_PATTERNS = ['wide.topic', 'wide.*', 'wide.>', '*.topic'];

/** For each sequence, the union of subscription ids named across all of its deliveries. */
function idsBySequence(deliveries: readonly Delivery[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const d of deliveries) {
    const seq = d.event?.sequence ?? '?';
    const ids = out.get(seq) ?? new Set<string>();
    for (const id of d.subscriptionIds) ids.add(id);
    out.set(seq, ids);
  }
  return out;
}

/** Sequences of `published` not yet seen with every one of the 200 ids. */
function incomplete(c: RawSinkClient, published: string[]): string[] {
  const seen = idsBySequence(c.deliveries());
  return published.filter((seq) => (seen.get(seq)?.size ?? 0) < WIDE_IDS.length);
}

describe('undecodable requests (provider process)', () => {
  let p: ProviderProcess;

  beforeAll(async () => {
    p = await startProvider();
  });

  afterAll(async () => {
    await p?.kill();
  });

  // 0a ff: field 1, length-delimited, then a length varint cut short. 0f / 08 ff: wire type 7; a varint cut short.
  test.each([
    ['Publish', 'a truncated varint', '/tether.v1.PublisherService/Publish', [0x0a, 0xff], true],
    ['Publish', 'wire type 7', '/tether.v1.PublisherService/Publish', [0x0f], true],
    ['OpenSink', 'a truncated varint', '/tether.v1.SinkService/OpenSink', [0x0a, 0xff], false],
    ['OpenSink', 'wire type 7', '/tether.v1.SinkService/OpenSink', [0x0f], false],
    ['GetTotals', 'a truncated varint', '/tether.v1.ConnectionTrackerService/GetTotals', [0x08, 0xff], true],
    ['ListSubscriptions', 'wire type 7', '/tether.v1.ConnectionTrackerService/ListSubscriptions', [0x0f], true],
  ] as const)('point 7: %s with undecodable bytes (%s) gets INVALID_ARGUMENT, not INTERNAL', async (_method, _kind, rpcPath, bytes, endStream) => {
    const result = await rawGrpcCall(p.address, rpcPath, Buffer.from(bytes), { endStream, timeoutMs: 3_000 });
    expect({ finished: result.finished, grpcStatus: result.grpcStatus === undefined ? 'none' : status[result.grpcStatus] }).toEqual({ finished: true, grpcStatus: 'INVALID_ARGUMENT' });
    // The provider stays up and serves well-formed calls.
    expect(await probeHealth(p.address, '', 1_000)).toBe('SERVING');
    const pub = publisher(p.address);
    await expect(publish(pub, [event('still.serving')])).resolves.toMatchObject({ sequences: [expect.any(String)] });
    pub.close();
  });
});

describe('byte limits count real sizes (provider process)', () => {
  let p: ProviderProcess | undefined;
  let tracker: Tracker | undefined;

  afterEach(async () => {
    tracker?.close();
    await p?.kill();
    p = undefined;
    tracker = undefined;
  });

  async function wideSink(c: RawSinkClient) {
    c.subscribe(WIDE_IDS.map((id, i) => ({ subscriptionId: id, pattern: WIDE_PATTERNS[i % WIDE_PATTERNS.length] })), { requestId: 'wide' });
    const [ack] = await c.waitFor('ack');
    expect(ack.subscriptionIds).toHaveLength(WIDE_IDS.length);
  }

  test('point 10: 200 subscriptions with 64-character ids on one topic: every event names all 200 ids across its deliveries, no message over TETHER_BATCH_MAX_BYTES', async () => {
    p = await startProvider();
    tracker = new Tracker(p.address);
    const c = new RawSinkClient(p.address, OWN_CHANNEL).open('wide'); // grpc-js default receive limit: 4 MiB
    const pub = publisher(p.address);
    try {
      await c.waitFor('opened');
      await wideSink(c);
      const published: string[] = [];
      for (let i = 0; i < 2; i++) {
        const { sequences } = await publish(pub, Array.from({ length: 250 }, () => event('wide.topic', { data: Buffer.alloc(256, 7) })));
        published.push(...sequences);
      }
      await waitFor('every event delivered with all 200 ids', () => incomplete(c, published).length === 0 || c.error !== undefined, 15_000, 100);
      expect(c.error).toBeUndefined();
      expect(incomplete(c, published)).toEqual([]);
      expect(c.maxSize).toBeLessThanOrEqual(DEFAULT_BATCH_MAX_BYTES);
    } finally {
      c.close();
      pub.close();
    }
    await tracker.expectEmpty();
  });

  test('point 10: a consumer stating open.max_receive_message_bytes = 65536 never gets a larger message', async () => {
    p = await startProvider({ TETHER_MAX_EVENT_BYTES: '16384' });
    tracker = new Tracker(p.address);
    const limit = 65_536;
    const c = new RawSinkClient(p.address, { ...OWN_CHANNEL, 'grpc.max_receive_message_length': limit }).open('small-receiver', limit);
    const pub = publisher(p.address);
    try {
      const [opened] = await c.waitFor('opened');
      await wideSink(c);
      const published: string[] = [];
      // Small events, and events close to TETHER_MAX_EVENT_BYTES: each delivery of those is about 30 KB.
      for (const size of [200, 15_000, 1_000]) {
        const { sequences } = await publish(pub, Array.from({ length: 100 }, () => event('wide.topic', { data: Buffer.alloc(size, 7) })));
        published.push(...sequences);
      }
      await waitFor('every event delivered with all 200 ids', () => incomplete(c, published).length === 0 || c.error !== undefined, 15_000, 100);
      expect(c.error).toBeUndefined();
      expect(incomplete(c, published)).toEqual([]);
      expect(c.maxSize).toBeLessThanOrEqual(limit);
      expect(opened.limits?.maxMessageBytes).toBeGreaterThan(0);
      expect(opened.limits?.maxMessageBytes).toBeLessThanOrEqual(limit);
    } finally {
      c.close();
      pub.close();
    }
    await tracker.expectEmpty();
  });

  test('point 10: a consumer stating a receive limit smaller than an event can be (1024) is refused at open with INVALID_ARGUMENT', async () => {
    p = await startProvider();
    tracker = new Tracker(p.address);
    const c = new RawSinkClient(p.address).open('tiny-receiver', 1_024);
    try {
      await waitFor('an answer to the open', () => c.error !== undefined || c.of('opened').length > 0, 3_000);
      expect(c.error ? status[c.error.code] : 'opened').toBe('INVALID_ARGUMENT');
      expect((await tracker.totals()).liveSinks).toBe(0);
    } finally {
      c.close();
    }
    await tracker.expectEmpty();
  });

  /** Runs the provider with `env` until it exits, at most `ms`; kills it if it is still running then. */
  async function runUntilExit(env: Record<string, string>, ms: number) {
    const child = spawn(process.execPath, [path.join(DIST, 'services', 'provider', 'main.js')], {
      env: { ...process.env, TETHER_HOST: '127.0.0.1', TETHER_PORT: String(await freePort()), TETHER_METRICS_PORT: '-1', LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    const code = await exited;
    const stillRunning = child.signalCode === 'SIGKILL';
    clearTimeout(timer);
    return { code: stillRunning ? 'still running' : code, stderr };
  }

  test.each(['TETHER_MAX_EVENT_BYTES', 'TETHER_BATCH_MAX_BYTES'])('point 10: the provider refuses to start with %s=5000000 (over 4 MiB), naming it', async (name) => {
    const { code, stderr } = await runUntilExit({ [name]: '5000000' }, 5_000);
    expect(code).not.toBe('still running');
    expect(code).not.toBe(0);
    expect(stderr.split('\n').filter((line) => line.includes(name)).length).toBeGreaterThanOrEqual(1);
  });
});
