import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CloseReason } from '../../shared/close-reason';

/** What the metrics read on each scrape, so no gauge is ever out of date. */
export interface ProviderGaugeSource {
  liveSinks(): number;
  liveSubscriptions(): number;
  queueDepths(): number[];
  historySize(): number;
  headSequence(): number;
  reclaimWatchers(): number;
}

/** The provider's Prometheus metrics, on a registry of its own (no global state). */
export class ProviderMetrics {
  readonly registry = new Registry();
  readonly reclaimedSinks: Counter<'reason'>;
  readonly reclaimedSubscriptions: Counter<'reason'>;
  readonly detectionLatency: Histogram;
  readonly eventsPublished: Counter;
  readonly eventsDelivered: Counter;
  readonly publishRejected: Counter<'code'>;

  constructor(source: ProviderGaugeSource) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'tether_provider_' });
    new Gauge({ name: 'tether_live_sinks', help: 'Open sinks', registers, collect() { this.set(source.liveSinks()); } });
    new Gauge({
      name: 'tether_live_subscriptions',
      help: 'Subscriptions of open sinks',
      registers,
      collect() { this.set(source.liveSubscriptions()); },
    });
    new Gauge({
      name: 'tether_sink_queue_depth',
      help: 'Deliveries queued per sink: max, p50 and total over open sinks',
      labelNames: ['stat'],
      registers,
      collect() {
        const depths = source.queueDepths().sort((a, b) => a - b);
        this.set({ stat: 'max' }, depths.at(-1) ?? 0);
        this.set({ stat: 'p50' }, depths[Math.floor(depths.length / 2)] ?? 0);
        this.set({ stat: 'total' }, depths.reduce((a, b) => a + b, 0));
      },
    });
    new Gauge({ name: 'tether_history_events', help: 'Events retained for resume', registers, collect() { this.set(source.historySize()); } });
    new Gauge({ name: 'tether_reclaim_watchers', help: 'Open WatchReclaims streams', registers, collect() { this.set(source.reclaimWatchers()); } });
    new Gauge({ name: 'tether_head_sequence', help: 'Last assigned sequence', registers, collect() { this.set(source.headSequence()); } });
    this.reclaimedSinks = new Counter({ name: 'tether_reclaimed_sinks_total', help: 'Sinks reclaimed, by close reason', labelNames: ['reason'], registers });
    this.reclaimedSubscriptions = new Counter({
      name: 'tether_reclaimed_subscriptions_total',
      help: 'Subscriptions reclaimed, by close reason (slow-consumer counts slow-consumer closes)',
      labelNames: ['reason'],
      registers,
    });
    this.detectionLatency = new Histogram({
      name: 'tether_reclaim_detection_seconds',
      help: 'Time from the last sign of life of a sink to its reclaim',
      buckets: [0.005, 0.02, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 300],
      registers,
    });
    this.eventsPublished = new Counter({ name: 'tether_events_published_total', help: 'Events accepted by Publish', registers });
    this.eventsDelivered = new Counter({ name: 'tether_events_delivered_total', help: 'Event deliveries queued to sinks', registers });
    this.publishRejected = new Counter({ name: 'tether_publish_rejected_total', help: 'Publish calls rejected, by status', labelNames: ['code'], registers });
  }

  recordReclaim(reason: CloseReason, subscriptions: number, sinceLastActivityMs: number): void {
    this.reclaimedSinks.inc({ reason });
    this.reclaimedSubscriptions.inc({ reason }, subscriptions);
    this.detectionLatency.observe(sinceLastActivityMs / 1000);
  }
}
