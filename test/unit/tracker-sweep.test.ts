import pino from 'pino';
import { EventHistory } from '../../services/provider/events/event-history';
import { EventRouter } from '../../services/provider/events/event-router';
import { MemoryEventLog } from '../../services/provider/log/memory-event-log';
import { providerConfig } from '../../services/provider/provider-config';
import { ProviderMetrics } from '../../services/provider/provider-metrics';
import { SubscriptionRegistry } from '../../services/provider/subscriptions/subscription-registry';
import { ConnectionTracker } from '../../services/provider/tracking/connection-tracker';
import type { Reclaim } from '../../services/provider/tracking/reclaim-record';
import { FakeProbe, FakeStream, ManualScheduler } from './fake-sink-parts';

// The tracker's sweep, driven by a fake clock and a fake liveness probe: no sockets, exact times.
function setup() {
  const config = providerConfig({ heartbeatMs: 200, sinkDrainTimeoutMs: 1_000, livenessSweepMs: 50, metricsPort: -1 });
  const scheduler = new ManualScheduler();
  const registry = new SubscriptionRegistry(config.purgeChunk);
  const history = new EventHistory(config, () => scheduler.now());
  const metrics = new ProviderMetrics({ liveSinks: () => 0, liveSubscriptions: () => 0, queueDepths: () => [], historySize: () => 0, headSequence: () => 0, reclaimWatchers: () => 0 });
  const router = new EventRouter(config, registry, new MemoryEventLog(history), metrics);
  const probe = new FakeProbe();
  const tracker = new ConnectionTracker(config, registry, probe, metrics, pino({ level: 'silent' }), scheduler, router);
  const reclaims: Reclaim[] = [];
  tracker.onReclaim((r) => reclaims.push(r), () => undefined);
  return { scheduler, probe, tracker, router, reclaims };
}

describe('ConnectionTracker.sweep', () => {
  test('bytes read on the connection count as life; an idle sink gets one heartbeat per idle period', () => {
    const { scheduler, probe, tracker } = setup();
    const stream = new FakeStream();
    probe.read.set('p:1', 10);
    const sink = tracker.open(stream, 'c', 'p:1', 4 * 1024 * 1024);
    scheduler.runDeferred();
    const opened = scheduler.now();
    scheduler.advance(100);
    tracker.sweep(scheduler.now());
    expect(sink.lastActivity).toBe(scheduler.now()); // first reading counts
    probe.read.set('p:1', 10);
    scheduler.advance(100);
    tracker.sweep(scheduler.now());
    expect(sink.lastActivity).toBe(opened + 100); // no new bytes: no new life
    scheduler.runDeferred();
    const heartbeats = () => stream.written.filter((w) => 'control' in w && w.control.kind?.$case === 'heartbeat').length;
    expect(heartbeats()).toBe(1); // 200 ms idle since the last write
    tracker.sweep(scheduler.now());
    scheduler.runDeferred();
    expect(heartbeats()).toBe(1); // the heartbeat was a write: not idle any more
  });

  test('a blocked sink gets no heartbeats, and past the drain timeout it is closed as slow-consumer with only its stream reset', () => {
    const { scheduler, probe, tracker, reclaims } = setup();
    const stream = new FakeStream();
    const sink = tracker.open(stream, 'c', 'p:2', 4 * 1024 * 1024);
    stream.stalled = true;
    sink.heartbeat();
    scheduler.runDeferred(); // the write is refused: blocked until a drain
    expect(sink.blockedSince).not.toBeNull();
    const writes = stream.written.length;
    for (let t = 0; t < 900; t += 300) {
      scheduler.advance(300);
      tracker.sweep(scheduler.now());
    }
    expect(stream.written.length).toBe(writes); // no heartbeat queued or written while blocked
    expect(sink.queueDepth).toBe(0);
    scheduler.advance(200);
    tracker.sweep(scheduler.now());
    expect(sink.state).toBe('closed');
    expect(reclaims.map((r) => r.reason)).toEqual(['slow-consumer']);
    expect(stream.resets).toBe(1);
    expect(probe.destroyed).toEqual([]); // the connection, shared with others, is left alone
    expect(stream.drainListenerCount).toBe(0);
    expect(tracker.liveSinks).toBe(0);
  });

  test('the sweep timer is one for all sinks and stops with the tracker', () => {
    const { scheduler, tracker } = setup();
    tracker.start();
    tracker.open(new FakeStream(), 'a', 'p:3', 4 * 1024 * 1024);
    tracker.open(new FakeStream(), 'b', 'p:4', 4 * 1024 * 1024);
    expect(scheduler.pendingTimers).toBe(1);
    scheduler.advance(500);
    expect(scheduler.pendingTimers).toBe(1);
    tracker.stop();
    expect(scheduler.pendingTimers).toBe(0);
  });
});
