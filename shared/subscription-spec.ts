import type { SubscriptionSpec } from './gen/tether/v1/sink';

/**
 * Parses a subscription list as written in an environment variable or on a command line:
 * entries separated by ';', each `[id=]pattern[key=value,key=value]`, and `{a..b}` expands to a numeric
 * range, so `sensors.{1..300}.reading` is 300 subscriptions. Without an id, the entry itself is the id; an id on a range is numbered (`s-1`, `s-2`…).
 */
export function parseSubscriptionList(text: string, maxEntries = 100_000): SubscriptionSpec[] {
  const specs: SubscriptionSpec[] = [];
  for (const raw of text.split(';').map((s) => s.trim()).filter(Boolean)) {
    const entries = expandRanges(raw, maxEntries - specs.length);
    entries.forEach((entry, i) => {
      const spec = parseEntry(entry);
      // An explicit id on a range entry names the whole range: number its members.
      if (entries.length > 1 && spec.subscriptionId !== entry) spec.subscriptionId = `${spec.subscriptionId}-${i + 1}`;
      specs.push(spec);
    });
  }
  return specs;
}

function parseEntry(entry: string): SubscriptionSpec {
  let head = entry;
  const attributes: Record<string, string> = {};
  const bracket = entry.indexOf('[');
  if (bracket >= 0) {
    if (!entry.endsWith(']')) throw new Error(`cannot parse subscription "${entry}": missing ']'`);
    head = entry.slice(0, bracket);
    for (const pair of entry.slice(bracket + 1, -1).split(',').filter(Boolean)) {
      const eq = pair.indexOf('=');
      if (eq <= 0) throw new Error(`cannot parse attribute "${pair}" in "${entry}": expected key=value`);
      attributes[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
    }
  }
  const eq = head.indexOf('=');
  const id = eq >= 0 ? head.slice(0, eq).trim() : entry;
  const pattern = (eq >= 0 ? head.slice(eq + 1) : head).trim();
  return { subscriptionId: id, pattern, attributes };
}

function expandRanges(entry: string, budget: number): string[] {
  const m = /\{(\d+)\.\.(\d+)\}/.exec(entry);
  if (!m) return [entry];
  const [from, to] = [Number(m[1]), Number(m[2])];
  if (to < from) throw new Error(`empty range ${m[0]} in "${entry}"`);
  if (to - from + 1 > budget) throw new Error(`range ${m[0]} in "${entry}" exceeds the subscription limit`);
  const out: string[] = [];
  for (let i = from; i <= to; i++) {
    out.push(...expandRanges(entry.slice(0, m.index) + i + entry.slice(m.index + m[0].length), budget - out.length));
  }
  return out;
}
