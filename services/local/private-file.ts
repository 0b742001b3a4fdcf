import * as fs from 'node:fs';

/** Writes a secret readable by its owner only, whole or not at all (a reader never sees half a key). */
export function writePrivateFile(file: string, text: string): void {
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, text, { mode: 0o600 });
  fs.renameSync(tmp, file);
}
