import fc from 'fast-check';
import { Event } from '../../shared/gen/tether/v1/event';
import { encodeEvent, spliceEvent } from '../../services/provider/events/event-encoder';

// The provider's own encoder must write exactly the bytes the generated Event.encode writes.
const text = fc.oneof(fc.constant(''), fc.string({ maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 20 }), fc.string({ unit: 'binary', maxLength: 20 }));

describe('encodeEvent', () => {
  it('writes the bytes of Event.encode for any event', () => {
    fc.assert(
      fc.property(
        fc.record({ id: text, source: text, type: text, topic: text, time: text, dataContentType: text }),
        fc.dictionary(text, text, { maxKeys: 4 }),
        fc.uint8Array({ maxLength: 300 }),
        fc.oneof(fc.constant(0), fc.nat(), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })),
        (fields, extensions, data, sequence) => {
          const input: Event = { ...fields, extensions, data: Buffer.from(data), sequence: '0' };
          const expected = Event.encode({ ...input, sequence: String(sequence) }).finish();
          expect(Buffer.from(encodeEvent(input, fields.id, fields.time, sequence))).toEqual(Buffer.from(expected));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('splices the assigned fields after the received bytes into an event that decodes as encodeEvent does', () => {
    fc.assert(
      fc.property(
        fc.record({ id: text, source: text, type: text, topic: text, time: text, dataContentType: text }),
        fc.dictionary(text, text, { maxKeys: 4 }),
        fc.uint8Array({ maxLength: 300 }),
        text,
        text,
        fc.oneof(fc.constant(0), fc.nat(), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })),
        (fields, extensions, data, assignedId, assignedTime, sequence) => {
          const input: Event = { ...fields, extensions, data: Buffer.from(data), sequence: '0' };
          const received = Event.encode(input).finish();
          // The router adds an id and a time only where the event has none.
          const id = fields.id || assignedId;
          const time = fields.time || assignedTime;
          const spliced = spliceEvent(received, fields.id ? '' : id, fields.time ? '' : time, sequence);
          expect(Event.decode(spliced)).toEqual(Event.decode(encodeEvent(input, id, time, sequence)));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('round-trips a large payload', () => {
    const input = Event.fromPartial({ topic: 'a.b', data: Buffer.alloc(70_000, 7), extensions: { k: 'v' } });
    expect(Event.decode(encodeEvent(input, 'x-1', 't', 2 ** 40))).toMatchObject({ id: 'x-1', time: 't', sequence: String(2 ** 40), topic: 'a.b' });
  });
});
