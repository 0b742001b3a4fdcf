import { ReceivedState } from '../services/consumer/received-state';

// The consumer's position and counts: dedupe by sequence, explicit gaps, and no growth from foreign ids.
describe('ReceivedState', () => {
  test('drops replayed sequences, counts only its own subscription ids, and moves to a reported gap', () => {
    const state = new ReceivedState(new Set(['a', 'b']));
    state.opened('epoch-1', 10);
    expect(state.resumePoint()).toEqual({ epoch: 'epoch-1', afterSequence: '10' });
    expect(state.accept(10)).toBe('duplicate'); // at the head when opened: already seen
    expect(state.accept(11)).toBe('new');
    state.handledEvent(11, ['a', 'b', 'not-mine', 'also-not-mine']);
    expect(state.perSubscription).toEqual(new Map([['a', 1], ['b', 1]]));
    expect(state.accept(11)).toBe('continuation'); // the same event naming more subscriptions (a split delivery)
    expect(state.accept(9)).toBe('duplicate');
    expect(state.duplicates).toBe(2);
    state.rewind(); // the sink broke: accept again from the handled position
    expect(state.accept(11)).toBe('duplicate');
    expect(state.accept(12)).toBe('new');

    state.gap({ requestedEpoch: 'epoch-1', requestedAfterSequence: 11, epoch: 'epoch-2', firstAvailableSequence: 5, reason: 'restart' });
    expect(state.resumePoint()).toEqual({ epoch: 'epoch-2', afterSequence: '4' });
    expect(state.gapsReported).toBe(1);
    expect(state.accept(5)).toBe('new');
  });

  test('a gap in the same epoch never moves the position back', () => {
    const state = new ReceivedState(new Set(['a']));
    state.opened('e', 0);
    state.accept(20);
    state.handledEvent(20, ['a']);
    state.gap({ requestedEpoch: 'e', requestedAfterSequence: 3, epoch: 'e', firstAvailableSequence: 10, reason: 'retention' });
    expect(state.lastSequence).toBe(20);
    expect(state.accept(15)).toBe('duplicate');
  });

  test('a restored position wins over the head announced at open', () => {
    const state = new ReceivedState(new Set(['a']));
    state.restore('epoch-1', 42);
    state.opened('epoch-1', 100);
    expect(state.resumePoint()).toEqual({ epoch: 'epoch-1', afterSequence: '42' });
  });
});
