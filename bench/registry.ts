import { monitorEventLoopDelay } from 'node:perf_hooks';
import { SubscriptionRegistry } from '../services/provider/subscriptions/subscription-registry';
import type { Subscription } from '../services/provider/subscriptions/subscription';
import type { BenchResult } from './lib/report';
import { percentile, round } from './lib/stats';

/** Deterministic pseudo-random numbers, so every run indexes the same subscriptions. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

/** Most subscriptions name specific topics; a few use wildcards. Topic space: 1000 × 1000 × 100. */
function pattern(r: () => number): string {
  const t = (n: number) => Math.floor(r() * n);
  const x = r();
  if (x < 0.94) return `t.${t(1000)}.${t(1000)}.${t(100)}`;
  if (x < 0.98) return `t.${t(1000)}.*.${t(100)}`;
  if (x < 0.99) return `t.${t(1000)}.>`;
  return `t.*.${t(1000)}.*`;
}

function topic(r: () => number): string[] {
  return ['t', String(Math.floor(r() * 1000)), String(Math.floor(r() * 1000)), String(Math.floor(r() * 100))];
}

/** Timed passes over the 20,000 topics; the median is reported. */
const ROUTING_PASSES = 5;

const PURGE_CHUNK = Number(process.env.TETHER_PURGE_CHUNK ?? 2_000);

interface Owner {
  closed: boolean;
}

/** Fills the registry as sinks do: each owner keeps its subscriptions in a Map by id, as Sink does. */
function fill(registry: SubscriptionRegistry, n: number, perOwner = 1_000, seed = 1): Subscription<Owner>[][] {
  return fillSinks(registry, n, perOwner, seed).map((m) => [...m.values()]);
}

function fillSinks(registry: SubscriptionRegistry, n: number, perOwner = 1_000, seed = 1): Map<string, Subscription<Owner>>[] {
  const r = rng(seed);
  const owners: Map<string, Subscription<Owner>>[] = [];
  for (let i = 0; i < n; i += perOwner) {
    const owner: Owner = { closed: false };
    const byId = new Map<string, Subscription<Owner>>();
    for (let k = 0; k < perOwner && i + k < n; k++) {
      const sub = { id: `s${k}`, owner, pattern: pattern(r), attributes: null };
      registry.add(sub);
      byId.set(sub.id, sub);
    }
    owners.push(byId);
  }
  return owners;
}

function linearMatches(patterns: string[][], tokens: string[]): number {
  let n = 0;
  for (const p of patterns) {
    let ok = true;
    for (let i = 0; i < p.length; i++) {
      if (p[i] === '>') break;
      if (i >= tokens.length || (p[i] !== '*' && p[i] !== tokens[i])) {
        ok = false;
        break;
      }
      if (i === p.length - 1 && p.length !== tokens.length) ok = false;
    }
    if (ok) n++;
  }
  return n;
}

/** Routing cost per event: the index against a linear scan, at 1k, 100k and 1M subscriptions. */
export async function routingBench(quick: boolean): Promise<BenchResult> {
  const sizes = quick ? [1_000, 100_000] : [1_000, 100_000, 1_000_000];
  const rows: BenchResult['rows'] = [];
  const groups: NonNullable<BenchResult['chart']>['groups'] = [];
  for (const n of sizes) {
    const registry = new SubscriptionRegistry(5_000);
    const owners = fill(registry, n);
    const patterns = owners.flat().map((s) => s.pattern.split('.'));
    const r = rng(7);
    const topics = Array.from({ length: 20_000 }, () => topic(r));
    const names = topics.map((t) => t.join('.'));
    let matched = 0;
    const visit = () => void matched++;
    for (let i = 0; i < 2_000; i++) registry.match(names[i], topics[i], visit); // warm up
    // The fill's garbage is collected first, so no GC work of the build lands in the timed passes.
    (globalThis as { gc?: () => void }).gc?.();
    const passes: number[] = [];
    for (let pass = 0; pass < ROUTING_PASSES; pass++) {
      matched = 0;
      const started = performance.now();
      for (let i = 0; i < topics.length; i++) registry.match(names[i], topics[i], visit);
      passes.push(((performance.now() - started) * 1000) / topics.length);
    }
    const indexUs = percentile(passes, 0.5);
    const linearTopics = topics.slice(0, Math.max(3, Math.floor(2e7 / n)));
    let linearMatched = 0;
    const start = performance.now();
    for (const t of linearTopics) linearMatched += linearMatches(patterns, t);
    const linearUs = ((performance.now() - start) * 1000) / linearTopics.length;
    rows.push({
      subscriptions: n,
      'index µs/event': round(indexUs, 3),
      'linear µs/event': round(linearUs, 1),
      'linear ÷ index': Math.round(linearUs / indexUs),
      'matches/event': round(matched / topics.length, 2),
    });
    groups.push({ group: `${n.toLocaleString('en')} subs`, bars: [{ label: 'tether index', value: indexUs }, { label: 'linear scan', value: linearUs }] });
    if (linearMatched < 0) throw new Error('unreachable'); // keeps the scan from being optimised away
  }
  return {
    name: 'routing',
    title: 'Routing cost per event (µs): tether index (exact-pattern map + wildcard trie) vs linear scan',
    columns: Object.keys(rows[0]),
    rows,
    chart: { unit: 'µs per event', groups, log: true },
    notes: [
      '94% exact patterns, 6% with * or >, over a 1000×1000×100 topic space; subscriptions of 1,000 per sink',
      `index: median of ${ROUTING_PASSES} passes over 20,000 topics, after a warm-up and a full GC`,
    ],
  };
}

/**
 * Reclaim cost: closing one sink of k subscriptions while 1M others stay. Logical reclaim (counts drop,
 * matching stops) is immediate; index memory returns in chunks. Beside it, the plain index removal of
 * the same subscriptions in one synchronous block.
 */
export async function reclaimCostBench(quick: boolean): Promise<BenchResult> {
  const others = quick ? 100_000 : 1_000_000;
  const sizes = quick ? [1, 1_000, 10_000] : [1, 1_000, 10_000, 100_000];
  const rows: BenchResult['rows'] = [];
  const groups: NonNullable<BenchResult['chart']>['groups'] = [];
  for (const k of sizes) {
    const measure = async (chunked: boolean) => {
      const registry = new SubscriptionRegistry(chunked ? PURGE_CHUNK : Number.MAX_SAFE_INTEGER);
      fill(registry, others, 1_000, 11);
      const [victim] = fill(registry, k, k, 99);
      // The fill's own garbage is collected first: a provider builds its 1M subscriptions long before a
      // reclaim, so a GC the fill would cause anyway must not be counted as the reclaim's stall.
      (globalThis as { gc?: () => void }).gc?.();
      const h = monitorEventLoopDelay({ resolution: 1 });
      // Enabled ahead of the work: the monitor's first tick only sets its baseline.
      h.enable();
      const tick = setInterval(() => undefined, 1);
      await new Promise((r) => setTimeout(r, 20)); // no reset(): it drops the baseline and hides the next stall
      const start = performance.now();
      victim[0].owner.closed = true;
      registry.retire(victim);
      const reclaimMs = performance.now() - start;
      await registry.whenPurged();
      const purgedMs = performance.now() - start;
      await new Promise((r) => setTimeout(r, 5));
      h.disable();
      clearInterval(tick);
      if (registry.indexedCount !== others) throw new Error(`index holds ${registry.indexedCount}, expected ${others}`);
      return { reclaimMs, purgedMs, stallMs: h.max / 1e6 };
    };
    const tether = await measure(true);
    const plain = await measure(false);
    rows.push({
      'sink subscriptions': k,
      'others': others,
      'reclaim ms': round(tether.reclaimMs, 3),
      'index purged ms': round(tether.purgedMs, 2),
      'max loop stall ms': round(tether.stallMs, 1),
      'plain index removal ms': round(plain.reclaimMs, 2),
      'plain max stall ms': round(plain.stallMs, 1),
    });
    groups.push({
      group: `${k.toLocaleString('en')} subs`,
      bars: [
        { label: 'tether reclaim', value: tether.reclaimMs },
        { label: 'tether loop stall', value: tether.stallMs },
        { label: 'plain index removal', value: plain.reclaimMs },
        { label: 'plain loop stall', value: plain.stallMs },
      ],
    });
  }
  return {
    name: 'reclaim-cost',
    title: `Reclaim cost: one sink of k subscriptions while ${others.toLocaleString('en')} others stay`,
    columns: Object.keys(rows[0]),
    rows,
    chart: { unit: 'ms', groups, log: true },
    notes: [
      'reclaim = the subscriptions stop matching and the live count drops (tombstone via the closed sink); purge = index memory returned, 2,000 per event-loop turn',
      'max loop stall from perf_hooks.monitorEventLoopDelay (1 ms resolution) over the whole purge, after a full GC of the fill',
    ],
  };
}

/** Heap bytes per subscription at 1M subscriptions (needs --expose-gc). */
export async function subscriptionMemoryBench(quick: boolean): Promise<BenchResult> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc (npm run bench does)');
  const n = quick ? 100_000 : 1_000_000;
  const measure = (build: () => unknown) => {
    gc();
    gc();
    const before = process.memoryUsage().heapUsed;
    const keep = build();
    gc();
    gc();
    const bytes = process.memoryUsage().heapUsed - before;
    if (!keep) throw new Error('unreachable');
    return bytes / n;
  };
  const tether = measure(() => {
    const registry = new SubscriptionRegistry(5_000);
    return [registry, fillSinks(registry, n)];
  });
  const plainMap = measure(() => {
    const r = rng(1);
    const map = new Map<string, Set<{ id: string; pattern: string }>>();
    for (let i = 0; i < n; i++) {
      const p = pattern(r);
      let set = map.get(p);
      if (!set) map.set(p, (set = new Set()));
      set.add({ id: `s${i % 1000}`, pattern: p });
    }
    return map;
  });
  return {
    name: 'memory-subscriptions',
    title: `Heap bytes per subscription at ${n.toLocaleString('en')} subscriptions`,
    columns: ['structure', 'bytes/subscription'],
    rows: [
      { structure: 'tether registry (index + per-sink Map, as in the provider)', 'bytes/subscription': Math.round(tether) },
      { structure: 'Map<pattern, Set> (exact-match only, no wildcards)', 'bytes/subscription': Math.round(plainMap) },
    ],
    chart: { unit: 'bytes', groups: [{ group: `${n} subs`, bars: [{ label: 'tether registry', value: tether }, { label: 'Map<pattern, Set>', value: plainMap }] }] },
    notes: ['includes the Subscription objects, their id and pattern strings and the per-sink Map'],
  };
}
