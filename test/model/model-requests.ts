import { status } from '@grpc/grpc-js';
import { type Subscribe, SubscriptionAck_Change, type Unsubscribe } from '../../shared/gen/tether/v1/sink';
import { validName, validPattern } from './model-rules';
import type { Generation, ModelSink } from './model-types';
import type { SinkModel } from './sink-model';

/**
 * Subscribe and Unsubscribe as sink.proto states them: one reply per request (an ack with per-spec
 * refusals, or one error refusing it whole), refusals checked in a fixed order, a resume behind the
 * history or from another epoch answered with a gap. The model keeps every refusal; how many the ack
 * lists (a bounded first part, the rest counted) is checked when it is read.
 */

export function modelSubscribe(m: SinkModel, sink: ModelSink, request: Subscribe): void {
  const c = m.config;
  const requestId = request.requestId;
  if (request.subscriptions.length > c.maxSpecsPerSubscribe) {
    sink.replies.push({ kind: 'error', requestId, code: status.INVALID_ARGUMENT });
    return;
  }
  const resume = request.resume;
  let after: number | undefined;
  if (resume) {
    const requested = BigInt(resume.afterSequence || '0');
    if (resume.epoch === m.epoch && requested > BigInt(m.head)) {
      sink.replies.push({ kind: 'error', requestId, code: status.OUT_OF_RANGE });
      return;
    }
    after = resume.epoch === m.epoch ? Number(requested) : undefined;
  }
  const first = m.firstRetained();
  let kind: Generation['resume'] = 'none';
  let startAfter = m.head;
  if (resume) {
    if (after === undefined) [kind, startAfter] = ['other', 0];
    else if (after + 1 < first) [kind, startAfter] = ['behind', after];
    else [kind, startAfter] = ['same', after];
  }
  const added: string[] = [];
  const errors: Array<{ id: string; code: number }> = [];
  for (const spec of request.subscriptions) {
    const code = specProblem(m, sink, spec.subscriptionId, spec.pattern, spec.attributes ?? {});
    if (code !== undefined) {
      errors.push({ id: truncate(spec.subscriptionId, c.maxSubscriptionIdBytes), code });
      continue;
    }
    const gen: Generation = {
      id: spec.subscriptionId,
      tokens: spec.pattern.split('.'),
      attributes: Object.entries(spec.attributes ?? {}),
      resume: kind,
      startAfter,
      certainLive: kind === 'none',
    };
    sink.subs.set(gen.id, gen);
    const gens = sink.gensById.get(gen.id) ?? [];
    gens.push(gen);
    sink.gensById.set(gen.id, gens);
    added.push(gen.id);
  }
  sink.replies.push({
    kind: 'ack',
    requestId,
    change: SubscriptionAck_Change.CHANGE_ADDED,
    ids: added,
    errors,
  });
  if (resume && added.length > 0 && kind !== 'same') {
    sink.replies.push({
      kind: 'gap',
      ids: added,
      // An echo is bounded: the requested epoch cut to 64 bytes (an epoch is a 36-character id).
      requestedEpoch: truncate(resume.epoch, 64) || m.epoch,
      // What the consumer asked for, echoed (as uint64 on the wire), whichever epoch it named.
      requestedAfter: String(BigInt(resume.afterSequence || '0')),
      firstAvailable: first,
    });
  }
}

/** The refusal code of one spec, in the order the protocol lists them, or undefined when it is applied. */
function specProblem(m: SinkModel, sink: ModelSink, id: string, pattern: string, attributes: Record<string, string>): number | undefined {
  const c = m.config;
  if (!validName(id, c.maxSubscriptionIdBytes)) return status.INVALID_ARGUMENT;
  if (sink.subs.has(id)) return status.ALREADY_EXISTS;
  if (sink.subs.size >= c.maxSubscriptionsPerSink) return status.RESOURCE_EXHAUSTED;
  if (!validPattern(pattern, c)) return status.INVALID_ARGUMENT;
  const entries = Object.entries(attributes);
  if (entries.length > c.maxAttributes) return status.INVALID_ARGUMENT;
  for (const [key, value] of entries) {
    if (!validName(key, c.maxPatternLength) || (value !== '' && !validName(value, c.maxPatternLength))) return status.INVALID_ARGUMENT;
  }
  return undefined;
}

export function modelUnsubscribe(m: SinkModel, sink: ModelSink, request: Unsubscribe): void {
  if (request.subscriptionIds.length > m.config.maxIdsPerUnsubscribe) {
    sink.replies.push({ kind: 'error', requestId: request.requestId, code: status.INVALID_ARGUMENT });
    return;
  }
  const removed: string[] = [];
  const errors: Array<{ id: string; code: number }> = [];
  for (const id of request.subscriptionIds) {
    const gen = sink.subs.get(id);
    if (!gen) {
      errors.push({ id: truncate(id, m.config.maxSubscriptionIdBytes), code: status.NOT_FOUND });
      continue;
    }
    gen.endHead = m.head;
    gen.endedBy = 'unsubscribe';
    sink.subs.delete(id);
    removed.push(id);
  }
  sink.replies.push({
    kind: 'ack',
    requestId: request.requestId,
    change: SubscriptionAck_Change.CHANGE_REMOVED,
    ids: removed,
    errors,
  });
}

/** Refusals echo an id cut to the id limit (whole characters). */
function truncate(value: string, maxBytes: number): string {
  if (Buffer.byteLength(value, 'utf8') <= maxBytes) return value;
  if (/^[\x00-\x7f]*$/.test(value)) return value.slice(0, maxBytes);
  let out = '';
  for (const ch of value) {
    if (Buffer.byteLength(out + ch, 'utf8') > maxBytes) break;
    out += ch;
  }
  return out;
}
