import fc from 'fast-check';
import { Event } from '../../shared/gen/tether/v1/event';
import { EventHistory, type RetainedEvent } from '../../services/provider/events/event-history';

// The slab history must keep exactly what a plain array bounded by count, bytes and age keeps.
interface Kept {
  readonly sequence: number;
  readonly bytes: Buffer;
  readonly storedAt: number;
}

class Reference {
  kept: Kept[] = [];
  constructor(private readonly limits: { historyMaxEvents: number; historyMaxBytes: number; historyMaxAgeMs: number }) {}
  private total = () => this.kept.reduce((n, e) => n + e.bytes.length, 0);
  append(e: Kept): void {
    const { historyMaxEvents, historyMaxBytes, historyMaxAgeMs } = this.limits;
    if (historyMaxEvents === 0 || historyMaxAgeMs === 0) return;
    const last = this.kept.at(-1);
    if (last && e.sequence !== last.sequence + 1) this.kept = [];
    this.kept.push(e);
    while (this.kept.length > historyMaxEvents || this.total() > historyMaxBytes) this.kept.shift();
    this.evict(e.storedAt);
  }
  evict(now: number): void {
    this.kept = this.kept.filter((e) => e.storedAt >= now - this.limits.historyMaxAgeMs);
  }
  at(from: number, now: number): Kept | undefined {
    this.evict(now);
    return this.kept.find((e) => e.sequence >= from);
  }
}

const event = (sequence: number, size: number, storedAt: number): RetainedEvent => {
  const bytes = Buffer.from(Event.encode(Event.fromPartial({ topic: `t.${sequence % 7}`, id: `e${sequence}`, data: Buffer.alloc(size, sequence & 0xff), sequence: String(sequence) })).finish());
  return { sequence, topic: `t.${sequence % 7}`, tokens: ['t', String(sequence % 7)], bytes, storedAt, id: `e${sequence}`, source: '', type: '', dataContentType: '', extensions: {} };
};

const command = fc.oneof(
  fc.record({ kind: fc.constant('append' as const), size: fc.oneof(fc.nat(64), fc.integer({ min: 100, max: 700 })), jump: fc.boolean().map((b) => b && Math.random() < 0.1), dt: fc.nat(30) }),
  fc.record({ kind: fc.constant('read' as const), back: fc.nat(40), dt: fc.nat(30) }),
  fc.record({ kind: fc.constant('evict' as const), dt: fc.nat(50) }),
);

describe('EventHistory', () => {
  it('keeps and serves what a plain bounded array would, through slabs, wraps and clears', () => {
    fc.assert(
      fc.property(
        fc.record({ historyMaxEvents: fc.integer({ min: 0, max: 30 }), historyMaxBytes: fc.integer({ min: 50, max: 4_000 }), historyMaxAgeMs: fc.integer({ min: 0, max: 200 }) }),
        fc.array(command, { maxLength: 120 }),
        (limits, commands) => {
          let now = 1_000;
          // 512-byte slabs: events of 100-700 bytes cross slab boundaries and need slabs of their own.
          const history = new EventHistory(limits, () => now, 512);
          const reference = new Reference(limits);
          let next = 1;
          for (const c of commands) {
            now += c.dt;
            if (c.kind === 'append') {
              if (c.jump) next += 5;
              const e = event(next++, c.size, now);
              history.append(e);
              reference.append({ sequence: e.sequence, bytes: Buffer.from(e.bytes), storedAt: now });
            } else if (c.kind === 'evict') {
              history.evictExpired(now);
              reference.evict(now);
            } else {
              const from = Math.max(1, next - c.back);
              const got = history.at(from);
              const want = reference.at(from, now);
              expect(got && { sequence: got.sequence, bytes: Buffer.from(got.bytes) }).toEqual(want && { sequence: want.sequence, bytes: want.bytes });
              if (got) expect(got.tokens).toEqual(['t', String(got.sequence % 7)]);
            }
            expect(history.size).toBe(reference.kept.length);
            expect(history.bytes).toBe(reference.kept.reduce((n, e) => n + e.bytes.length, 0));
            expect(history.lastSequence).toBe(reference.kept.at(-1)?.sequence);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('bytes handed to a reader stay intact while later appends wrap the history many times', () => {
    let now = 0;
    const history = new EventHistory({ historyMaxEvents: 10, historyMaxBytes: 1 << 20, historyMaxAgeMs: 1e9 }, () => now, 256 * 1024);
    history.append(event(1, 100_000, now));
    const held = history.at(1);
    const copy = Buffer.from(held?.bytes ?? []);
    for (let s = 2; s < 200; s++) history.append(event(s, 100_000, ++now));
    expect(Buffer.from(held?.bytes ?? [])).toEqual(copy);
  });
});
