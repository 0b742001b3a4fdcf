import { status } from '@grpc/grpc-js';
import { TetherError, statusName } from '../../../shared/errors';
import { type ResumeFrom, type Subscribe, SubscriptionAck_Change, type SubscriptionError, type Unsubscribe } from '../../../shared/gen/tether/v1/sink';
import type { Logger } from '../../../shared/logger';
import { echo, nameProblem, truncateBytes } from '../../../shared/text-bounds';
import { parsePattern } from '../../../shared/topic-pattern';
import type { ProviderConfig } from '../provider-config';
import type { Audit } from '../security/audit';
import type { QuotaLedger } from '../security/quotas';
import { ReplayCursor, type ReplaySource } from './replay-cursor';
import { type Sink, type SinkSubscription, chunkIds } from './sink';
import { framedSize, stringFieldSize } from './wire-size';

/** Refusals listed in one reply; the rest are counted. Keeps every reply small whatever the request. */
export const MAX_LISTED_ERRORS = 64;
const MAX_ERROR_MESSAGE_BYTES = 256;

/**
 * Applies a consumer's Subscribe and Unsubscribe requests to its open sink. Each request gets exactly one
 * reply (an ack split only if its id list would exceed the sink's message limit): the ids applied, and
 * the refused ones with their codes. A request over its limits, or resuming from a position ahead of
 * the log, is refused whole with one `error`, and nothing of it is applied.
 */
export class SinkRequests {
  constructor(
    private readonly config: ProviderConfig,
    private readonly log: Logger,
    private readonly source: ReplaySource,
    /** How long a resume ahead of the head waits for this replica to catch up: 0 with the memory log. */
    private readonly catchUpMs = 0,
    private readonly quotas?: QuotaLedger,
    private readonly audit?: Audit,
  ) {}

  /**
   * Applies a Subscribe. With a shared log, a resume ahead of this replica's head may only mean the replica
   * has not caught up yet (the consumer came from a replica further on): it waits for the head, up to
   * TETHER_RESUME_CATCHUP_MS, and the caller holds the sink's later requests until it is done.
   */
  subscribe(sink: Sink, request: Subscribe): void | Promise<void> {
    const resume = request.resume;
    if (resume && resume.epoch === this.source.epoch && this.catchUpMs > 0 && BigInt(resume.afterSequence || '0') > BigInt(this.source.headSequence)) {
      const requested = BigInt(resume.afterSequence || '0');
      if (requested <= BigInt(Number.MAX_SAFE_INTEGER)) {
        return this.source.waitForHead(Number(requested), this.catchUpMs).then(() => {
          if (sink.state === 'open') this.apply(sink, request);
        });
      }
    }
    this.apply(sink, request);
  }

  private apply(sink: Sink, request: Subscribe): void {
    const requestId = truncateBytes(request.requestId, this.config.maxSubscriptionIdBytes);
    if (request.subscriptions.length > this.config.maxSpecsPerSubscribe) {
      return this.refuse(sink, requestId, TetherError.invalid(`${request.subscriptions.length} subscriptions in one Subscribe; the limit is ${this.config.maxSpecsPerSubscribe}`));
    }
    const resume = request.resume;
    let after: number | undefined;
    if (resume) {
      // uint64 arrives as a decimal string: compare exactly, then work in numbers (positions stay below 2^53).
      const requested = BigInt(resume.afterSequence || '0');
      const head = BigInt(this.source.headSequence);
      if (resume.epoch === this.source.epoch && requested > head) {
        return this.refuse(
          sink,
          requestId,
          new TetherError(status.OUT_OF_RANGE, `resume after_sequence ${requested} is ahead of the head ${head} of epoch ${this.source.epoch}`),
        );
      }
      after = resume.epoch === this.source.epoch ? Number(requested) : undefined;
    }
    const added: SinkSubscription[] = [];
    const errors = new Refusals(this.config.maxSubscriptionIdBytes, sink.maxMessageBytes / 2);
    for (const spec of request.subscriptions) {
      try {
        const sub = this.build(sink, spec.subscriptionId, spec.pattern, spec.attributes ?? {});
        if (!sink.register(sub)) throw new TetherError(status.FAILED_PRECONDITION, 'the sink is no longer open');
        added.push(sub);
      } catch (err) {
        errors.add(spec.subscriptionId, TetherError.from(err));
      }
    }
    if (errors.count > 0) {
      this.log.info({ sinkId: sink.id, refused: errors.count, first: errors.first }, 'subscriptions refused');
      this.auditRefusals(sink, errors);
    }
    this.ack(sink, requestId, added.map((s) => s.id), SubscriptionAck_Change.CHANGE_ADDED, errors);
    if (resume && added.length > 0) this.startReplay(sink, added, resume, after);
  }

  unsubscribe(sink: Sink, request: Unsubscribe): void {
    const requestId = truncateBytes(request.requestId, this.config.maxSubscriptionIdBytes);
    if (request.subscriptionIds.length > this.config.maxIdsPerUnsubscribe) {
      return this.refuse(sink, requestId, TetherError.invalid(`${request.subscriptionIds.length} ids in one Unsubscribe; the limit is ${this.config.maxIdsPerUnsubscribe}`));
    }
    const removed: string[] = [];
    const errors = new Refusals(this.config.maxSubscriptionIdBytes, sink.maxMessageBytes / 2);
    for (const id of request.subscriptionIds) {
      if (sink.unregister(id)) removed.push(id);
      else errors.add(id, TetherError.notFound(`no subscription ${echo(id)} on this sink`));
    }
    this.ack(sink, requestId, removed, SubscriptionAck_Change.CHANGE_REMOVED, errors);
  }

  /** The whole request is refused in-band; the sink stays open. */
  refuse(sink: Sink, requestId: string, error: TetherError): void {
    this.log.warn({ sinkId: sink.id, code: statusName(error.code), err: error.message }, 'sink request refused');
    sink.reply({
      kind: { $case: 'error', value: { subscriptionId: '', code: error.code, message: truncateBytes(error.message, MAX_ERROR_MESSAGE_BYTES), requestId, retryAfterMs: error.retryAfterMs ?? 0 } },
    });
  }

  private ack(sink: Sink, requestId: string, ids: string[], change: SubscriptionAck_Change, errors: Refusals): void {
    // The refusal list is bounded (MAX_LISTED_ERRORS, each truncated), so a quarter of the limit holds it.
    const chunks = chunkIds(ids, sink.maxMessageBytes / 4 - 64);
    chunks.forEach((chunk, i) => {
      const last = i === chunks.length - 1;
      sink.reply({
        kind: {
          $case: 'ack',
          value: { subscriptionIds: chunk, change, requestId, errors: last ? errors.listed : [], errorsOmitted: last ? errors.omitted : 0 },
        },
      });
    });
  }

  private startReplay(sink: Sink, subs: SinkSubscription[], resume: ResumeFrom, after: number | undefined): void {
    const epoch = resume.epoch;
    const first = this.source.firstRetained();
    if (after === undefined) {
      // Another epoch: this log began anew, so everything the consumer had not seen is lost to it.
      sink.reportGap(subs.map((s) => s.id), resume.afterSequence, first, 'the provider restarted; its history began anew', epoch);
      sink.replay(new ReplayCursor(subs, first));
      return;
    }
    if (after + 1 < first) {
      sink.reportGap(subs.map((s) => s.id), after, first, 'history no longer reaches back to the requested sequence', epoch);
      sink.replay(new ReplayCursor(subs, first));
      return;
    }
    sink.replay(new ReplayCursor(subs, after + 1));
  }

  /** One audit line per request and kind of refusal, however many specs it refused. */
  private auditRefusals(sink: Sink, errors: Refusals): void {
    const caller = sink.identity.caller;
    for (const [code, event] of [[status.PERMISSION_DENIED, 'denied'], [status.RESOURCE_EXHAUSTED, 'quota-exceeded']] as const) {
      const first = errors.firstOf(code);
      if (!first) continue;
      this.audit?.record(event, { subject: caller.subject, peer: sink.identity.peer, sinkId: sink.id, method: 'Subscribe', code: statusName(code), reason: first.message, refused: errors.countOf(code) });
    }
  }

  private build(sink: Sink, id: string, pattern: string, attributes: Record<string, string>): SinkSubscription {
    const idProblem = nameProblem('subscription_id', id, this.config.maxSubscriptionIdBytes);
    if (idProblem) throw TetherError.invalid(idProblem);
    if (sink.subscription(id)) throw new TetherError(status.ALREADY_EXISTS, `subscription ${echo(id)} already exists on this sink`);
    if (sink.subscriptionCount >= this.config.maxSubscriptionsPerSink) {
      throw TetherError.exhausted(`the sink holds ${sink.subscriptionCount} subscriptions; the limit is ${this.config.maxSubscriptionsPerSink}`);
    }
    const tokens = parsePattern(pattern, this.config);
    const caller = sink.identity.caller;
    // Containment, not matching: the pattern must lie wholly within one allowed pattern.
    if (!caller.subscribe.containsPattern(tokens)) {
      throw TetherError.denied(`pattern ${echo(pattern)} is not within the subscribe allow-list of ${caller.subject}`);
    }
    this.quotas?.checkSubscription(caller);
    const entries = Object.entries(attributes);
    if (entries.length > this.config.maxAttributes) {
      throw TetherError.invalid(`${entries.length} attribute matches; the limit is ${this.config.maxAttributes}`);
    }
    for (const [key, value] of entries) {
      const problem = nameProblem('attribute name', key, this.config.maxPatternLength) ?? (value === '' ? undefined : nameProblem('attribute value', value, this.config.maxPatternLength));
      if (problem) throw TetherError.invalid(problem);
    }
    return { id, owner: sink, pattern, attributes: entries.length > 0 ? entries.flat() : null };
  }
}

/**
 * The refused entries of one request: the first ones listed (truncated), within MAX_LISTED_ERRORS and
 * `budgetBytes` of encoded size, so the reply fits the consumer's limit beside its ids; the rest counted.
 */
class Refusals {
  readonly listed: SubscriptionError[] = [];
  omitted = 0;
  private bytes = 0;
  private readonly byCode = new Map<number, { count: number; message: string }>();

  constructor(
    private readonly maxIdBytes: number,
    private readonly budgetBytes: number,
  ) {}

  get count(): number {
    return this.listed.length + this.omitted;
  }

  get first(): string | undefined {
    return this.listed[0]?.message;
  }

  firstOf(code: number): { message: string } | undefined {
    return this.byCode.get(code);
  }

  countOf(code: number): number {
    return this.byCode.get(code)?.count ?? 0;
  }

  add(id: string, error: TetherError): void {
    const seen = this.byCode.get(error.code);
    if (seen) seen.count++;
    else this.byCode.set(error.code, { count: 1, message: truncateBytes(error.message, MAX_ERROR_MESSAGE_BYTES) });
    const entry: SubscriptionError = {
      subscriptionId: truncateBytes(id, this.maxIdBytes),
      code: error.code,
      message: truncateBytes(error.message, MAX_ERROR_MESSAGE_BYTES),
      requestId: '',
      retryAfterMs: error.retryAfterMs ?? 0,
    };
    // Tag and length of the entry, its two strings, and at most 11 + 6 bytes for the code's and retry's fields.
    const size = framedSize(stringFieldSize(entry.subscriptionId) + stringFieldSize(entry.message) + 17);
    if (this.listed.length >= MAX_LISTED_ERRORS || this.bytes + size > this.budgetBytes) {
      this.omitted++;
      return;
    }
    this.bytes += size;
    this.listed.push(entry);
  }
}
