import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { status } from '@grpc/grpc-js';
import pino from 'pino';
import { Consumer } from '../services/consumer/consumer';
import { consumerConfigFromEnv } from '../services/consumer/consumer-config';
import { ConsumerProcess } from './helpers/consumer-process';
import { LOG_KINDS, type LogKind, ProviderHarness } from './helpers/provider-harness';
import { NatsLauncher, jetstreamEnv } from './helpers/nats-launcher';
import { ProviderProcess, freePort } from './helpers/provider-process';
import { SilentProxy } from './helpers/silent-proxy';
import { SinkTestClient, event, publish, publisher } from './helpers/sink-test-client';
import { waitFor, within } from './helpers/wait';

// Issue 4: a consumer that comes back loses nothing, and a provider restart never wedges.
const pace = () => new Promise((r) => setTimeout(r, 5)); // paces a publisher; nothing synchronises on it

function consumerEnv(address: string, name: string, subs: string) {
  return {
    TETHER_PROVIDER_ADDRESS: address,
    CONSUMER_NAME: name,
    CONSUMER_SUBSCRIPTIONS: subs,
    CONSUMER_IDLE_TIMEOUT_MS: '1000',
    CONSUMER_BACKOFF_INITIAL_MS: '50',
    CONSUMER_BACKOFF_MAX_MS: '1000',
  };
}

/** Runs Publish calls one after another until stopped, recording how each ended and how long it took. */
function publishLoop(address: string, topic: string, deadlineMs: number, maxCalls: number) {
  const pub = publisher(address);
  const calls: Array<{ ok: boolean; code?: number; ms: number }> = [];
  let stopped = false;
  const done = (async () => {
    while (!stopped && calls.length < maxCalls) {
      const started = Date.now();
      try {
        await publish(pub, [event(topic)], deadlineMs);
        calls.push({ ok: true, ms: Date.now() - started });
      } catch (err) {
        calls.push({ ok: false, code: (err as { code: number }).code, ms: Date.now() - started });
      }
      await pace();
    }
    pub.close();
  })();
  return { calls, stop: () => ((stopped = true), done) };
}

describe.each(LOG_KINDS)('resume without loss (%s log)', (kind) => {
  test('silent network while events flow, then heal: every sequence exactly once, in order', async () => {
    const h = await ProviderHarness.start({}, { kind });
    const proxy = new SilentProxy(h.provider.port);
    await proxy.start();
    const consumer = new ConsumerProcess(consumerEnv(`127.0.0.1:${proxy.port}`, 'resumer', 'r=resume.>'));
    try {
      await consumer.waitSubscribed();
      const reclaim = h.nextReclaim('resumer');
      let reclaimed = false;
      void reclaim.then(() => (reclaimed = true));
      const pub = publisher(h.address);
      let published = 0;
      let healedAt = -1;
      // Bounded: at most 3,000 batches; silence after 50, heal once the provider has reclaimed the sink,
      // then 100 more batches.
      for (let i = 0; i < 3_000 && (healedAt < 0 || i < healedAt + 100); i++) {
        await publish(pub, [event(`resume.${i % 7}`), event('resume.x'), event(`resume.y.${i}`)]);
        published += 3;
        if (i === 50) proxy.silence();
        if (reclaimed && healedAt < 0) {
          proxy.heal();
          healedAt = i;
        }
        await pace();
      }
      pub.close();
      expect(healedAt).toBeGreaterThan(50);
      expect((await reclaim).reason).toBe('keepalive-timeout');
      await waitFor('the replica applied every batch', () => h.provider.router.headSequence === published, 5_000);
      const head = h.provider.router.headSequence;
      await waitFor('consumer caught up', async () => (await consumer.status()).lastSequence === head, 20_000, 50);
      const s = await consumer.status();
      expect(s.connects).toBeGreaterThanOrEqual(2);
      expect(s.handled).toBe(published); // each sequence handled once…
      expect(s.outOfOrder).toBe(0); // …in order…
      expect(s.gapsReported).toBe(0); // …and nothing lost at the seam
      expect(s.perSubscription.r).toBe(published);
    } finally {
      await consumer.kill();
      await proxy.stop();
      await h.expectEmpty();
      await h.stop();
    }
  });

  test('a consumer process killed with kill -9 and restarted resumes from its saved position: nothing missed', async () => {
    const h = await ProviderHarness.start({}, { kind });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tether-position-'));
    const file = path.join(dir, 'position.json');
    const env = { ...consumerEnv(h.address, 'durable', 'd=durable.>'), CONSUMER_STATE_FILE: file, CONSUMER_STATE_FLUSH_MS: '20' };
    let consumer = new ConsumerProcess(env);
    const pub = publisher(h.address);
    try {
      await consumer.waitSubscribed();
      for (let i = 0; i < 50; i++) await publish(pub, [event('durable.before')]);
      await waitFor('position 50 saved', () => fs.existsSync(file) && JSON.parse(fs.readFileSync(file, 'utf8')).lastSequence === 50);
      await consumer.kill();
      for (let i = 0; i < 50; i++) await publish(pub, [event('durable.while-down')]);
      consumer = new ConsumerProcess(env);
      await waitFor('caught up after the restart', async () => (await consumer.status()).lastSequence === 100, 15_000, 50);
      const s = await consumer.status();
      expect(s.handled).toBe(50); // exactly the events published while it was down
      expect(s.outOfOrder).toBe(0);
      expect(s.gapsReported).toBe(0);
    } finally {
      pub.close();
      await consumer.kill();
      fs.rmSync(dir, { recursive: true, force: true });
      await h.expectEmpty();
      await h.stop();
    }
  });

  test('resuming from before the history window gets an explicit gap, then what is retained', async () => {
    // The memory log keeps the last 10 events; the stream keeps the last batch message (10 events).
    const h = await ProviderHarness.start(kind === 'memory' ? { historyMaxEvents: 10 } : { streamMaxMsgs: 1 }, { kind });
    const pub = publisher(h.address);
    try {
      for (let i = 0; i < 3; i++) await publish(pub, Array.from({ length: 10 }, () => event('hist.a')));
      await waitFor('retention applied', () => h.provider.router.firstRetained() === 21, 5_000);
      const epoch = h.provider.router.epoch;
      const old = new SinkTestClient(h.address).open('old').subscribe([{ subscriptionId: 'h', pattern: 'hist.>' }], { epoch, afterSequence: '5' });
      const [gap] = await old.waitFor('gap');
      expect(gap).toMatchObject({ epoch, requestedAfterSequence: '5', firstAvailableSequence: '21' });
      expect((await old.waitDeliveries(10)).map((d) => Number(d.event?.sequence))).toEqual([21, 22, 23, 24, 25, 26, 27, 28, 29, 30]);

      // Within the window: no gap, exactly the missing events, then live with no seam.
      const recent = new SinkTestClient(h.address).open('recent').subscribe([{ subscriptionId: 'h', pattern: 'hist.>' }], { epoch, afterSequence: '25' });
      await recent.waitFor('ack');
      await publish(pub, [event('hist.b'), event('hist.c')]);
      const seqs = (await recent.waitDeliveries(7)).map((d) => Number(d.event?.sequence));
      expect(seqs).toEqual([26, 27, 28, 29, 30, 31, 32]);
      expect(recent.of('gap')).toHaveLength(0);

      // Another epoch (a provider that restarted) is a gap too.
      await waitFor('retention applied', () => h.provider.router.firstRetained() === (kind === 'memory' ? 23 : 31), 5_000);
      const stranger = new SinkTestClient(h.address).open('stranger').subscribe([{ subscriptionId: 'h', pattern: 'hist.>' }], { epoch: 'some-old-epoch', afterSequence: '3' });
      const [gap2] = await stranger.waitFor('gap');
      expect(gap2).toMatchObject({ epoch, requestedEpoch: 'some-old-epoch', firstAvailableSequence: kind === 'memory' ? '23' : '31' });
      for (const c of [old, recent, stranger]) c.close();
    } finally {
      pub.close();
      await h.expectEmpty();
      await h.stop();
    }
  });
});

/** A provider process on the given log: the JetStream one gets its own nats-server. */
async function providerOn(kind: LogKind, extra: Record<string, string> = {}): Promise<{ p: ProviderProcess; nats?: NatsLauncher }> {
  const nats = kind === 'jetstream' ? await NatsLauncher.start() : undefined;
  const env = nats ? jetstreamEnv(nats, `restart-${process.pid}`, extra) : extra;
  return { p: new ProviderProcess(await freePort(), env), nats };
}

describe.each(LOG_KINDS)('restart never wedges (%s log)', (kind) => {
  test('kill -9 and restart under load: publishers end with a clear status in time; consumers are told of the gap (memory) or lose nothing (jetstream)', async () => {
    const { p, nats } = await providerOn(kind);
    const consumers: ConsumerProcess[] = [];
    try {
      await p.start();
      const firstEpoch = p.epoch;
      for (const name of ['k1', 'k2']) consumers.push(new ConsumerProcess(consumerEnv(p.address, name, 'k=kill.>')));
      await Promise.all(consumers.map((c) => c.waitSubscribed()));
      const DEADLINE = 300;
      const loop = publishLoop(p.address, 'kill.a', DEADLINE, 5_000);
      await waitFor('publishing works', () => loop.calls.filter((c) => c.ok).length >= 20);
      await p.kill();
      const failedBefore = loop.calls.filter((c) => !c.ok).length;
      await waitFor('calls fail during the outage', () => loop.calls.filter((c) => !c.ok).length >= failedBefore + 20);
      await p.start();
      const okAfter = loop.calls.length;
      await waitFor('publishing works again', () => loop.calls.slice(okAfter).filter((c) => c.ok).length >= 20, 10_000);
      await loop.stop();

      const failures = loop.calls.filter((c) => !c.ok);
      expect(failures.length).toBeGreaterThanOrEqual(20);
      for (const f of failures) {
        expect([status.UNAVAILABLE, status.DEADLINE_EXCEEDED]).toContain(f.code);
        expect(f.ms).toBeLessThanOrEqual(DEADLINE + 250);
      }
      if (kind === 'memory') {
        expect(p.epoch).not.toBe(firstEpoch);
        for (const c of consumers) {
          await waitFor('consumer resubscribed in the new epoch', async () => {
            const s = await c.status();
            return s.subscribed && s.epoch === p.epoch && s.gapsReported >= 1;
          }, 10_000, 50);
        }
      } else {
        // The epoch names the stream: the restart changes nothing a consumer can see but a reconnect.
        expect(p.epoch).toBe(firstEpoch);
        for (const c of consumers) {
          await waitFor('consumer resubscribed, no gap', async () => {
            const s = await c.status();
            return s.subscribed && s.connects >= 2 && s.epoch === firstEpoch;
          }, 10_000, 50);
          expect((await c.status()).gapsReported).toBe(0);
        }
      }
    } finally {
      await Promise.all(consumers.map((c) => c.kill()));
      await p.kill();
      await nats?.stop();
    }
  });

  test('flood while down: 50 consumers and 200 publisher calls; then SERVING promptly, all resubscribed, memory near baseline', async () => {
    const { p, nats } = await providerOn(kind);
    const BACKOFF_MAX = 1_000;
    const log = pino({ level: 'silent' });
    const consumers = Array.from({ length: 50 }, (_, i) =>
      new Consumer(
        consumerConfigFromEnv({
          ...consumerEnv(p.address, `flood-${i}`, `f=flood.{1..20}`),
          CONSUMER_BACKOFF_MAX_MS: String(BACKOFF_MAX),
          CONSUMER_HEALTH_PORT: '0',
          CONSUMER_METRICS_PORT: '-1',
          CONSUMER_HOST: '127.0.0.1',
        }),
        log,
      ),
    );
    try {
      await p.start();
      const baselineRss = p.rssBytes();
      await p.kill();
      await Promise.all(consumers.map((c) => c.start()));
      // 200 publisher calls against the dead port, 4 at a time: each must end, fast, with a status.
      // A 2 s deadline: each call must end UNAVAILABLE (refused), never DEADLINE_EXCEEDED (waited out).
      const loops = Array.from({ length: 4 }, () => publishLoop(p.address, 'flood.1', 2_000, 50));
      await waitFor('200 calls made', () => loops.every((l) => l.calls.length >= 50), 20_000);
      const calls = loops.flatMap((l) => l.calls);
      expect(calls).toHaveLength(200);
      for (const c of calls) {
        expect(c.ok).toBe(false);
        expect(c.code).toBe(status.UNAVAILABLE);
        expect(c.ms).toBeLessThan(1_000); // well before the deadline; < 1 ms on a quiet machine
      }
      const toServingMs = await p.start();
      expect(toServingMs).toBeLessThan(10_000);
      const servingAt = Date.now();
      await waitFor('all 50 consumers resubscribed', () => consumers.every((c) => c.status().subscribed), BACKOFF_MAX + 5_000, 20);
      expect(Date.now() - servingAt).toBeLessThanOrEqual(BACKOFF_MAX + 5_000);
      expect(p.rssBytes() - baselineRss).toBeLessThan(150 * 1024 * 1024);
    } finally {
      await Promise.all(consumers.map((c) => c.stop()));
      await p.kill();
      await nats?.stop();
    }
  });

  test('SIGTERM drains: every consumer is told, the process exits in bound, consumers resume on the restart', async () => {
    const GRACE = 1_000;
    const { p, nats } = await providerOn(kind, { TETHER_SHUTDOWN_GRACE_MS: String(GRACE) });
    const consumers: ConsumerProcess[] = [];
    try {
      await p.start();
      for (const name of ['t1', 't2', 't3']) consumers.push(new ConsumerProcess(consumerEnv(p.address, name, 't=term.>')));
      await Promise.all(consumers.map((c) => c.waitSubscribed()));
      const signalledAt = Date.now();
      p.signal('SIGTERM');
      const code = await within('provider exit after SIGTERM', p.exited, GRACE + 3_000);
      expect(code).toBe(0);
      expect(Date.now() - signalledAt).toBeLessThanOrEqual(GRACE + 2_000);
      for (const c of consumers) {
        await waitFor('going-away message logged', () => /"reason":"shutdown".*provider is closing the sink/.test(c.log), 5_000);
      }
      await p.start();
      for (const c of consumers) {
        await waitFor('resubscribed to the restarted provider', async () => {
          const s = await c.status();
          return s.subscribed && s.connects >= 2 && s.epoch === p.epoch;
        }, 10_000, 50);
      }
    } finally {
      await Promise.all(consumers.map((c) => c.kill()));
      await p.kill();
      await nats?.stop();
    }
  });
});
