/** Sizes of protobuf wire encodings, so byte limits count what is really sent. */

export function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

/** A length-delimited field with a one-byte tag: tag, length, body. */
export function framedSize(bodyBytes: number): number {
  return 1 + varintLength(bodyBytes) + bodyBytes;
}

/** A repeated string field entry (one-byte tag). */
export function stringFieldSize(value: string): number {
  return framedSize(utf8Length(value));
}

/** UTF-8 length; ids are nearly always ASCII, counted without a call into the native encoder. */
export function utf8Length(value: string): number {
  for (let i = 0; i < value.length; i++) if (value.charCodeAt(i) >= 0x80) return Buffer.byteLength(value, 'utf8');
  return value.length;
}

/** A Delivery's body: the event's bytes and every subscription id. */
export function deliveryBodySize(eventBytes: number, ids: readonly string[]): number {
  let size = framedSize(eventBytes);
  for (const id of ids) size += stringFieldSize(id);
  return size;
}

/** Writes a non-negative integer up to 2^53 as a protobuf varint at `pos`; returns the position after it. */
export function writeVarint(buf: Uint8Array, pos: number, n: number): number {
  while (n >= 0x80) {
    buf[pos++] = (n % 0x80) | 0x80;
    n = Math.floor(n / 0x80);
  }
  buf[pos++] = n;
  return pos;
}
