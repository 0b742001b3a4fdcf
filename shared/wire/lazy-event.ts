import { Event } from '../gen/tether/v1/event';
import { readVarint, skipField, varintEnd } from './varint';

/**
 * An event as it arrived, decoded only as far as it is read. Construction walks the fields once, so a
 * malformed event fails the message (grpc-js ends the call) rather than the code reading it later, and
 * records where each lies: no copies, no strings. A string is decoded when it is first read; `data` is a
 * view of the received bytes, never a copy. A consumer that reads the sequence and the payload never
 * decodes the six strings around them, which were most of a consumer's CPU per event.
 *
 * Keeping an event keeps the whole received message alive (its bytes are shared): copy `data` to keep
 * an event for long. `toJSON` gives the plain fields, since getters are not own properties.
 */
export class LazyEvent implements Event {
  /** The sequence as a number (positions stay below 2^53), without the string the generated type has. */
  readonly sequenceNumber: number = 0;
  // Where fields 1–6 (id, source, type, topic, time, data_content_type) and 8 (data) lie; plain fields,
  // not a typed array, which costs more to allocate than the whole walk.
  private s1 = 0;
  private e1 = 0;
  private s2 = 0;
  private e2 = 0;
  private s3 = 0;
  private e3 = 0;
  private s4 = 0;
  private e4 = 0;
  private s5 = 0;
  private e5 = 0;
  private s6 = 0;
  private e6 = 0;
  private s8 = 0;
  private e8 = 0;
  private hasExtensions = false;
  // Strings once read: fields rather than a map, which would cost an allocation per event.
  private c1: string | undefined;
  private c2: string | undefined;
  private c3: string | undefined;
  private c4: string | undefined;
  private c5: string | undefined;
  private c6: string | undefined;

  constructor(
    private readonly buf: Buffer,
    private readonly start: number,
    private readonly end: number,
  ) {
    let pos = start;
    while (pos < end) {
      const tag = readVarint(buf, pos);
      pos = varintEnd();
      const field = tag >>> 3;
      const wire = tag & 7;
      if (wire === 2 && field >= 1 && field <= 8) {
        const len = readVarint(buf, pos);
        pos = varintEnd();
        if (pos + len > end) throw new RangeError('event field runs past its message');
        // A repeated scalar field keeps its last value, as protobuf says.
        this.place(field, pos, pos + len);
        pos += len;
      } else if (field === 9 && wire === 0) {
        this.sequenceNumber = readVarint(buf, pos);
        pos = varintEnd();
      } else {
        pos = skipField(buf, pos, wire, end);
      }
    }
  }

  get id(): string {
    return (this.c1 ??= this.text(this.s1, this.e1));
  }
  get source(): string {
    return (this.c2 ??= this.text(this.s2, this.e2));
  }
  get type(): string {
    return (this.c3 ??= this.text(this.s3, this.e3));
  }
  get topic(): string {
    return (this.c4 ??= this.text(this.s4, this.e4));
  }
  get time(): string {
    return (this.c5 ??= this.text(this.s5, this.e5));
  }
  get dataContentType(): string {
    return (this.c6 ??= this.text(this.s6, this.e6));
  }
  get extensions(): { [key: string]: string } {
    // Rare (attribute filters), so the generated decoder handles the map entries.
    return this.hasExtensions ? Event.decode(this.buf.subarray(this.start, this.end)).extensions : {};
  }
  get data(): Buffer {
    return this.buf.subarray(this.s8, this.e8);
  }
  get sequence(): string {
    return String(this.sequenceNumber);
  }
  /** The event's bytes as received (a view, no copy). */
  get encoded(): Buffer {
    return this.buf.subarray(this.start, this.end);
  }

  toJSON(): Event {
    return { id: this.id, source: this.source, type: this.type, topic: this.topic, time: this.time, dataContentType: this.dataContentType, extensions: this.extensions, data: this.data, sequence: this.sequence };
  }

  private place(field: number, s: number, e: number): void {
    switch (field) {
      case 1: this.s1 = s; this.e1 = e; break;
      case 2: this.s2 = s; this.e2 = e; break;
      case 3: this.s3 = s; this.e3 = e; break;
      case 4: this.s4 = s; this.e4 = e; break;
      case 5: this.s5 = s; this.e5 = e; break;
      case 6: this.s6 = s; this.e6 = e; break;
      case 7: this.hasExtensions = true; break;
      default: this.s8 = s; this.e8 = e;
    }
  }

  private text(s: number, e: number): string {
    return s === e ? '' : this.buf.toString('utf8', s, e);
  }
}
