/**
 * Checks for the strings a client names things with (consumer names, subscription ids, sink ids): they
 * are shown to operators and echoed in replies, so they must be printable UTF-8 of bounded size, and an
 * echo of a bad one is always truncated.
 */

// C0 and C1 control characters, DEL, and U+FFFD, which the protobuf decoder puts where bytes were not
// valid UTF-8 (lone surrogates cannot survive that decoder either, but are checked for direct callers).
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\ufffd\u2028\u2029]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/u;

/** Why `value` is not an acceptable name, or undefined when it is. */
export function nameProblem(what: string, value: string, maxBytes: number): string | undefined {
  if (value.length === 0) return `${what} is empty`;
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > maxBytes) return `${what} is ${bytes} bytes; the limit is ${maxBytes}`;
  if (UNPRINTABLE.test(value)) return `${what} must be printable UTF-8 (no control characters or invalid bytes)`;
  return undefined;
}

/** A bounded, printable rendering of a client-supplied string for an error message or log line. */
export function echo(value: string, maxChars = 64): string {
  const cut = value.length > maxChars ? `${value.slice(0, maxChars)}…` : value;
  return JSON.stringify(cut);
}

/** Truncates to at most `maxBytes` UTF-8 bytes without splitting a character. */
export function truncateBytes(value: string, maxBytes: number): string {
  if (Buffer.byteLength(value, 'utf8') <= maxBytes) return value;
  let out = '';
  let used = 0;
  for (const ch of value) {
    const n = Buffer.byteLength(ch, 'utf8');
    if (used + n > maxBytes) break;
    out += ch;
    used += n;
  }
  return out;
}
