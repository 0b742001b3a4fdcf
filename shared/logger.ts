import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * JSON logs by default; `LOG_PRETTY=1` pretty-prints for a terminal (pino-pretty is a dev dependency,
 * so production images stay JSON-only).
 */
export function createLogger(name: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
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
