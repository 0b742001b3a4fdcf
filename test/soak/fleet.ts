import { ConsumerProcess, type ConsumerStatus } from '../helpers/consumer-process';
import { SilentProxy } from '../helpers/silent-proxy';
import { waitFor } from '../helpers/wait';
import type { Rng } from './rng';

export const MAX_SUBSCRIPTIONS = 500;

/** What the consumer's /status reports beyond the helper's type: the gaps it was told of. */
export interface SoakStatus extends ConsumerStatus {
  gaps: Array<{ requestedEpoch: string; requestedAfterSequence: number; epoch: string; firstAvailableSequence: number; reason: string }>;
}

/** One consumer of the fleet: its fixed name and subscriptions, and the process currently playing it. */
export interface Member {
  readonly name: string;
  /** Subscribes `soak.1.ev` … `soak.<subscriptions>.ev`, with ids `s-1` … `s-<subscriptions>`. */
  readonly subscriptions: number;
  readonly proxy: SilentProxy | undefined;
  proc: ConsumerProcess;
  /** Killed at least once: its losses across a process restart are not checked. */
  killed: boolean;
  restarts: number;
  /** A fault is in progress on it. */
  busy: boolean;
}

/** The subscription list in the consumer's CONSUMER_SUBSCRIPTIONS syntax (a one-element range keeps its bare id, so spell it). */
export function subscriptionList(n: number): string {
  return n === 1 ? 's-1=soak.1.ev' : `s=soak.{1..${n}}.ev`;
}

/**
 * Dozens of real consumer processes. Sizes run from 1 to 500 subscriptions (always including both ends);
 * every `proxyEvery`-th consumer reaches the provider through its own SilentProxy so its path can go silent.
 */
export class Fleet {
  readonly members: Member[] = [];
  private readonly ports = new WeakMap<ConsumerProcess, number>();

  constructor(
    private readonly providerPort: number,
    private readonly count: number,
    private readonly rng: Rng,
    private readonly proxyEvery = 6,
  ) {}

  /**
   * Starts the consumers a few at a time, each group subscribed before the next starts: two dozen node
   * processes booting at once starve a 2-core machine for seconds.
   */
  async start(groupSize = 4, groupTimeoutMs = 30_000): Promise<void> {
    for (let i = 0; i < this.count; i++) {
      const subscriptions = i === 0 ? MAX_SUBSCRIPTIONS : i === 1 ? 1 : this.rng.int(1, MAX_SUBSCRIPTIONS);
      const proxy = i % this.proxyEvery === this.proxyEvery - 1 ? new SilentProxy(this.providerPort) : undefined;
      if (proxy) await proxy.start();
      const name = `soak-c${String(i + 1).padStart(2, '0')}`;
      const member: Member = { name, subscriptions, proxy, proc: undefined as unknown as ConsumerProcess, killed: false, restarts: 0, busy: false };
      member.proc = this.spawn(member);
      this.members.push(member);
      if (this.members.length % groupSize === 0 || i === this.count - 1) await this.waitSubscribed(this.members.slice(-groupSize), groupTimeoutMs);
    }
  }

  /** Waits (bounded) until each member's /status says subscribed; false on timeout. */
  waitSubscribed(members: readonly Member[], timeoutMs: number): Promise<boolean> {
    return waitFor('consumers subscribed', async () => (await Promise.all(members.map((m) => this.status(m)))).every((s) => s?.subscribed), timeoutMs, 100).then(
      () => true,
      () => false,
    );
  }

  get totalSubscriptions(): number {
    return this.members.reduce((sum, m) => sum + m.subscriptions, 0);
  }

  /** Replaces a killed member's process with a fresh one (same name, same subscriptions). */
  async restart(member: Member): Promise<void> {
    await member.proc.kill();
    member.restarts++;
    member.proc = this.spawn(member);
  }

  /** The member's /status, or undefined if it does not answer within `timeoutMs` (stopped, starting, dead). */
  async status(member: Member, timeoutMs = 2_000): Promise<SoakStatus | undefined> {
    const port = this.metricsPort(member.proc);
    if (!port) return undefined;
    try {
      const res = await fetch(`http://127.0.0.1:${port}/status`, { signal: AbortSignal.timeout(timeoutMs) });
      return (await res.json()) as SoakStatus;
    } catch {
      return undefined;
    }
  }

  /** Stops every consumer cleanly (SIGTERM, with SIGCONT in case one is stopped), then every proxy. */
  async stop(timeoutMs = 10_000): Promise<void> {
    await Promise.all(
      this.members.map(async (m) => {
        m.proc.signal('SIGCONT');
        m.proc.signal('SIGTERM');
        const timer = setTimeout(() => m.proc.signal('SIGKILL'), timeoutMs);
        await m.proc.exited;
        clearTimeout(timer);
      }),
    );
    await Promise.all(this.members.map((m) => m.proxy?.stop()));
  }

  /** Read once from the start-up log line and kept: the process keeps only the tail of its log. */
  private metricsPort(proc: ConsumerProcess): number | undefined {
    let port = this.ports.get(proc);
    if (port === undefined) {
      port = Number(/"metricsPort":(\d+)/.exec(proc.log)?.[1] ?? 0) || undefined;
      if (port) this.ports.set(proc, port);
    }
    return port;
  }

  private spawn(member: Member): ConsumerProcess {
    const port = member.proxy ? member.proxy.port : this.providerPort;
    return new ConsumerProcess({
      TETHER_PROVIDER_ADDRESS: `127.0.0.1:${port}`,
      CONSUMER_NAME: member.name,
      CONSUMER_SUBSCRIPTIONS: subscriptionList(member.subscriptions),
      CONSUMER_IDLE_TIMEOUT_MS: '2000',
      CONSUMER_BACKOFF_INITIAL_MS: '50',
      CONSUMER_BACKOFF_MAX_MS: '500',
    });
  }
}
