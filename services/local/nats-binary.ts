import * as fs from 'node:fs';
import * as path from 'node:path';

/** The nats-server on the PATH (Debian's package puts it in /usr/sbin), or undefined when there is none. */
export function natsServerOnPath(pathVar = process.env.PATH ?? ''): string | undefined {
  for (const dir of pathVar.split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, 'nats-server');
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}
