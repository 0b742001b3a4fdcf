import fc from 'fast-check';
import { type ModelCommand, PEERS } from './commands';
import {
  BAD_ID,
  BAD_PATTERNS,
  EndStream,
  Fill,
  Malformed,
  type NameKind,
  NewStream,
  type Outcome,
  PATTERNS,
  Reader,
  type ReceiveKind,
  type ResumeArg,
  SendOpen,
  Subscribe,
  UNKNOWN,
  Unsubscribe,
} from './consumer-commands';
import { Advance, Evict, Overflow, PeerActivity, Publish, ReleaseClassifications, Settle, Shutdown, TOPICS } from './provider-commands';

const settleArb = fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) });
const k = fc.nat({ max: 39 });
const nameArb = fc.oneof({ weight: 8, arbitrary: fc.constant<NameKind>('ok') }, { weight: 1, arbitrary: fc.constantFrom<NameKind>('empty', 'control', 'long') });
const receiveArb = fc.oneof({ weight: 6, arbitrary: fc.constant<ReceiveKind>('default') }, { weight: 2, arbitrary: fc.constant<ReceiveKind>('min') }, { weight: 1, arbitrary: fc.constant<ReceiveKind>('small') });
const specArb = fc.record({
  id: fc.oneof({ weight: 8, arbitrary: fc.nat({ max: 5 }) }, { weight: 1, arbitrary: fc.integer({ min: BAD_ID, max: BAD_ID + 2 }) }),
  pattern: fc.oneof({ weight: 8, arbitrary: fc.nat({ max: PATTERNS.length - 1 }) }, { weight: 1, arbitrary: fc.integer({ min: PATTERNS.length, max: PATTERNS.length + BAD_PATTERNS.length - 1 }) }),
  attributes: fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 3, arbitrary: fc.integer({ min: 1, max: 3 }) }, { weight: 1, arbitrary: fc.integer({ min: 4, max: 5 }) }),
});
const resumeArb = fc.record({
  epoch: fc.oneof({ weight: 6, arbitrary: fc.constant<'same'>('same') }, { weight: 1, arbitrary: fc.constantFrom<'other' | 'empty' | 'long'>('other', 'empty', 'long') }),
  position: fc.constantFrom<ResumeArg['position']>('zero', 'head', 'behind', 'mid', 'ahead', 'huge', 'empty'),
  k: fc.nat({ max: 3 }),
});
const eventArb = fc.record({ topic: fc.nat({ max: TOPICS.length - 1 }), type: fc.nat({ max: 1 }) });
const outcomeArb = fc.constantFrom<Outcome>('client-closed', 'crashed', 'keepalive-timeout', 'connection-lost', 'reject');
const msArb = fc.oneof(fc.constantFrom(1, 10, 20, 21, 50, 100, 101, 200, 201, 300, 301, 1_000, 1_001, 2_500), fc.integer({ min: 1, max: 3_000 }));

type Weighted = [number, fc.Arbitrary<ModelCommand>];

/**
 * Every command, weighted toward opening, subscribing and publishing on open sinks (so most runs have
 * traffic to check), with the ways a sink ends rarer and shutdown rarest (it ends everything).
 */
export function commandArbitraries(): Array<fc.Arbitrary<ModelCommand>> {
  const weighted: Weighted[] = [
    [12, fc.tuple(fc.nat({ max: PEERS.length - 1 }), fc.record({ name: nameArb, receive: receiveArb }), settleArb).map(([p, o, s]) => new NewStream(p, o, s))],
    [1, fc.tuple(fc.nat({ max: PEERS.length - 1 }), settleArb).map(([p, s]) => new NewStream(p, null, s))],
    [2, fc.tuple(k, nameArb, receiveArb, settleArb).map(([kk, n, r, s]) => new SendOpen(kk, n, r, s))],
    [
      18,
      fc
        .tuple(k, fc.array(specArb, { minLength: 1, maxLength: 4 }), fc.option(resumeArb, { freq: 2 }), fc.nat({ max: 99 }), settleArb)
        .map(([kk, specs, resume, id, s]) => new Subscribe(kk, specs, resume, false, id, s)),
    ],
    [1, fc.tuple(k, fc.option(resumeArb), fc.nat({ max: 99 }), settleArb).map(([kk, resume, id, s]) => new Subscribe(kk, [], resume, true, id, s))],
    [
      5,
      fc
        .tuple(k, fc.nat({ max: 30 }), fc.integer({ min: 1, max: 30 }), fc.nat({ max: PATTERNS.length - 1 }), fc.option(resumeArb, { freq: 3 }), settleArb)
        .map(([kk, from, n, pattern, resume, s]) => new Fill(kk, from, n, pattern, resume, s)),
    ],
    [
      5,
      fc
        .tuple(k, fc.array(fc.oneof({ weight: 5, arbitrary: fc.nat({ max: 5 }) }, { weight: 1, arbitrary: fc.constant(UNKNOWN) }), { minLength: 1, maxLength: 4 }), fc.nat({ max: 99 }), settleArb)
        .map(([kk, ids, id, s]) => new Unsubscribe(kk, ids, false, id, s)),
    ],
    [1, fc.tuple(k, fc.nat({ max: 99 }), settleArb).map(([kk, id, s]) => new Unsubscribe(kk, [], true, id, s))],
    [2, fc.tuple(k, fc.constantFrom<'empty' | 'undecodable'>('empty', 'undecodable'), settleArb).map(([kk, what, s]) => new Malformed(kk, what, s))],
    [24, fc.tuple(fc.array(eventArb, { minLength: 1, maxLength: 5 }), settleArb).map(([events, s]) => new Publish(events, false, s))],
    [1, fc.tuple(fc.array(eventArb, { minLength: 1, maxLength: 3 }), settleArb).map(([events, s]) => new Publish(events, true, s))],
    [8, fc.tuple(k, fc.boolean(), fc.nat({ max: 2 }), settleArb).map(([kk, stall, hw, s]) => new Reader(kk, stall, hw, s))],
    [3, fc.tuple(k, fc.integer({ min: 1, max: 3 }), settleArb).map(([kk, rounds, s]) => new Overflow(kk, rounds, s))],
    [
      3,
      fc
        .tuple(k, fc.oneof({ weight: 4, arbitrary: fc.constant<Outcome>('client-closed') }, { weight: 1, arbitrary: outcomeArb }), fc.boolean(), settleArb)
        .map(([kk, o, hold, s]) => new EndStream(kk, 'half-close', o, hold, s)),
    ],
    [3, fc.tuple(k, outcomeArb, fc.boolean(), settleArb).map(([kk, o, hold, s]) => new EndStream(kk, 'cancel', o, hold, s))],
    [2, settleArb.map((s) => new ReleaseClassifications(s))],
    [2, fc.tuple(k, settleArb).map(([kk, s]) => new Evict(kk, s))],
    [1, fc.tuple(fc.oneof({ weight: 1, arbitrary: fc.constant(true) }, { weight: 2, arbitrary: fc.constant(false) }), settleArb).map(([stop, s]) => new Shutdown(stop, s))],
    [2, fc.nat({ max: PEERS.length - 1 }).map((p) => new PeerActivity(p))],
    [6, fc.tuple(msArb, fc.constantFrom<'step' | 'jump'>('step', 'jump'), settleArb).map(([ms, mode, s]) => new Advance(ms, mode, s))],
    [4, fc.constant(null).map(() => new Settle())],
  ];
  return [fc.oneof(...weighted.map(([weight, arbitrary]) => ({ weight, arbitrary })))];
}
