/**
 * Protobuf varints read in place, for the lazy decoders. The position after the last read is kept here
 * rather than returned in a pair, so reading a field allocates nothing.
 */
let end = 0;

/** The position just after the varint `readVarint` read last. */
export function varintEnd(): number {
  return end;
}

/** A varint at `pos` as a number: exact below 2^53, which sequences and lengths never reach. */
export function readVarint(buf: Uint8Array, pos: number): number {
  let result = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= buf.length) throw new RangeError('truncated varint');
    const b = buf[pos++];
    result += (b & 0x7f) * scale;
    if ((b & 0x80) === 0) {
      end = pos;
      return result;
    }
    scale *= 128;
  }
  throw new RangeError('varint longer than 10 bytes');
}

/** Skips one field's value of wire type `wire` at `pos`; returns the position after it. */
export function skipField(buf: Uint8Array, pos: number, wire: number, limit: number): number {
  let next: number;
  if (wire === 0) {
    readVarint(buf, pos);
    next = end;
  } else if (wire === 1) next = pos + 8;
  else if (wire === 2) {
    const len = readVarint(buf, pos);
    next = end + len;
  } else if (wire === 5) next = pos + 4;
  else throw new RangeError(`unsupported wire type ${wire}`);
  if (next > limit) throw new RangeError('field runs past its message');
  return next;
}
