import { z } from 'zod';

/**
 * One table of settings per service: environment name, default, bounds and meaning. The same table
 * validates the environment at start-up and prints the README's configuration table, so they cannot drift.
 */
export interface Setting<T> {
  readonly env: string;
  readonly default: T;
  readonly doc: string;
  readonly schema: z.ZodType<T>;
}

export function int(env: string, defaultValue: number, doc: string, min = 0, max = Number.MAX_SAFE_INTEGER): Setting<number> {
  return { env, default: defaultValue, doc, schema: z.coerce.number().int().min(min).max(max) };
}

export function str(env: string, defaultValue: string, doc: string): Setting<string> {
  return { env, default: defaultValue, doc, schema: z.string().min(1) };
}

/** One of a fixed set of words; the first is usually the default. */
export function oneOf<T extends string>(env: string, defaultValue: T, values: readonly T[], doc: string): Setting<T> {
  return { env, default: defaultValue, doc, schema: z.enum(values as [T, ...T[]]) as unknown as z.ZodType<T> };
}

/** A string that may be empty (an optional file path or name): empty means "not set". */
export function optionalStr(env: string, doc: string): Setting<string> {
  return { env, default: '', doc, schema: z.string() };
}

export type SettingsTable = Record<string, Setting<unknown>>;
export type ConfigOf<T extends SettingsTable> = { readonly [K in keyof T]: T[K] extends Setting<infer V> ? V : never };

/**
 * Reads every setting once into a frozen object. A bad value throws one error naming each variable
 * at fault; `check` adds rules that span settings.
 */
export function loadConfig<T extends SettingsTable>(
  table: T,
  env: Record<string, string | undefined> = process.env,
  check?: (config: ConfigOf<T>) => string[],
): ConfigOf<T> {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [key, setting] of Object.entries(table)) {
    const raw = env[setting.env];
    if (raw === undefined || raw === '') {
      out[key] = setting.default;
      continue;
    }
    const parsed = setting.schema.safeParse(raw);
    if (parsed.success) out[key] = parsed.data;
    else problems.push(`${setting.env}=${JSON.stringify(raw)}: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  }
  if (problems.length === 0 && check) problems.push(...check(out as ConfigOf<T>));
  if (problems.length > 0) throw configError(problems);
  return Object.freeze(out) as ConfigOf<T>;
}

/** One problem is one line; several are listed under a heading. */
export function configError(problems: string[]): Error {
  return new Error(problems.length === 1 ? `invalid configuration: ${problems[0]}` : `invalid configuration:\n  ${problems.join('\n  ')}`);
}

/** The markdown rows of a settings table, for the README. */
export function settingsMarkdown(table: SettingsTable): string {
  const rows = Object.values(table).map((s) => {
    const value = Array.isArray(s.default) ? s.default.join(',') : String(s.default);
    return `| \`${s.env}\` | \`${value}\` | ${s.doc} |`;
  });
  return ['| variable | default | meaning |', '|---|---|---|', ...rows].join('\n');
}
