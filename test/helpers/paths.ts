import * as fs from 'node:fs';
import * as path from 'node:path';

/** The repository root, found upward from here: works from sources (jest) and from dist/ (benchmarks). */
export const REPO_ROOT = (() => {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'proto'))) return dir;
    dir = path.dirname(dir);
  }
  throw new Error(`repository root not found above ${__dirname}`);
})();

export const DIST = path.join(REPO_ROOT, 'dist');
