import { LazyEvent } from '../../../shared/wire/lazy-event';
import type { RetainedEvent } from './event-history';

/** What the router already knows of an event it stored: no need to read it back from the bytes. */
export interface KnownFields {
  readonly sequence: number;
  readonly topic: string;
  readonly tokens: readonly string[];
  readonly id: string;
}

/**
 * A stored event for routing and replay whose attributes (source, type, content type, extensions) are
 * read from its bytes only when a subscription filters on them, which most do not. Its sequence, topic
 * and id are known, or read from the bytes once.
 */
export class LazyRetainedEvent implements RetainedEvent {
  readonly sequence: number;
  readonly topic: string;
  readonly tokens: readonly string[];
  private knownId: string | undefined;
  private event: LazyEvent | undefined;

  constructor(
    readonly bytes: Uint8Array,
    readonly storedAt: number,
    known?: KnownFields,
  ) {
    if (known) {
      this.sequence = known.sequence;
      this.topic = known.topic;
      this.tokens = known.tokens;
      this.knownId = known.id;
    } else {
      const event = this.decoded();
      this.sequence = event.sequenceNumber;
      this.topic = event.topic;
      this.tokens = this.topic.split('.');
    }
  }

  get id(): string {
    return (this.knownId ??= this.decoded().id);
  }
  get source(): string {
    return this.decoded().source;
  }
  get type(): string {
    return this.decoded().type;
  }
  get dataContentType(): string {
    return this.decoded().dataContentType;
  }
  get extensions(): Readonly<Record<string, string>> {
    return this.decoded().extensions;
  }

  private decoded(): LazyEvent {
    const b = this.bytes;
    return (this.event ??= new LazyEvent(Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength), 0, b.length));
  }
}
