import {
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  type StreamConfig,
  type StreamInfo,
  StorageType,
} from '@nats-io/jetstream';
import { nanos, type MsgHdrs } from '@nats-io/nats-core';
import type { Logger } from '../../../shared/logger';
import { type BatchPosition, readPosition } from './batch-codec';

export interface StreamSettings {
  readonly stream: string;
  readonly streamMaxMsgs: number;
  readonly streamMaxBytes: number;
  readonly streamMaxAgeMs: number;
  readonly streamStorage: string;
  readonly streamDuplicateWindowMs: number;
}

/**
 * The log's stream as JetStream's management API sees it: created with the configured limits by the first
 * replica, its state, and the positions a message's headers record. Everything here is a request to
 * NATS; the log calls it at start, after a failed append and on a slow timer, never per event.
 */
export class StreamMeta {
  constructor(
    private readonly jsm: JetStreamManager,
    private readonly settings: StreamSettings,
    private readonly subject: string,
    private readonly log: Logger,
  ) {}

  /** Creates the stream, or adopts the existing one (bringing its limits to this replica's settings). */
  async ensure(): Promise<StreamInfo> {
    const s = this.settings;
    const wanted: Partial<StreamConfig> & { name: string } = {
      name: s.stream,
      subjects: [this.subject],
      storage: s.streamStorage === 'memory' ? StorageType.Memory : StorageType.File,
      max_msgs: s.streamMaxMsgs,
      max_bytes: s.streamMaxBytes,
      max_age: s.streamMaxAgeMs > 0 ? nanos(s.streamMaxAgeMs) : 0,
      // JetStream refuses a duplicate window longer than the age limit.
      duplicate_window: nanos(s.streamMaxAgeMs > 0 ? Math.min(s.streamDuplicateWindowMs, s.streamMaxAgeMs) : s.streamDuplicateWindowMs),
      discard: DiscardPolicy.Old,
      num_replicas: 1,
    };
    try {
      const info = await this.jsm.streams.info(s.stream);
      const c = info.config;
      if (c.max_msgs !== wanted.max_msgs || c.max_bytes !== wanted.max_bytes || c.max_age !== wanted.max_age) {
        this.log.warn({ stream: s.stream }, "the stream exists with other limits: updating them to this replica's settings");
        return await this.jsm.streams.update(s.stream, { ...c, max_msgs: wanted.max_msgs, max_bytes: wanted.max_bytes, max_age: wanted.max_age, duplicate_window: wanted.duplicate_window });
      }
      return info;
    } catch (err) {
      if (!(err instanceof JetStreamApiError) || err.code !== JetStreamApiCodes.StreamNotFound) throw err;
    }
    try {
      return await this.jsm.streams.add(wanted);
    } catch {
      // Another replica created it in the meantime.
      return this.jsm.streams.info(s.stream);
    }
  }

  info(): Promise<StreamInfo> {
    return this.jsm.streams.info(this.settings.stream);
  }

  /** The positions message `seq` holds, or undefined when it is gone (or not a Tether batch). */
  async positionOf(seq: number): Promise<BatchPosition | undefined> {
    return readPosition((await this.message(seq))?.header);
  }

  /**
   * The stream sequence of the message holding `position` (or the first one after it), by binary search
   * over message headers between `firstSeq` and `lastSeq`: about 20 requests for a million messages.
   */
  async seqFor(position: number, firstSeq: number, lastSeq: number): Promise<number> {
    let lo = Math.max(1, firstSeq);
    let hi = Math.max(lo, lastSeq);
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      const pos = await this.positionOf(mid);
      if (!pos || pos.first + pos.count - 1 < position) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private async message(seq: number): Promise<{ header: MsgHdrs } | null> {
    try {
      return await this.jsm.streams.getMessage(this.settings.stream, { seq });
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.NoMessageFound) return null;
      throw err;
    }
  }
}
