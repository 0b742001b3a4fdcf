/** Milliseconds per unit of a compose duration (Go's time.ParseDuration units). */
const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1_000, ms: 1, us: 0.001, µs: 0.001, ns: 0.000_001 };

/**
 * A compose duration such as `15s`, `1m30s` or `500ms`, in milliseconds. Compose also accepts a bare
 * number of seconds. Throws on anything else, so a typo in docker-compose.yml stops `npm start` at once.
 */
export function parseDuration(text: string | number, what: string): number {
  if (typeof text === 'number') return text * 1_000;
  const trimmed = text.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed) * 1_000;
  const parts = [...trimmed.matchAll(/(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== trimmed) throw new Error(`${what}: "${text}" is not a duration like 15s or 1m30s`);
  return Math.round(parts.reduce((sum, p) => sum + Number(p[1]) * UNIT_MS[p[2]], 0));
}
