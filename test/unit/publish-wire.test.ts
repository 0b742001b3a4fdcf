import fc from 'fast-check';
import { PublishRequest, PublishResponse, PublishStreamRequest, PublishStreamResponse } from '../../shared/gen/tether/v1/publisher';
import { decodePublishRequest, decodePublishStreamRequest, encodePublishResponse, encodePublishStreamResponse } from '../../services/provider/events/publish-wire';
import { LazyEvent } from '../../shared/wire/lazy-event';
import { arbitraryEvent, text } from './arbitraries';

// The provider's lazy publish decoders must read what the generated decoders read.
const plain = (e: object) => (e instanceof LazyEvent ? e.toJSON() : e);

describe('publish request decoders', () => {
  it('PublishRequest and PublishStreamRequest read as the generated decoders read them', () => {
    fc.assert(
      fc.property(fc.array(arbitraryEvent, { maxLength: 5 }), text, fc.oneof(fc.nat().map(String), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map(String)), (events, idempotencyKey, batchId) => {
        const unary = Buffer.from(PublishRequest.encode({ events, idempotencyKey }).finish());
        const a = decodePublishRequest(unary);
        expect({ ...a, events: a.events.map(plain) }).toEqual(PublishRequest.decode(unary));
        const stream = Buffer.from(PublishStreamRequest.encode({ batchId, events, idempotencyKey }).finish());
        const b = decodePublishStreamRequest(stream);
        expect({ ...b, events: b.events.map(plain) }).toEqual(PublishStreamRequest.decode(stream));
      }),
      { numRuns: 300 },
    );
  });

  it('answers decode to what the generated encoders write, positions included', () => {
    const uint64 = fc.oneof(fc.nat().map(String), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }).map(String), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map(String));
    fc.assert(
      fc.property(fc.array(uint64, { maxLength: 40 }), uint64, text, fc.integer({ min: 0, max: 16 }), text, fc.nat(), (sequences, batchId, epoch, code, message, retryAfterMs) => {
        const stream: PublishStreamResponse = { batchId, sequences, epoch, code, message, retryAfterMs };
        expect(PublishStreamResponse.decode(encodePublishStreamResponse(stream))).toEqual(stream);
        const unary: PublishResponse = { sequences, epoch };
        expect(PublishResponse.decode(encodePublishResponse(unary))).toEqual(unary);
      }),
      { numRuns: 300 },
    );
  });

  it('throws on an event cut short, so the server answers INVALID_ARGUMENT', () => {
    const bytes = Buffer.from(PublishRequest.encode({ events: [{ id: 'x', source: 's', type: 't', topic: 'a.b', time: '', dataContentType: '', extensions: {}, data: Buffer.alloc(20), sequence: '0' }], idempotencyKey: '' }).finish());
    // Drop the last byte of the event but keep the outer length consistent: the event's data runs past it.
    const cut = Buffer.concat([Buffer.from([bytes[0], bytes[1] - 1]), bytes.subarray(2, bytes.length - 1)]);
    expect(() => decodePublishRequest(cut)).toThrow(RangeError);
  });
});
