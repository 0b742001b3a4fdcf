import { z } from 'zod';
import { type PatternLimits, parsePattern } from '../../../shared/topic-pattern';
import { nameProblem } from '../../../shared/text-bounds';
import { type Grants, ROLES } from './identity';

/** Subjects are shown to operators and used as metric labels: printable and short. */
export const MAX_SUBJECT_BYTES = 128;
/** Entries in one publish or subscribe list: an allow-list is checked on every publish. */
export const MAX_LIST_ENTRIES = 64;

export function subjectProblem(subject: unknown): string | undefined {
  if (typeof subject !== 'string') return 'sub is missing';
  return nameProblem('sub', subject, MAX_SUBJECT_BYTES) ?? (subject.includes('/') ? "sub must not contain '/' (it separates a consumer name's suffix)" : undefined);
}

const quota = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/**
 * The claims that grant rights, the same in a token and in the certificate mapping file: `roles`,
 * `publish` and `subscribe` pattern lists, and optional `quotas`. Unknown roles and malformed patterns
 * are refused rather than ignored, so a typo never widens or silently narrows what a caller may do.
 */
export function grantsSchema(limits: PatternLimits) {
  const pattern = z.string().superRefine((value, ctx) => {
    try {
      parsePattern(value, limits);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
    }
  });
  return z.object({
    roles: z.array(z.enum(ROLES)).max(ROLES.length).default([]),
    publish: z.array(pattern).max(MAX_LIST_ENTRIES).default([]),
    subscribe: z.array(pattern).max(MAX_LIST_ENTRIES).default([]),
    quotas: z
      .object({ sinks: quota, subscriptions: quota, publish_events_per_s: quota, publish_bytes_per_s: quota })
      .partial()
      .strict()
      .default({}),
  });
}

export function parseGrants(raw: unknown, limits: PatternLimits): Grants {
  const parsed = grantsSchema(limits).safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`${issue.path.join('.') || 'claims'}: ${issue.message}`);
  }
  const q = parsed.data.quotas;
  const quotas: Grants['quotas'] = {
    ...(q.sinks !== undefined && { sinks: q.sinks }),
    ...(q.subscriptions !== undefined && { subscriptions: q.subscriptions }),
    ...(q.publish_events_per_s !== undefined && { publishEventsPerS: q.publish_events_per_s }),
    ...(q.publish_bytes_per_s !== undefined && { publishBytesPerS: q.publish_bytes_per_s }),
  };
  return { roles: parsed.data.roles, publish: parsed.data.publish, subscribe: parsed.data.subscribe, quotas };
}
