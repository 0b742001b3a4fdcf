import type { status } from '@grpc/grpc-js';
import { OpenSinkResponse } from '../../shared/gen/tether/v1/sink';
import type { Outbound } from '../../services/provider/sinks/outbound-queue';
import { encodeOutbound } from '../../services/provider/sinks/sink-wire';
import type { SinkStream } from '../../services/provider/sinks/sink-stream';
import { note } from './coverage';
import type { ManualScheduler } from './manual-scheduler';

/** One delivery as the consumer decodes it off the wire. */
export interface ReadDelivery {
  readonly id: string;
  readonly source: string;
  readonly sequence: number;
  readonly topic: string;
  readonly type: string;
  readonly ids: readonly string[];
}

/** What the consumer read, in order. */
export type ReadItem = { readonly kind: 'control'; readonly message: OpenSinkResponse } | { readonly kind: 'batch'; readonly deliveries: readonly ReadDelivery[] };

export type ProviderEnd = { readonly kind: 'finish'; readonly code: status; readonly details: string } | { readonly kind: 'reset' };
export type ReaderEnd = ProviderEnd | { readonly kind: 'cancelled' };

/** How the fake hands a consumer's requests and stream events to the code under test. */
export interface ClientSide {
  request(message: unknown): void;
  halfClose(): void;
  cancel(): void;
}

/**
 * A SinkStream with a consumer on the other end that the test drives: the reader reads everything at
 * once, or stalls, in which case writes buffer and, past `highWater` unread messages, return false until
 * the reader resumes and 'drain' fires. Requests from the consumer are held while the provider has paused
 * them, and half-close waits behind them, as a paused grpc-js call does. Everything the provider did to
 * the stream is recorded, and anything it must never do is noted in `violations`.
 */
export class FakeSinkStream implements SinkStream {
  /** Everything the provider wrote, read or not. */
  readonly written: Outbound[] = [];
  /** What the consumer read, decoded from the wire bytes. */
  readonly read: ReadItem[] = [];
  readonly violations: string[] = [];
  providerEnd: ProviderEnd | undefined;
  readerEnd: ReaderEnd | undefined;
  stalled = false;
  private highWater = 0;
  private readIndex = 0;
  /** When a write first returned false since the last 'drain'. */
  private refusedAt: number | null = null;
  /** The provider's view: it was refused a write and has not been told of a drain. */
  blockedAt: number | null = null;
  /** Counts the times the provider became blocked, so two blocks at the same instant differ. */
  private blocks = 0;
  private drainListeners: Array<() => void> = [];
  /** When a drain last reached a listener (the provider counts that as a sign of life). */
  lastDrainAt: number | null = null;
  requestsPaused = false;
  private inbound: unknown[] = [];
  private halfClosePending = false;
  clientHalfClosed = false;
  clientCancelled = false;
  private client: ClientSide | undefined;

  constructor(
    readonly name: string,
    private readonly scheduler: ManualScheduler,
    /** The largest message the consumer said it accepts. */
    public maxMessageBytes: number,
  ) {}

  attach(client: ClientSide): void {
    this.client = client;
  }

  /** Identifies the current block (null when the provider is not blocked). */
  get block(): number | null {
    return this.blockedAt === null ? null : this.blocks;
  }

  get drainListenerCount(): number {
    return this.drainListeners.length;
  }

  get unread(): number {
    return this.written.length - this.readIndex;
  }

  get inboundPending(): number {
    return this.inbound.length + (this.halfClosePending ? 1 : 0);
  }

  // ---- the SinkStream the provider sees ----

  write(message: Outbound): boolean {
    if (this.providerEnd) {
      this.violations.push(`${this.name}: write after the provider ended the stream (${this.providerEnd.kind})`);
      return false;
    }
    this.written.push(message);
    if (this.clientCancelled) return true;
    if (!this.stalled) {
      this.readAvailable();
      return true;
    }
    if (this.refusedAt === null && this.unread <= this.highWater) return true;
    this.refusedAt ??= this.scheduler.now();
    if (this.blockedAt === null) {
      this.blockedAt = this.scheduler.now();
      this.blocks++;
    }
    return false;
  }

  onceDrain(fn: () => void): void {
    if (this.drainListeners.includes(fn)) this.violations.push(`${this.name}: the same drain listener registered twice`);
    this.drainListeners.push(fn);
  }

  offDrain(fn: () => void): void {
    this.drainListeners = this.drainListeners.filter((l) => l !== fn);
  }

  finish(code: status, details: string): void {
    if (this.providerEnd) {
      this.violations.push(`${this.name}: finish(${code}) after the stream already ended (${this.providerEnd.kind})`);
      return;
    }
    this.providerEnd = { kind: 'finish', code, details };
    if (!this.stalled) this.readAvailable();
  }

  reset(): void {
    if (this.providerEnd) {
      this.violations.push(`${this.name}: reset after the stream already ended (${this.providerEnd.kind})`);
      return;
    }
    this.providerEnd = { kind: 'reset' };
    // A reset discards whatever the reader had not read yet.
    this.readIndex = this.written.length;
    this.readerEnd ??= { kind: 'reset' };
  }

  pauseRequests(): void {
    note('requests paused');
    this.requestsPaused = true;
  }

  resumeRequests(): void {
    this.requestsPaused = false;
    this.scheduler.within({ owner: this.name, kind: 'request-delivery' }, () => this.scheduler.defer(() => this.deliverInbound()));
  }

  // ---- the consumer, driven by the test ----

  stall(highWater: number): void {
    this.stalled = true;
    this.highWater = highWater;
  }

  resumeReader(): void {
    this.stalled = false;
    this.readAvailable();
    if (this.refusedAt !== null) {
      this.scheduler.within({ owner: this.name, kind: 'drain' }, () => this.scheduler.defer(() => this.emitDrain()));
    }
  }

  send(message: unknown): void {
    if (this.clientHalfClosed || this.clientCancelled) throw new Error(`${this.name}: the test sent after half-close or cancel`);
    if (this.requestsPaused || this.inbound.length > 0) {
      note('requests held by a pause');
      this.inbound.push(message);
    }
    else this.client?.request(message);
  }

  halfClose(): void {
    this.clientHalfClosed = true;
    if (this.requestsPaused || this.inbound.length > 0) this.halfClosePending = true;
    else this.client?.halfClose();
  }

  cancel(): void {
    this.clientCancelled = true;
    this.inbound = [];
    this.halfClosePending = false;
    this.readIndex = this.written.length;
    this.readerEnd ??= { kind: 'cancelled' };
    this.client?.cancel();
  }

  private deliverInbound(): void {
    while (!this.requestsPaused && this.inbound.length > 0 && !this.clientCancelled) {
      this.client?.request(this.inbound.shift());
    }
    if (!this.requestsPaused && this.inbound.length === 0 && this.halfClosePending) {
      this.halfClosePending = false;
      this.client?.halfClose();
    }
  }

  private emitDrain(): void {
    if (this.refusedAt === null) return;
    this.refusedAt = null;
    const listeners = this.drainListeners;
    this.drainListeners = [];
    if (listeners.length > 0) {
      this.blockedAt = null;
      this.lastDrainAt = this.scheduler.now();
    }
    note(listeners.length > 0 ? 'drain to a blocked sink' : 'drain with nobody listening');
    for (const l of listeners) l();
  }

  private readAvailable(): void {
    if (this.readerEnd) return;
    while (this.readIndex < this.written.length) this.read.push(this.decode(this.written[this.readIndex++]));
    if (this.providerEnd) this.readerEnd = this.providerEnd;
  }

  /** What the consumer gets: the bytes grpc-js would send, decoded as the generated client does. */
  private decode(out: Outbound): ReadItem {
    const wire = encodeOutbound(out);
    const message = OpenSinkResponse.decode(wire);
    if (wire.length > this.maxMessageBytes) {
      this.violations.push(`${this.name}: a ${wire.length}-byte ${message.kind?.$case ?? 'empty'} message exceeds the consumer's receive limit of ${this.maxMessageBytes}`);
    }
    if ('control' in out) {
      const direct = OpenSinkResponse.decode(out.bytes);
      if (direct.kind?.$case !== message.kind?.$case) this.violations.push(`${this.name}: a control message changed kind on the wire`);
      return { kind: 'control', message };
    }
    if (message.kind?.$case !== 'events') {
      this.violations.push(`${this.name}: a batch did not decode as events but as ${message.kind?.$case}`);
      return { kind: 'batch', deliveries: [] };
    }
    const deliveries = message.kind.value.deliveries.map((d, i) => {
      const event = d.event;
      if (!event) throw new Error(`${this.name}: a delivery without an event`);
      const ids = out.batch[i]?.subscriptionIds ?? [];
      if (ids.length !== d.subscriptionIds.length || ids.some((id, j) => id !== d.subscriptionIds[j])) {
        this.violations.push(`${this.name}: subscription ids changed on the wire`);
      }
      return { id: event.id, source: event.source, sequence: Number(event.sequence), topic: event.topic, type: event.type, ids: d.subscriptionIds };
    });
    if (deliveries.length !== out.batch.length) this.violations.push(`${this.name}: ${out.batch.length} deliveries encoded as ${deliveries.length}`);
    if (deliveries.length === 0) this.violations.push(`${this.name}: an empty batch was written`);
    return { kind: 'batch', deliveries };
  }
}
