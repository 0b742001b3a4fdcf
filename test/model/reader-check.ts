import { SubscriptionAck_Change } from '../../shared/gen/tether/v1/sink';
import { type Generation, type ModelSession, type ModelSink, type Reply, describeReply, fail, matches, short } from './model-types';
import type { SinkModel } from './sink-model';
import type { World } from './world';

const MAX_LISTED_ERRORS = 64;

/**
 * What the consumer read, against what it is owed: every reply in order, every delivery for a
 * registered subscription in increasing order and matching it, and no missing event that is not
 * explained by a gap or by the end of the subscription's stream.
 */
export function verifyReader(model: SinkModel, world: World, s: ModelSession, sink: ModelSink, settled: boolean): void {
  const ws = world.sessions[s.key];
  const stream = ws.stream;
  const quiescent =
    settled &&
    sink.state === 'open' &&
    !stream.stalled &&
    stream.blockedAt === null &&
    stream.unread === 0 &&
    stream.inboundPending === 0 &&
    !stream.requestsPaused &&
    !stream.readerEnd;
  // Nothing this check reads has changed since it last passed: skip it.
  let gens = 0;
  let ended = 0;
  for (const list of sink.gensById.values()) for (const g of list) [gens, ended] = [gens + 1, ended + (g.endHead === undefined ? 0 : 1)];
  const fingerprint = [stream.read.length, sink.replies.length, model.head, sink.state, quiescent, model.firstRetained(), gens, ended, stream.readerEnd?.kind].join();
  if (sink.verified === fingerprint) return;
  const where = `session ${s.key}`;
  const current = new Map<string, Generation>();
  const addedSeen = new Map<string, number>();
  const received = new Map<Generation, number[]>();
  /** Gaps read for each generation: where they start, and how many deliveries it had read before. */
  const gaps = new Map<Generation, Array<{ first: number; after: number }>>();
  const removedRead = new Set<Generation>();
  let reply = 0;
  let progress = 0;
  let errorsSeen = false;
  let closingRead = false;
  const expectReply = (what: string): Reply => {
    const r = sink.replies[reply];
    if (!r) fail(`${where}: read ${what} but the model expects no further reply`);
    return r;
  };
  const finishReply = (r: Reply, ids: number) => {
    if (progress === ids && (r.kind !== 'ack' || errorsSeen)) {
      reply++;
      progress = 0;
      errorsSeen = false;
    }
  };
  for (const item of stream.read) {
    if (closingRead) fail(`${where}: read something after closing`);
    if (item.kind === 'batch') {
      for (const d of item.deliveries) {
        const event = model.events[d.sequence - 1];
        if (!event || event.topic !== d.topic || event.type !== d.type || event.id !== d.id || event.source !== d.source) {
          fail(`${where}: delivery of event ${d.sequence} (${d.id} ${d.topic}) that is not the one published with that sequence`);
        }
        if (new Set(d.ids).size !== d.ids.length) fail(`${where}: event ${d.sequence} names a subscription twice in one delivery`);
        for (const id of d.ids) {
          const gen = current.get(id);
          if (!gen) fail(`${where}: event ${d.sequence} delivered to ${short(id)}, which is not subscribed at that point of the stream`);
          if (!matches(gen, event)) fail(`${where}: event ${d.sequence} (${event.topic}/${event.type}) delivered to ${short(id)} which does not match it`);
          if (d.sequence <= gen.startAfter) fail(`${where}: event ${d.sequence} delivered to ${short(id)}, owed only events after ${gen.startAfter}`);
          if (gen.endHead !== undefined && d.sequence > gen.endHead) fail(`${where}: event ${d.sequence} delivered to ${short(id)} after it ended at ${gen.endHead}`);
          const list = received.get(gen) ?? [];
          const last = list[list.length - 1];
          if (last !== undefined && d.sequence === last) fail(`${where}: event ${d.sequence} delivered twice to ${short(id)}`);
          if (last !== undefined && d.sequence < last) fail(`${where}: event ${d.sequence} delivered to ${short(id)} after event ${last}`);
          list.push(d.sequence);
          received.set(gen, list);
        }
      }
      continue;
    }
    const m = item.message.kind;
    switch (m?.$case) {
      case 'heartbeat':
        if (Number(m.value.headSequence) > model.head) fail(`${where}: heartbeat head ${m.value.headSequence} beyond ${model.head}`);
        break;
      case 'closing':
        closingRead = true;
        break;
      case 'opened': {
        const r = expectReply('opened');
        if (r.kind !== 'opened') fail(`${where}: read opened, the model expects ${r.kind}`);
        const v = m.value;
        const c = model.config;
        const limits = v.limits;
        const limitsOk =
          limits?.maxMessageBytes === r.receive &&
          limits.maxSubscriptionsPerSink === c.maxSubscriptionsPerSink &&
          limits.maxSpecsPerSubscribe === c.maxSpecsPerSubscribe &&
          limits.maxIdsPerUnsubscribe === c.maxIdsPerUnsubscribe &&
          limits.maxSubscriptionIdBytes === c.maxSubscriptionIdBytes &&
          limits.maxPatternLength === c.maxPatternLength &&
          limits.maxPatternDepth === c.maxPatternDepth &&
          limits.maxAttributes === c.maxAttributes;
        if (v.sinkId !== sink.id || v.epoch !== model.epoch || Number(v.headSequence) !== r.head || !limitsOk) {
          fail(`${where}: opened ${JSON.stringify({ ...v, sinkId: v.sinkId === sink.id })} does not match the model (head ${r.head}, receive ${r.receive})`);
        }
        reply++;
        break;
      }
      case 'error': {
        const r = expectReply('error');
        if (r.kind !== 'error' || r.code !== m.value.code || r.requestId !== m.value.requestId || m.value.subscriptionId !== '') {
          fail(`${where}: read error ${m.value.code} for request ${JSON.stringify(m.value.requestId)}, the model expects ${describeReply(r)}`);
        }
        reply++;
        break;
      }
      case 'ack': {
        const r = expectReply('ack');
        const v = m.value;
        if (r.kind !== 'ack' || r.requestId !== v.requestId || r.change !== v.change) fail(`${where}: read ack for ${JSON.stringify(v.requestId)}, the model expects ${describeReply(r)}`);
        const want = r.ids.slice(progress, progress + v.subscriptionIds.length);
        if (v.subscriptionIds.length !== want.length || v.subscriptionIds.some((id, i) => id !== want[i])) {
          fail(`${where}: ack ${JSON.stringify(v.requestId)} names [${v.subscriptionIds.map(short)}], the model expects [${want.map(short)}] at ${progress}`);
        }
        if (errorsSeen) fail(`${where}: ack chunk after the chunk carrying the refusals`);
        progress += want.length;
        if (v.errors.length > 0 || v.errorsOmitted > 0 || progress === r.ids.length) {
          if (progress !== r.ids.length) fail(`${where}: refusals listed before the last chunk of ack ${JSON.stringify(v.requestId)}`);
          // The refusals listed are the first ones, in request order (at least one, at most 64); the rest are counted.
          const codes = v.errors.map((e) => `${short(e.subscriptionId)}:${e.code}`);
          const expected = r.errors.map((e) => `${short(e.id)}:${e.code}`);
          const prefix = codes.every((c, i) => c === expected[i]);
          const bounded = codes.length <= MAX_LISTED_ERRORS && (expected.length === 0 || codes.length > 0);
          if (!prefix || !bounded || codes.length + v.errorsOmitted !== expected.length) {
            fail(`${where}: ack ${JSON.stringify(v.requestId)} refused [${codes}] (+${v.errorsOmitted}), the model expects [${expected}]`);
          }
          if (v.errors.some((e) => e.requestId !== '')) fail(`${where}: a listed refusal carries a request id`);
          errorsSeen = true;
        }
        for (const id of want) {
          if (r.change === SubscriptionAck_Change.CHANGE_ADDED) {
            const n = addedSeen.get(id) ?? 0;
            const gen = sink.gensById.get(id)?.[n];
            if (!gen) fail(`${where}: ADDED ack for ${short(id)} the model never registered`);
            addedSeen.set(id, n + 1);
            current.set(id, gen);
          } else {
            const gen = current.get(id);
            if (!gen) fail(`${where}: REMOVED ack for ${short(id)} that was not subscribed`);
            removedRead.add(gen);
            current.delete(id);
          }
        }
        finishReply(r, r.ids.length);
        break;
      }
      case 'gap': {
        const v = m.value;
        const r = sink.replies[reply];
        if (r?.kind === 'gap') {
          const want = r.ids.slice(progress, progress + v.subscriptionIds.length);
          if (v.subscriptionIds.some((id, i) => id !== want[i]) || v.subscriptionIds.length === 0) fail(`${where}: gap names [${v.subscriptionIds.map(short)}], expected [${want.map(short)}]`);
          if (v.requestedEpoch !== r.requestedEpoch || v.requestedAfterSequence !== r.requestedAfter || Number(v.firstAvailableSequence) !== r.firstAvailable || v.epoch !== model.epoch) {
            fail(`${where}: gap ${JSON.stringify({ ...v, subscriptionIds: v.subscriptionIds.length })} does not match the model ${JSON.stringify({ ...r, ids: r.ids.length })}`);
          }
          progress += want.length;
          finishReply(r, r.ids.length);
        } else {
          // A replay overtaken by retention: legitimate only for a resuming subscription, naming a real loss.
          const first = Number(v.firstAvailableSequence);
          if (first > model.firstRetained()) fail(`${where}: replay gap says history starts at ${first}, the model keeps from ${model.firstRetained()}`);
          if (first <= Number(v.requestedAfterSequence) + 1) fail(`${where}: replay gap from ${v.requestedAfterSequence} to ${first} loses nothing`);
          if (v.epoch !== model.epoch) fail(`${where}: replay gap in epoch ${v.epoch}`);
        }
        for (const id of v.subscriptionIds) {
          const gen = current.get(id);
          if (!gen) fail(`${where}: gap names ${short(id)}, which is not subscribed at that point of the stream`);
          if (gen.resume === 'none') fail(`${where}: gap for ${short(id)}, which did not resume`);
          const list = gaps.get(gen) ?? [];
          list.push({ first: Number(v.firstAvailableSequence), after: received.get(gen)?.length ?? 0 });
          gaps.set(gen, list);
        }
        break;
      }
      default:
        fail(`${where}: read an empty control message`);
    }
  }
  if (quiescent && (reply !== sink.replies.length || progress !== 0)) {
    fail(`${where}: a settled, reading consumer got ${reply} of ${sink.replies.length} replies; next owed: ${describeReply(sink.replies[reply])}`);
  }
  const firstRetained = model.firstRetained();
  const streamEnded = sink.state !== 'open' || stream.readerEnd !== undefined;
  for (const [id, gens] of sink.gensById) {
    gens.slice(0, addedSeen.get(id) ?? 0).forEach((gen) => {
      const got = received.get(gen) ?? [];
      const gotSet = new Set(got);
      const last = got[got.length - 1] ?? gen.startAfter;
      const end = gen.endHead ?? model.head;
      const strictTail =
        gen.endedBy === 'unsubscribe' ? gen.resume === 'none' && removedRead.has(gen) : !streamEnded && gen.endedBy === undefined && quiescent;
      const genGaps = gaps.get(gen) ?? [];
      for (const e of model.events) {
        if (e.sequence <= gen.startAfter || e.sequence > end || gotSet.has(e.sequence) || !matches(gen, e)) continue;
        if (e.sequence > last && !strictTail) continue;
        // A loss is explained by a gap past it, read before anything later was (the gap comes first), and
        // only once the event has really left the history.
        const before = got.filter((seq) => seq < e.sequence).length;
        const explained = e.sequence < firstRetained && genGaps.some((g) => g.first > e.sequence && g.after <= before);
        if (!explained) {
          fail(
            `${where}: ${short(id)} (${gen.tokens.join('.')}, ${gen.resume}, after ${gen.startAfter}${gen.endedBy ? `, ended by ${gen.endedBy} at ${end}` : ''}) ` +
              `never got event ${e.sequence} (${e.topic}); got [${got}], gaps from [${genGaps.map((g) => `${g.first} read after ${g.after} deliveries`)}], history from ${firstRetained}`,
          );
        }
      }
    });
  }
  sink.verified = fingerprint;
}
