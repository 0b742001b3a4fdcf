import fs from 'node:fs';
import path from 'node:path';
import { RESULTS_DIR } from './lib/report';

/**
 * `node dist/bench/markdown.js name [name…]`: prints bench/results/<name>.json as the Markdown table the
 * README's Performance section shows, so a table there is pasted from a run, never typed.
 */
for (const name of process.argv.slice(2)) {
  const result = JSON.parse(fs.readFileSync(path.join(RESULTS_DIR, `${name}.json`), 'utf8')) as { columns: string[]; rows: Record<string, unknown>[]; at: string };
  const line = (cells: unknown[]) => `| ${cells.map((c) => String(c ?? '')).join(' | ')} |`;
  process.stdout.write(`<!-- ${name}, measured ${result.at} -->\n`);
  process.stdout.write([line(result.columns), line(result.columns.map(() => '---')), ...result.rows.map((r) => line(result.columns.map((c) => r[c])))].join('\n') + '\n\n');
}
