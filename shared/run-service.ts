import { status } from '@grpc/grpc-js';
import { TetherError } from './errors';
import { createLogger, type Logger, logLevelFromEnv } from './logger';

export interface Running {
  stop(): Promise<void>;
}

/**
 * The one start-up and shutdown path of every service's main: read config (a bad value, LOG_LEVEL
 * included, exits 2 with one line naming it), start, and on SIGTERM or SIGINT stop once and exit 0. A
 * start that throws a TetherError is a refusal the operator must fix (an unwritable state file, say):
 * one line and exit 1. Anything else is a bug and is logged with its stack. A stop that wedges is cut
 * off after `stopCeilingMs`, so a process never hangs on its way out.
 */
export function runService<C>(
  name: string,
  loadConfig: () => C,
  start: (config: C, log: Logger) => Promise<Running>,
  stopCeilingMs: (config: C) => number = () => 10_000,
): void {
  let log: Logger;
  let config: C;
  try {
    log = createLogger(name, logLevelFromEnv());
  } catch (err) {
    createLogger(name, 'info').fatal((err as Error).message);
    process.exitCode = 2;
    return;
  }
  try {
    config = loadConfig();
  } catch (err) {
    log.fatal((err as Error).message);
    process.exitCode = 2;
    return;
  }
  let running: Running | undefined;
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    setTimeout(() => process.exit(1), stopCeilingMs(config)).unref();
    void (running?.stop() ?? Promise.resolve()).then(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  start(config, log).then(
    (r) => {
      running = r;
    },
    (err: unknown) => {
      if (err instanceof TetherError && err.code !== status.INTERNAL) log.fatal(`${name} refused to start: ${err.message}`);
      else log.fatal({ err }, `${name} failed to start`);
      process.exit(1);
    },
  );
}
