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
  return framedSize(Buffer.byteLength(value, 'utf8'));
}

/** A Delivery's body: the event's bytes and every subscription id. */
export function deliveryBodySize(eventBytes: number, ids: readonly string[]): number {
  let size = framedSize(eventBytes);
  for (const id of ids) size += stringFieldSize(id);
  return size;
}
