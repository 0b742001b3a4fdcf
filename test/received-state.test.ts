import { ReceivedState } from '../services/consumer/received-state';

// The consumer's position and counts: dedupe by sequence, explicit gaps, and no growth from foreign ids.
describe('ReceivedState', () => {
  test('drops replayed sequences, counts only its own subscription ids, and moves to a reported gap', () => {
    const state = new ReceivedState(new Set(['a', 'b']));
    state.opened('epoch-1', 10);
    expect(state.resumePoint()).toEqual({ epoch: 'epoch-1', afterSequence: '10' });
    expect(state.accept(10)).toBe(false); // at the head when opened: already seen
    expect(state.accept(11)).toBe(true);
    state.handledEvent(11, ['a', 'b', 'not-mine', 'also-not-mine']);
    expect(state.perSubscription).toEqual(new Map([['a', 1], ['b', 1]]));
    expect(state.accept(11)).toBe(false);
    expect(state.duplicates).toBe(2);

    state.gap({ requestedEpoch: 'epoch-1', requestedAfterSequence: 11, epoch: 'epoch-2', firstAvailableSequence: 5, reason: 'restart' });
    expect(state.resumePoint()).toEqual({ epoch: 'epoch-2', afterSequence: '4' });
    expect(state.gapsReported).toBe(1);
    expect(state.accept(5)).toBe(true);
  });

  test('a restored position wins over the head announced at open', () => {
    const state = new ReceivedState(new Set(['a']));
    state.restore('epoch-1', 42);
    state.opened('epoch-1', 100);
    expect(state.resumePoint()).toEqual({ epoch: 'epoch-1', afterSequence: '42' });
  });
});
