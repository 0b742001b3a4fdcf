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

/**
 * Known provider bugs the model can be told to step over (TETHER_MODEL_TOLERATE=a,b), so a long run
 * can look for other ones; each still counts in the coverage report. See test/model-regressions.test.ts.
 */
export function tolerated(bug: string): boolean {
  return (process.env.TETHER_MODEL_TOLERATE ?? '').split(',').includes(bug);
}
