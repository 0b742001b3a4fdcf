import * as fs from 'node:fs';
import * as path from 'node:path';

/** Where a consumer resumes: the provider epoch and the last sequence it fully handled. */
export interface Position {
  readonly epoch: string;
  readonly lastSequence: number;
}

/**
 * Keeps the consumer's position in a small file so a restarted process resumes instead of starting
 * live. Written atomically (temp file + rename), at most once per flush interval and on stop; after a
 * crash, events handled since the last write arrive again (at-least-once across process restarts).
 */
export class PositionStore {
  private last = '';

  constructor(private readonly file: string) {}

  load(): Position | undefined {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch {
      return undefined; // first start
    }
    const parsed = JSON.parse(text) as Partial<Position>;
    if (typeof parsed.epoch !== 'string' || typeof parsed.lastSequence !== 'number' || !parsed.epoch) {
      throw new Error(`${this.file} does not hold a position (epoch, lastSequence)`);
    }
    this.last = text;
    return { epoch: parsed.epoch, lastSequence: parsed.lastSequence };
  }

  /** Writes the position if it changed since the last write. */
  save(position: Position): void {
    if (!position.epoch) return;
    const text = JSON.stringify({ epoch: position.epoch, lastSequence: position.lastSequence });
    if (text === this.last) return;
    const tmp = path.join(path.dirname(this.file), `.${path.basename(this.file)}.${process.pid}.tmp`);
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, this.file);
    this.last = text;
  }
}
