import type { ServiceDefinition } from '@grpc/grpc-js';
import type { Event } from '../../../shared/gen/tether/v1/event';
import { PublishRequest, PublishResponse, PublishStreamRequest, PublishStreamResponse, PublisherServiceService } from '../../../shared/gen/tether/v1/publisher';
import { varintLength, writeVarint } from '../sinks/wire-size';
import { LazyEvent } from '../../../shared/wire/lazy-event';
import { readVarint, skipField, varintEnd } from '../../../shared/wire/varint';

/**
 * Publish requests decoded once and lazily: each event stays the bytes it arrived as (a `LazyEvent`),
 * its strings decoded only when read (the topic, always; source or type only for a subscription that
 * filters on them), and the router splices those bytes into the stored event instead of re-encoding
 * it. Malformed bytes throw here, which the server answers INVALID_ARGUMENT (transport/undecodable.ts).
 */
function decodeEvents(buf: Buffer, eventsField: number, onOther: (tag: number, pos: number) => number): Event[] {
  const events: Event[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const tag = readVarint(buf, pos);
    pos = varintEnd();
    if (tag === ((eventsField << 3) | 2)) {
      const len = readVarint(buf, pos);
      pos = varintEnd();
      if (pos + len > buf.length) throw new RangeError('event runs past its request');
      events.push(new LazyEvent(buf, pos, pos + len));
      pos += len;
    } else pos = onOther(tag, pos);
  }
  return events;
}

function stringField(buf: Buffer, pos: number): [string, number] {
  const len = readVarint(buf, pos);
  const start = varintEnd();
  if (start + len > buf.length) throw new RangeError('string runs past its request');
  return [buf.toString('utf8', start, start + len), start + len];
}

export function decodePublishRequest(buf: Buffer): PublishRequest {
  let idempotencyKey = '';
  const events = decodeEvents(buf, 1, (tag, pos) => {
    if (tag !== ((2 << 3) | 2)) return skipField(buf, pos, tag & 7, buf.length);
    const [key, next] = stringField(buf, pos);
    idempotencyKey = key;
    return next;
  });
  return { events, idempotencyKey };
}

export function decodePublishStreamRequest(buf: Buffer): PublishStreamRequest {
  let idempotencyKey = '';
  let batchId = 0;
  let exact = true;
  const events = decodeEvents(buf, 2, (tag, pos) => {
    if (tag === 1 << 3) {
      batchId = readVarint(buf, pos);
      exact &&= Number.isSafeInteger(batchId);
      return varintEnd();
    }
    if (tag !== ((3 << 3) | 2)) return skipField(buf, pos, tag & 7, buf.length);
    const [key, next] = stringField(buf, pos);
    idempotencyKey = key;
    return next;
  });
  // A batch id past 2^53 is echoed exactly by the generated decoder (it keeps uint64 as a string).
  if (!exact) return PublishStreamRequest.decode(buf);
  return { batchId: String(batchId), events, idempotencyKey };
}

/**
 * An answer's positions, written straight from numbers: the generated writer parses each uint64 string
 * (one per event) through a 64-bit helper, which the profile showed per event. The other fields go
 * through the generated encoder; the packed positions follow them (protobuf takes fields in any order).
 */
function withPositions<T extends { sequences: string[] }>(field: number, encode: (m: T) => Uint8Array): (m: T) => Buffer {
  return (message) => {
    const rest = encode({ ...message, sequences: [] });
    let body = 0;
    for (const s of message.sequences) {
      const n = Number(s);
      if (!Number.isSafeInteger(n) || n < 0) return Buffer.from(encode(message));
      body += varintLength(n);
    }
    if (body === 0) return Buffer.from(rest);
    const buf = Buffer.allocUnsafe(rest.length + 1 + varintLength(body) + body);
    buf.set(rest, 0);
    let pos = rest.length;
    buf[pos++] = (field << 3) | 2; // packed
    pos = writeVarint(buf, pos, body);
    for (const s of message.sequences) pos = writeVarint(buf, pos, Number(s));
    return buf;
  };
}

export const encodePublishResponse = withPositions<PublishResponse>(1, (m) => PublishResponse.encode(m).finish());
export const encodePublishStreamResponse = withPositions<PublishStreamResponse>(2, (m) => PublishStreamResponse.encode(m).finish());

/** The generated PublisherService definition with the lazy request decoders and the answers' position writer. */
export const publisherServiceDefinition: ServiceDefinition = {
  ...PublisherServiceService,
  publish: { ...PublisherServiceService.publish, requestDeserialize: decodePublishRequest, responseSerialize: encodePublishResponse },
  publishStream: { ...PublisherServiceService.publishStream, requestDeserialize: decodePublishStreamRequest, responseSerialize: encodePublishStreamResponse },
};
