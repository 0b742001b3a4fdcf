import fc from 'fast-check';
import { Event } from '../../shared/gen/tether/v1/event';
import { OpenSinkResponse } from '../../shared/gen/tether/v1/sink';
import { LazyEvent } from '../../shared/wire/lazy-event';
import { decodeSinkResponse } from '../../shared/wire/sink-response-decoder';
import { arbitraryEvent, text } from './arbitraries';

// The consumer's lazy decoder must read exactly what the generated OpenSinkResponse.decode reads.
const delivery = fc.record({ event: fc.option(arbitraryEvent, { nil: undefined }), subscriptionIds: fc.array(text, { maxLength: 4 }) });

const plain = (e: Event | undefined) => e && { ...(e instanceof LazyEvent ? e.toJSON() : e), data: Buffer.from(e.data) };

describe('decodeSinkResponse', () => {
  it('reads every event batch as the generated decoder does, field by field', () => {
    fc.assert(
      fc.property(fc.array(delivery, { maxLength: 6 }), (deliveries) => {
        const bytes = Buffer.from(OpenSinkResponse.encode({ kind: { $case: 'events', value: { deliveries } } }).finish());
        const expected = OpenSinkResponse.decode(bytes);
        const actual = decodeSinkResponse(bytes);
        if (expected.kind?.$case !== 'events' || actual.kind?.$case !== 'events') throw new Error('not an event batch');
        expect(actual.kind.value.deliveries.length).toBe(expected.kind.value.deliveries.length);
        actual.kind.value.deliveries.forEach((d, i) => {
          const want = expected.kind?.$case === 'events' ? expected.kind.value.deliveries[i] : undefined;
          expect(d.subscriptionIds).toEqual(want?.subscriptionIds);
          expect(plain(d.event)).toEqual(plain(want?.event));
          if (d.event) expect((d.event as LazyEvent).sequenceNumber).toBe(Number(want?.event?.sequence));
        });
      }),
      { numRuns: 300 },
    );
  });

  it('hands every other message kind to the generated decoder', () => {
    const messages: OpenSinkResponse[] = [
      { kind: { $case: 'opened', value: { sinkId: 's', epoch: 'e', headSequence: '7', limits: undefined } } },
      { kind: { $case: 'heartbeat', value: { headSequence: '12' } } },
      { kind: { $case: 'closing', value: { reason: 'shutdown', message: 'bye', reconnect: true } } },
      { kind: undefined },
    ];
    for (const m of messages) {
      const bytes = Buffer.from(OpenSinkResponse.encode(m).finish());
      expect(decodeSinkResponse(bytes)).toEqual(OpenSinkResponse.decode(bytes));
    }
  });

  it('refuses an event cut short inside consistent outer frames when the message arrives, not when a field is read', () => {
    const eventBytes = Buffer.from(Event.encode(Event.fromPartial({ id: 'e-1', topic: 'a.b', data: Buffer.alloc(40, 1), sequence: '9' })).finish());
    // A length-delimited field: tag, varint length (all short here), bytes.
    const field = (tag: number, bytes: Buffer) => Buffer.concat([Buffer.from([tag, bytes.length]), bytes]);
    let refused = 0;
    for (let cut = 1; cut < eventBytes.length; cut++) {
      const batch = field(34, field(10, field(10, eventBytes.subarray(0, cut))));
      let generated = true;
      try {
        OpenSinkResponse.decode(batch);
      } catch {
        generated = false;
      }
      if (generated) continue; // the cut fell between two fields: a shorter but valid event
      expect(() => decodeSinkResponse(batch)).toThrow(RangeError);
      refused++;
    }
    expect(refused).toBeGreaterThan(5);
  });
});
