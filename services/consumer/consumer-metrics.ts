import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/** The consumer's Prometheus metrics. Gauges read the live state on each scrape. */
export class ConsumerMetrics {
  readonly registry = new Registry();
  readonly received: Counter<'subscription'>;
  readonly duplicates: Counter;
  readonly reconnects: Counter;
  readonly gaps: Counter;
  readonly stateWriteErrors: Counter;

  constructor(source: { connected(): boolean; lastSequence(): number; queueDepth(): number }) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'tether_consumer_' });
    this.received = new Counter({ name: 'tether_consumer_events_received_total', help: 'Events handled, per matched subscription', labelNames: ['subscription'], registers });
    this.duplicates = new Counter({ name: 'tether_consumer_duplicates_dropped_total', help: 'Replayed events dropped as already handled', registers });
    this.reconnects = new Counter({ name: 'tether_consumer_reconnects_total', help: 'Sink reconnect attempts', registers });
    this.gaps = new Counter({ name: 'tether_consumer_gaps_total', help: 'Gaps the provider reported (events lost to this consumer)', registers });
    this.stateWriteErrors = new Counter({ name: 'tether_consumer_state_write_errors_total', help: 'Failed writes of the resume position to CONSUMER_STATE_FILE', registers });
    new Gauge({ name: 'tether_consumer_connected', help: '1 while the sink is open and subscribed', registers, collect() { this.set(source.connected() ? 1 : 0); } });
    new Gauge({ name: 'tether_consumer_last_sequence', help: 'Last sequence fully handled', registers, collect() { this.set(source.lastSequence()); } });
    new Gauge({ name: 'tether_consumer_queue_depth', help: 'Events received, not yet handled', registers, collect() { this.set(source.queueDepth()); } });
  }
}
