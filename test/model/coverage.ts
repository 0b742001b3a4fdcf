/**
 * Counts of what the model runs exercised (commands that ran, reclaims by reason, splits, gaps, pauses…),
 * printed with TETHER_MODEL_STATS=1 so a passing run can show it reached the paths it is meant to test.
 */
const counts = new Map<string, number>();

export function note(what: string, n = 1): void {
  counts.set(what, (counts.get(what) ?? 0) + n);
}

export function coverageReport(): string {
  return [...counts.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k.padEnd(48)} ${v}`)
    .join('\n');
}

