/** One violated check: what was expected, what was seen, and when (seconds into the run). */
export interface Violation {
  readonly atSec: number;
  readonly check: string;
  readonly detail: string;
}

const KEEP = 200;

/** Everything the soak found: violations (the run fails), and a progress log on stdout. */
export class Findings {
  readonly violations: Violation[] = [];
  private total = 0;

  constructor(readonly startedAt = Date.now()) {}

  get elapsedSec(): number {
    return (Date.now() - this.startedAt) / 1000;
  }

  get count(): number {
    return this.total;
  }

  violate(check: string, detail: string): void {
    this.total++;
    const v = { atSec: this.elapsedSec, check, detail };
    if (this.violations.length < KEEP) this.violations.push(v);
    this.say(`VIOLATION ${check}: ${detail}`);
  }

  say(line: string): void {
    process.stdout.write(`[${this.elapsedSec.toFixed(1).padStart(6)} s] ${line}\n`);
  }
}
