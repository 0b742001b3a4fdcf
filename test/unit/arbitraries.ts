import fc from 'fast-check';
import type { Event } from '../../shared/gen/tether/v1/event';

/** Strings as publishers send them: empty, ASCII-ish, and whole graphemes (multi-byte UTF-8). */
export const text = fc.oneof(fc.constant(''), fc.string({ maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 20 }));

/** Any event: every field, a few extensions, a payload, and a sequence up to 2^53. */
export const arbitraryEvent: fc.Arbitrary<Event> = fc.record({
  id: text,
  source: text,
  type: text,
  topic: text,
  time: text,
  dataContentType: text,
  extensions: fc.dictionary(text, text, { maxKeys: 3 }),
  data: fc.uint8Array({ maxLength: 300 }).map((d) => Buffer.from(d)),
  sequence: fc.oneof(fc.constant(0), fc.nat(), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })).map(String),
});
