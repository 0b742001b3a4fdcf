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
 * Errors carry one-line messages: the caller reports them as they are, without a stack.
 */
export class PositionStore {
  private last = '';

  constructor(private readonly file: string) {}

  /**
   * Checks at start-up that the position can be kept here: the directory exists, a file can be written
   * and renamed in it (what every save does), and an existing file holds a position. Returns that
   * position, or undefined on a first start. A consumer that cannot keep its position must not run
   * as if it could, so every failure throws.
   */
  open(): Position | undefined {
    const dir = path.dirname(this.file);
    let isDir: boolean;
    try {
      isDir = fs.statSync(dir).isDirectory();
    } catch (err) {
      throw new Error(`directory ${dir} ${errorCode(err) === 'ENOENT' ? 'does not exist' : `cannot be used (${oneLine(err)})`}`);
    }
    if (!isDir) throw new Error(`${dir} is not a directory`);
    const probe = path.join(dir, `.${path.basename(this.file)}.${process.pid}.probe`);
    try {
      this.writeAtomically(probe, '');
      fs.unlinkSync(probe);
    } catch (err) {
      throw new Error(`cannot write a file in ${dir} (${oneLine(err)})`);
    }
    return this.load();
  }

  /** Writes the position if it changed since the last write. */
  save(position: Position): void {
    if (!position.epoch) return;
    const text = JSON.stringify({ epoch: position.epoch, lastSequence: position.lastSequence });
    if (text === this.last) return;
    this.writeAtomically(this.file, text);
    this.last = text;
  }

  private load(): Position | undefined {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (err) {
      if (errorCode(err) === 'ENOENT') return undefined; // first start
      throw new Error(`cannot read the file (${oneLine(err)})`);
    }
    let parsed: Partial<Position> | null;
    try {
      parsed = JSON.parse(text) as Partial<Position> | null;
    } catch {
      parsed = null;
    }
    if (typeof parsed?.epoch !== 'string' || !parsed.epoch || !Number.isSafeInteger(parsed.lastSequence) || (parsed.lastSequence as number) < 0) {
      throw new Error('the file does not hold a saved position ({"epoch":…,"lastSequence":…}); delete it to start from live events');
    }
    this.last = text;
    return { epoch: parsed.epoch, lastSequence: parsed.lastSequence as number };
  }

  /** Temp file + rename, so a crash mid-write never leaves a torn file; the temp file never outlives a failure. */
  private writeAtomically(target: string, text: string): void {
    const tmp = path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.tmp`);
    try {
      fs.writeFileSync(tmp, text);
      fs.renameSync(tmp, target);
    } catch (err) {
      try {
        fs.rmSync(tmp, { force: true });
      } catch {
        // The directory itself is gone or unreachable: nothing was left behind.
      }
      throw new Error(oneLine(err));
    }
  }
}

function errorCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

function oneLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0];
}
