import * as fs from 'node:fs';
import { CATEGORIES, type Category, type Frame, isProtobuf, ownCategory, protobufDirection } from './categories';

/** The parts of a V8 .cpuprofile this reads. Timestamps are CLOCK_MONOTONIC µs, as process.hrtime. */
interface CpuProfile {
  nodes: Array<{ id: number; callFrame: Frame; children?: number[] }>;
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  /** CPU µs per category inside the window; idle excluded. */
  readonly byCategory: Record<Category, number>;
  readonly idleUs: number;
  readonly busyUs: number;
  /** The heaviest functions by self time, for reading the table's "other". */
  readonly top: Array<{ name: string; category: Category; us: number }>;
}

/** Sums the samples taken in [fromUs, toUs] by category (nearest categorised frame up the stack). */
export function summarise(file: string, fromUs: number, toUs: number, topN = 12): ProfileSummary {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const category = new Map<number, Category>();
  const categoryOf = (id: number): Category => {
    const known = category.get(id);
    if (known) return known;
    const node = byId.get(id);
    const up = parent.get(id);
    const callerCategory = up === undefined ? undefined : categoryOf(up);
    let c = (node && ownCategory(node.callFrame)) ?? callerCategory ?? 'other';
    if (node && isProtobuf(node.callFrame)) c = protobufDirection(node.callFrame, callerCategory);
    else if (node && c === callerCategory && node.callFrame.url.startsWith('node:')) c = callerCategory; // a node helper under protobuf keeps its direction
    category.set(id, c);
    return c;
  };
  const byCategory = Object.fromEntries(CATEGORIES.map((c) => [c, 0])) as Record<Category, number>;
  const self = new Map<number, number>();
  let idleUs = 0;
  let t = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i];
    // A sample's time is the gap to the next one.
    const dt = i + 1 < p.timeDeltas.length ? p.timeDeltas[i + 1] : 0;
    if (t < fromUs || t > toUs) continue;
    const id = p.samples[i];
    if (byId.get(id)?.callFrame.functionName === '(idle)') {
      idleUs += dt;
      continue;
    }
    byCategory[categoryOf(id)] += dt;
    self.set(id, (self.get(id) ?? 0) + dt);
  }
  const busyUs = Object.values(byCategory).reduce((a, b) => a + b, 0);
  const named = new Map<string, { name: string; category: Category; us: number }>();
  for (const [id, us] of self) {
    const f = byId.get(id)?.callFrame;
    if (!f) continue;
    const name = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(node_modules|dist)\//, '')}`;
    const row = named.get(name) ?? { name, category: categoryOf(id), us: 0 };
    row.us += us;
    named.set(name, row);
  }
  const top = [...named.values()].sort((a, b) => b.us - a.us).slice(0, topN);
  return { byCategory, idleUs, busyUs, top };
}
