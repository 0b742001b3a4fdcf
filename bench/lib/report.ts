import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** One benchmark's figures: rows of a table, and the series to chart. */
export interface BenchResult {
  readonly name: string;
  readonly title: string;
  readonly columns: string[];
  readonly rows: Array<Record<string, string | number>>;
  /** Bars to draw: label → value, grouped (e.g. by consumer count). */
  readonly chart?: { unit: string; groups: Array<{ group: string; bars: Array<{ label: string; value: number; text?: string }> }>; log?: boolean };
  readonly notes: string[];
}

export const RESULTS_DIR = path.resolve(__dirname, '..', '..', '..', 'bench', 'results');

export function machine() {
  return { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', memGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, platform: `${os.type()} ${os.release()}` };
}

export function printTable(r: BenchResult): void {
  const widths = r.columns.map((c) => Math.max(c.length, ...r.rows.map((row) => String(row[c] ?? '').length)));
  const line = (cells: string[]) => '  ' + cells.map((c, i) => c.padEnd(widths[i])).join('  ');
  process.stdout.write(`\n== ${r.title}\n`);
  process.stdout.write(line(r.columns) + '\n');
  for (const row of r.rows) process.stdout.write(line(r.columns.map((c) => String(row[c] ?? ''))) + '\n');
  for (const n of r.notes) process.stdout.write(`  note: ${n}\n`);
}

const COLORS = ['#2563eb', '#f59e0b', '#10b981', '#ef4444', '#8b5cf6', '#64748b'];

/** A grouped bar chart as plain SVG: no dependency, viewable anywhere. */
export function svgChart(r: BenchResult): string | undefined {
  const chart = r.chart;
  if (!chart || chart.groups.length === 0) return undefined;
  const labels = [...new Set(chart.groups.flatMap((g) => g.bars.map((b) => b.label)))];
  const values = chart.groups.flatMap((g) => g.bars.map((b) => b.value)).filter((v) => Number.isFinite(v) && v > 0);
  const max = Math.max(...values, 1);
  const min = Math.min(...values, max);
  const scale = (v: number) => {
    if (!Number.isFinite(v) || v <= 0) return 0;
    if (!chart.log) return v / max;
    const lo = Math.log10(min) - 0.5;
    return (Math.log10(v) - lo) / (Math.log10(max) - lo);
  };
  const W = 760;
  const H = 360;
  const left = 70;
  const top = 40;
  const plotH = H - top - 70;
  const groupW = (W - left - 20) / chart.groups.length;
  const barW = Math.min(40, (groupW - 20) / labels.length);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${escapeXml(r.title)}</text>`,
    `<text x="14" y="${top + plotH / 2}" transform="rotate(-90 14 ${top + plotH / 2})" text-anchor="middle">${escapeXml(chart.unit)}${chart.log ? ' (log)' : ''}</text>`,
    `<line x1="${left}" y1="${top + plotH}" x2="${W - 10}" y2="${top + plotH}" stroke="#333"/>`,
  ];
  chart.groups.forEach((g, gi) => {
    const gx = left + gi * groupW + 10;
    g.bars.forEach((b) => {
      const li = labels.indexOf(b.label);
      const h = scale(b.value) * plotH;
      const x = gx + li * barW;
      parts.push(`<rect x="${x}" y="${top + plotH - h}" width="${barW - 4}" height="${h}" fill="${COLORS[li % COLORS.length]}"/>`);
      parts.push(`<text x="${x + (barW - 4) / 2}" y="${top + plotH - h - 3}" text-anchor="middle" font-size="9">${escapeXml(b.text ?? short(b.value))}</text>`);
    });
    parts.push(`<text x="${gx + (labels.length * barW) / 2}" y="${top + plotH + 16}" text-anchor="middle">${escapeXml(g.group)}</text>`);
  });
  labels.forEach((l, li) => {
    const x = left + li * 170;
    parts.push(`<rect x="${x}" y="${H - 30}" width="12" height="12" fill="${COLORS[li % COLORS.length]}"/><text x="${x + 16}" y="${H - 20}">${escapeXml(l)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

function short(v: number): string {
  if (!Number.isFinite(v)) return 'n/a';
  if (v >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)}k`;
  return v >= 10 ? v.toFixed(0) : v.toPrecision(3);
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c] as string);
}

export function writeResult(r: BenchResult, quick: boolean): void {
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const suffix = quick ? '.quick' : '';
  fs.writeFileSync(path.join(RESULTS_DIR, `${r.name}${suffix}.json`), JSON.stringify({ ...r, machine: machine(), quick, at: new Date().toISOString() }, null, 2) + '\n');
  const svg = svgChart(r);
  if (svg) fs.writeFileSync(path.join(RESULTS_DIR, `${r.name}${suffix}.svg`), svg + '\n');
}
