import { consumerFault } from './consumer-faults';
import { FAULT_KINDS, type FaultContext, type FaultKind, type FaultOutcome, sleep } from './fault-context';
import { floodFault } from './flood-client';
import { slowReaderFault } from './slow-reader';

const WEIGHTS: Record<FaultKind, number> = { kill9: 3, 'stop-cont': 2, 'stop-kill': 2, 'silent-proxy': 2, evict: 2, 'slow-reader': 1, flood: 1 };
const MAX_CONCURRENT = 2;
/** No fault runs longer than this: each waits on bounded steps; this is the backstop. */
const FAULT_CEILING_MS = 60_000;

export interface KindStats {
  injected: number;
  detected: number;
  maxLatencyMs: number;
}

/**
 * Injects a random fault every few seconds (seeded), at most MAX_CONCURRENT at once, each on its own
 * target, and keeps count. `runFor` stops by itself at its deadline or the fault budget; `settle` waits for
 * the faults still in progress.
 */
export class FaultInjector {
  readonly stats = new Map<FaultKind, KindStats>(FAULT_KINDS.map((k) => [k, { injected: 0, detected: 0, maxLatencyMs: 0 }]));
  skipped = 0;
  private readonly running = new Set<Promise<void>>();
  private serial = 0;

  private readonly weights: Partial<Record<FaultKind, number>>;

  constructor(
    private readonly ctx: FaultContext,
    private readonly budget: number,
    kinds: readonly FaultKind[] = FAULT_KINDS,
  ) {
    this.weights = Object.fromEntries(kinds.map((k) => [k, WEIGHTS[k]]));
  }

  get injected(): number {
    return [...this.stats.values()].reduce((sum, s) => sum + s.injected, 0);
  }

  async runFor(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline && this.injected + this.running.size < this.budget) {
      await sleep(Math.min(this.ctx.rng.int(1_500, 4_000), Math.max(0, deadline - Date.now())));
      if (Date.now() >= deadline) break;
      if (this.running.size >= MAX_CONCURRENT) continue;
      this.launch(this.ctx.rng.weighted(this.weights as Record<FaultKind, number>));
    }
  }

  async settle(): Promise<void> {
    await Promise.all([...this.running]);
  }

  private launch(kind: FaultKind): void {
    const n = ++this.serial;
    this.ctx.findings.say(`fault #${n}: ${kind}`);
    let timer: NodeJS.Timeout | undefined;
    const ceiling = new Promise<FaultOutcome>((resolve) => {
      timer = setTimeout(() => {
        this.ctx.findings.violate('harness', `fault #${n} (${kind}) still running after ${FAULT_CEILING_MS} ms`);
        resolve({ kind, target: '?' });
      }, FAULT_CEILING_MS);
    });
    const run = Promise.race([this.inject(kind, n), ceiling])
      .catch((err: Error): FaultOutcome => {
        this.ctx.findings.violate('harness', `fault #${n} (${kind}) threw: ${err.stack ?? err.message}`);
        return { kind, target: '?' };
      })
      .then((outcome) => {
        clearTimeout(timer);
        this.record(n, outcome);
      })
      .finally(() => this.running.delete(run));
    this.running.add(run);
  }

  private inject(kind: FaultKind, n: number): Promise<FaultOutcome> {
    switch (kind) {
      case 'slow-reader':
        return slowReaderFault(this.ctx, n);
      case 'flood':
        return floodFault(this.ctx, n);
      default:
        return consumerFault(this.ctx, kind);
    }
  }

  private record(n: number, outcome: FaultOutcome): void {
    if (outcome.skipped) {
      this.skipped++;
      this.ctx.findings.say(`fault #${n}: ${outcome.kind} skipped (${outcome.target ? `${outcome.target} was not subscribed` : 'no idle target'})`);
      return;
    }
    const s = this.stats.get(outcome.kind) as KindStats;
    s.injected++;
    if (outcome.latencyMs !== undefined) {
      s.detected++;
      s.maxLatencyMs = Math.max(s.maxLatencyMs, outcome.latencyMs);
    }
    const latency = outcome.latencyMs === undefined ? 'no reclaim measured' : `reclaimed after ${outcome.latencyMs} ms`;
    this.ctx.findings.say(`fault #${n}: ${outcome.kind} on ${outcome.target} done, ${latency}`);
  }
}
