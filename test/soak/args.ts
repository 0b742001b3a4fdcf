import { FAULT_KINDS, type FaultKind } from './fault-context';

/** The soak's command line: `--minutes=N --seed=S --consumers=K --rate=R --checkpoint-every=SEC --keepalive-timeout-ms=MS --only=kind,kind`. */
export interface SoakArgs {
  readonly minutes: number;
  readonly seed: number;
  readonly consumers: number;
  /** Events per second from the steady publisher. */
  readonly rate: number;
  /** Seconds of fault injection between two checkpoints. */
  readonly checkpointEverySec: number;
  /** The provider's keepalive ping timeout (pings go every 500 ms). */
  readonly keepaliveTimeoutMs: number;
  /** The fault kinds to inject (all by default), to reproduce one finding in isolation. */
  readonly only: readonly FaultKind[];
}

export const DEFAULT_KEEPALIVE_TIMEOUT_MS = 1_500;

type NumericArg = Exclude<keyof SoakArgs, 'only'>;

const BOUNDS: Record<NumericArg, [min: number, max: number]> = {
  minutes: [0.25, 240],
  seed: [0, 2 ** 31 - 1],
  consumers: [2, 200],
  rate: [10, 5_000],
  checkpointEverySec: [5, 600],
  keepaliveTimeoutMs: [100, 30_000],
};

const FLAGS: Record<string, NumericArg> = {
  minutes: 'minutes',
  seed: 'seed',
  consumers: 'consumers',
  rate: 'rate',
  'checkpoint-every': 'checkpointEverySec',
  'keepalive-timeout-ms': 'keepaliveTimeoutMs',
};

/** Defaults sized for a 2-core machine: two dozen consumer processes and a modest steady rate. */
export function parseArgs(argv: readonly string[]): SoakArgs {
  let only: FaultKind[] = [...FAULT_KINDS];
  const out: Record<NumericArg, number> = {
    minutes: 2,
    seed: Math.floor(Math.random() * 2 ** 31),
    consumers: 24,
    rate: 200,
    checkpointEverySec: 12,
    keepaliveTimeoutMs: DEFAULT_KEEPALIVE_TIMEOUT_MS,
  };
  for (const arg of argv) {
    if (arg.startsWith('--only=')) {
      only = arg.slice('--only='.length).split(',') as FaultKind[];
      const unknown = only.filter((k) => !FAULT_KINDS.includes(k));
      if (unknown.length > 0 || only.length === 0) throw new Error(`--only takes fault kinds from ${FAULT_KINDS.join(',')}; got "${unknown.join(',')}"`);
      continue;
    }
    const m = /^--([a-z-]+)=(.+)$/.exec(arg);
    const key = m ? FLAGS[m[1]] : undefined;
    if (!m || !key) throw new Error(`unknown argument "${arg}"; expected ${Object.keys(FLAGS).map((f) => `--${f}=N`).join(' ')} --only=kind,…`);
    const value = Number(m[2]);
    const [min, max] = BOUNDS[key];
    if (!Number.isFinite(value) || value < min || value > max) throw new Error(`--${m[1]} must be a number in [${min}, ${max}], got "${m[2]}"`);
    out[key] = key === 'minutes' ? value : Math.floor(value);
  }
  return { ...out, only };
}
