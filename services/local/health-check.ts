import { execFile } from 'node:child_process';

/**
 * A compose healthcheck, run the way Docker runs it but asynchronously: `npm start` keeps prefixing
 * logs, restarting services and answering Ctrl-C while a check is in flight.
 */
export function runHealthcheck(command: string[], timeoutMs: number, cwd: string): Promise<boolean> {
  const [cmd, ...args] = command;
  return new Promise((resolve) => {
    // A check that overruns its timeout counts as unhealthy, as in Docker; SIGKILL so it cannot linger.
    execFile(cmd === 'node' ? process.execPath : cmd, args, { cwd, timeout: timeoutMs, killSignal: 'SIGKILL' }, (err) => resolve(!err));
  });
}

/**
 * Runs the check every `everyMs` until it passes (true), `withinMs` runs out, or `abandon()` says the
 * wait is pointless (the service gave up, or everything is stopping) (false).
 */
export async function waitHealthy(
  command: string[],
  options: { checkTimeoutMs: number; withinMs: number; everyMs: number; cwd: string; abandon: () => boolean },
): Promise<boolean> {
  const deadline = Date.now() + options.withinMs;
  while (Date.now() < deadline && !options.abandon()) {
    if (await runHealthcheck(command, Math.min(options.checkTimeoutMs, Math.max(1, deadline - Date.now())), options.cwd)) return true;
    await new Promise((resolve) => setTimeout(resolve, options.everyMs));
  }
  return false;
}
