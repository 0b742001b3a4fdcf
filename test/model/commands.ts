import type fc from 'fast-check';
import { note } from './coverage';
import { ModelViolation, type ModelSession, type SinkModel } from './sink-model';
import type { World } from './world';

/**
 * What every model command shares: the command type, how a command picks its target, and the step
 * after each one (let promises and deferred work run, then verify). The commands themselves are in
 * consumer-commands.ts and provider-commands.ts, their arbitraries in command-arbitraries.ts.
 */

export type ModelCommand = fc.AsyncCommand<SinkModel, World>;

export const PEERS = ['10.0.0.1:4001', '10.0.0.1:4002', '10.0.0.2:4001'];

export function fail(message: string): never {
  throw new ModelViolation(message);
}

export function pick<T>(list: readonly T[], k: number): T | undefined {
  return list.length === 0 ? undefined : list[k % list.length];
}

/** Sessions whose consumer can still send. */
export type Sessions = { readonly sessions: readonly ModelSession[] };
export const sendable = (m: Sessions) => m.sessions.filter((s) => !s.clientDone);
/**
 * Where a request goes: mostly to a consumer whose sink is open (so requests have an effect to check),
 * one time in five to any consumer that can still send (unopened, refused or closed sinks).
 */
export function requestTarget(m: Sessions, k: number): ModelSession | undefined {
  const any = sendable(m);
  const open = any.filter((s) => s.sink?.state === 'open');
  return k % 5 === 0 || open.length === 0 ? pick(any, Math.floor(k / 5)) : pick(open, k);
}
export const notCancelled = (m: Sessions) => m.sessions.filter((s) => !s.clientCancelled);
export const withSink = (m: Sessions) => m.sessions.filter((s) => s.sink !== undefined);

/** After a command: let promises and (unless told not to) deferred work run, then compare. */
export async function settleAndVerify(m: SinkModel, w: World, runDeferred: boolean): Promise<void> {
  await settle(m, w, runDeferred);
  m.verify(w, runDeferred);
}

export async function settle(m: SinkModel, w: World, runDeferred: boolean): Promise<void> {
  const before = new Map(w.sessions.map((ws) => [ws.key, ws.stream.block]));
  await w.settle(runDeferred);
  if (runDeferred) m.settled(w, before);
}

export function settleTag(settle: boolean): string {
  return settle ? '' : ', unsettled';
}

export abstract class Base implements ModelCommand {
  constructor(readonly settle: boolean) {}
  abstract check(m: Readonly<SinkModel>): boolean;
  protected abstract act(m: SinkModel, w: World): Promise<void> | void;
  async run(m: SinkModel, w: World): Promise<void> {
    note(`command ${this.constructor.name}`);
    await this.act(m, w);
    await settleAndVerify(m, w, this.settle);
  }
  abstract toString(): string;
}
