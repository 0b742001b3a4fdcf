import type { Delivery, OpenSinkResponse } from '../gen/tether/v1/sink';
import { OpenSinkResponse as OpenSinkResponseCodec } from '../gen/tether/v1/sink';
import { LazyEvent } from './lazy-event';
import { readVarint, skipField, varintEnd } from './varint';

/** OpenSinkResponse.events (field 4, length-delimited): the one message kind decoded lazily. */
const EVENTS_TAG = (4 << 3) | 2;
/** EventBatch.deliveries, Delivery.event, Delivery.subscription_ids: field 1, 1 and 2, all length-delimited. */
const DELIVERIES_TAG = (1 << 3) | 2;
const EVENT_TAG = (1 << 3) | 2;
const SUBSCRIPTION_ID_TAG = (2 << 3) | 2;

/**
 * The sink stream's response deserializer for clients: an event batch becomes deliveries whose events are
 * `LazyEvent`s over the received bytes; every other message goes through the generated decoder. A
 * drop-in for `OpenSinkResponse.decode` (same shape), so client code reads deliveries as before.
 */
export function decodeSinkResponse(buf: Buffer): OpenSinkResponse {
  if (buf.length === 0 || buf[0] !== EVENTS_TAG) return OpenSinkResponseCodec.decode(buf);
  const len = readVarint(buf, 1);
  const start = varintEnd();
  // Anything after the batch (a second oneof member, unknown fields) is rare enough for the full decoder.
  if (start + len !== buf.length) return OpenSinkResponseCodec.decode(buf);
  return { kind: { $case: 'events', value: { deliveries: decodeDeliveries(buf, start, buf.length) } } };
}

function decodeDeliveries(buf: Buffer, start: number, end: number): Delivery[] {
  const deliveries: Delivery[] = [];
  let pos = start;
  while (pos < end) {
    const tag = readVarint(buf, pos);
    pos = varintEnd();
    if (tag !== DELIVERIES_TAG) {
      pos = skipField(buf, pos, tag & 7, end);
      continue;
    }
    const len = readVarint(buf, pos);
    pos = varintEnd();
    if (pos + len > end) throw new RangeError('delivery runs past its batch');
    deliveries.push(decodeDelivery(buf, pos, pos + len));
    pos += len;
  }
  return deliveries;
}

function decodeDelivery(buf: Buffer, start: number, end: number): Delivery {
  let event: LazyEvent | undefined;
  const subscriptionIds: string[] = [];
  let pos = start;
  while (pos < end) {
    const tag = readVarint(buf, pos);
    pos = varintEnd();
    if (tag !== EVENT_TAG && tag !== SUBSCRIPTION_ID_TAG) {
      pos = skipField(buf, pos, tag & 7, end);
      continue;
    }
    const len = readVarint(buf, pos);
    pos = varintEnd();
    if (pos + len > end) throw new RangeError('delivery field runs past its delivery');
    if (tag === EVENT_TAG) event = new LazyEvent(buf, pos, pos + len);
    else subscriptionIds.push(buf.toString('utf8', pos, pos + len));
    pos += len;
  }
  return { event, subscriptionIds };
}
