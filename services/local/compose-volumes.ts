import * as fs from 'node:fs';
import * as path from 'node:path';

/** A compose volume as this machine sees it: the container path and the local directory standing in for it. */
export interface LocalVolume {
  /** The named volume, or the bind mount's source as written. */
  readonly source: string;
  /** The path inside the container. */
  readonly target: string;
  /** The local directory mounted there. */
  readonly dir: string;
}

/**
 * The local directories for a service's `volumes:` (short syntax `source:target[:mode]`). A named volume
 * becomes `<stateDir>/<name>`, created if absent and kept across runs as Docker keeps the volume; a bind
 * mount (`./x`, `/x`) is that directory itself. Anonymous and long-syntax volumes are refused rather than
 * half-supported.
 */
export function localVolumes(service: string, entries: unknown[], declared: Record<string, unknown>, stateDir: string, root: string): LocalVolume[] {
  return entries.map((entry) => {
    const parts = typeof entry === 'string' ? entry.split(':') : [];
    if (parts.length < 2 || parts.length > 3) throw new Error(`${service}: volume ${JSON.stringify(entry)} is not source:target[:mode], the only form npm start maps`);
    const [source, target] = parts;
    const bind = /^[./~]/.test(source);
    if (!bind && !(source in declared)) throw new Error(`${service}: volume "${source}" is not declared under the top-level volumes:`);
    const dir = bind ? path.resolve(root, source.replace(/^~(?=\/)/, process.env.HOME ?? '~')) : path.join(stateDir, source);
    fs.mkdirSync(dir, { recursive: true });
    return { source, target: path.posix.normalize(target), dir };
  });
}

/** A value naming a path inside a volume (CONSUMER_STATE_FILE, say) names the same path in the local directory. */
export function rewritePaths(value: string, volumes: LocalVolume[]): string {
  for (const v of volumes) {
    if (value === v.target) return v.dir;
    if (value.startsWith(v.target + '/')) return path.join(v.dir, value.slice(v.target.length + 1));
  }
  return value;
}
