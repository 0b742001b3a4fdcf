import { headers as natsHeaders, type MsgHdrs } from '@nats-io/nats-core';
import { Event } from '../../../shared/gen/tether/v1/event';
import { type RetainedEvent, retainedFromBytes } from '../events/event-history';
import { varintLength } from '../sinks/wire-size';

/**
 * One JetStream message per published batch. Headers: `Tether-First`, the position of its first event,
 * and `Tether-Count`; the body: each event's encoded bytes (sequence already in place), each preceded by
 * its length as a varint. Position of event i = first + i, so positions stay dense across messages: a
 * batch is appended only if the stream's last message is the one its first position was computed from.
 */
export const FIRST_HEADER = 'Tether-First';
export const COUNT_HEADER = 'Tether-Count';

export interface BatchPosition {
  readonly first: number;
  readonly count: number;
}

export function batchHeaders(first: number, count: number, msgId = ''): MsgHdrs {
  const h = natsHeaders();
  h.set(FIRST_HEADER, String(first));
  h.set(COUNT_HEADER, String(count));
  if (msgId) h.set('Nats-Msg-Id', msgId);
  return h;
}

/** The batch's positions from its headers, or undefined for a message Tether did not write. */
export function readPosition(h: MsgHdrs | undefined): BatchPosition | undefined {
  const first = Number(h?.get(FIRST_HEADER));
  const count = Number(h?.get(COUNT_HEADER));
  if (!Number.isSafeInteger(first) || first < 1 || !Number.isSafeInteger(count) || count < 1) return undefined;
  return { first, count };
}

export function encodeBody(events: readonly RetainedEvent[]): Uint8Array {
  let size = 0;
  for (const e of events) size += varintLength(e.bytes.length) + e.bytes.length;
  const out = Buffer.allocUnsafe(size);
  let o = 0;
  for (const e of events) {
    let n = e.bytes.length;
    while (n >= 0x80) {
      out[o++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    out[o++] = n;
    out.set(e.bytes, o);
    o += e.bytes.length;
  }
  return out;
}

/** Calls `visit` with each length-prefixed event of a body, as a view into it (no copy). */
export function forEachEvent(body: Uint8Array, visit: (bytes: Uint8Array) => void): void {
  let o = 0;
  while (o < body.length) {
    let n = 0;
    let shift = 0;
    for (;;) {
      const b = body[o++];
      n += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) break;
      shift += 7;
    }
    visit(body.subarray(o, o + n));
    o += n;
  }
}

/** Each event of a body, decoded for matching; its bytes are a view into the body (no copy). */
export function decodeBody(body: Uint8Array, storedAt: number): RetainedEvent[] {
  const out: RetainedEvent[] = [];
  forEachEvent(body, (bytes) => out.push(retainedFromBytes(bytes, storedAt)));
  return out;
}
