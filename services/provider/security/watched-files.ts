import * as fs from 'node:fs';
import type { Logger } from '../../../shared/logger';

/**
 * Configuration files that change under a running provider (certificates, keys, JWKS, the certificate
 * mapping): loaded once at start, where a bad file stops the start, then reloaded when any of them
 * changes (polled every `checkMs`) or on SIGHUP. A reload that does not parse or validate keeps what was
 * loaded before and logs why, so a half-written rotation never takes the provider down.
 */
export class WatchedFiles<T> {
  private value: T;
  private readonly listeners = new Set<(value: T) => void>();
  private started = false;

  constructor(
    private readonly what: string,
    private readonly files: readonly string[],
    private readonly parse: (contents: Buffer[]) => T,
    private readonly checkMs: number,
    private readonly log: Logger,
  ) {
    this.value = this.read();
  }

  get current(): T {
    return this.value;
  }

  onChange(listener: (value: T) => void): void {
    this.listeners.add(listener);
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    for (const file of this.files) fs.watchFile(file, { persistent: false, interval: this.checkMs }, this.onFileChange);
    process.on('SIGHUP', this.reload);
  }

  stop(): void {
    if (!this.started) return;
    this.started = false;
    for (const file of this.files) fs.unwatchFile(file, this.onFileChange);
    process.off('SIGHUP', this.reload);
  }

  /** Re-reads every file; keeps the previous value if the new one is unusable. True when it changed. */
  readonly reload = (): boolean => {
    let next: T;
    try {
      next = this.read();
    } catch (err) {
      this.log.error({ what: this.what, files: this.files, err: (err as Error).message }, 'reload failed; keeping the previous files');
      return false;
    }
    this.value = next;
    this.log.info({ what: this.what, files: this.files }, 'reloaded');
    for (const listener of this.listeners) listener(next);
    return true;
  };

  private readonly onFileChange = (curr: fs.Stats, prev: fs.Stats): void => {
    if (curr.mtimeMs !== prev.mtimeMs || curr.size !== prev.size || curr.ino !== prev.ino) this.reload();
  };

  private read(): T {
    const contents = this.files.map((file) => {
      try {
        return fs.readFileSync(file);
      } catch (err) {
        throw new Error(`${this.what}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    });
    try {
      return this.parse(contents);
    } catch (err) {
      throw new Error(`${this.what} (${this.files.join(', ')}): ${(err as Error).message}`);
    }
  }
}
