import pino, { type Level, type Logger } from 'pino';

export type { Logger };

/** The levels LOG_LEVEL accepts: pino's, plus `silent`. */
export const LOG_LEVELS: readonly (Level | 'silent')[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * LOG_LEVEL, checked here because pino throws a bare stack trace on an unknown level. The error
 * message is one line naming the variable and the allowed values, like any other config error.
 */
export function logLevelFromEnv(env: Record<string, string | undefined> = process.env): Level | 'silent' {
  const raw = env.LOG_LEVEL ?? '';
  if (raw === '') return 'info';
  const level = LOG_LEVELS.find((l) => l === raw.toLowerCase());
  if (!level) throw new Error(`invalid configuration: LOG_LEVEL=${JSON.stringify(raw)}: must be one of ${LOG_LEVELS.join(', ')}`);
  return level;
}

/**
 * JSON logs by default; `LOG_PRETTY=1` pretty-prints for a terminal (pino-pretty is a dev dependency,
 * so production images stay JSON-only).
 */
export function createLogger(name: string, level: Level | 'silent' = logLevelFromEnv()): Logger {
  const pretty = process.env.LOG_PRETTY === '1' || process.env.LOG_PRETTY === 'true';
  if (pretty) {
    try {
      require.resolve('pino-pretty');
      return pino({ name, level, transport: { target: 'pino-pretty', options: { destination: 2 } } });
    } catch {
      // pino-pretty absent (production install): fall through to JSON.
    }
  }
  return pino({ name, level }, pino.destination({ fd: 2, sync: false }));
}
