import { TetherError } from './errors';
import { echo } from './text-bounds';

/** Limits on patterns, supplied from config so the provider and its clients agree. */
export interface PatternLimits {
  readonly maxPatternLength: number;
  readonly maxPatternDepth: number;
}

const TOKEN = /^[A-Za-z0-9_\-:$@]+$/;

/**
 * Splits and validates a NATS-style subscription pattern: tokens separated by '.', '*' matches exactly one
 * token, '>' matches one or more trailing tokens and must be last.
 */
export function parsePattern(pattern: string, limits: PatternLimits): string[] {
  const tokens = splitBounded('pattern', pattern, limits);
  tokens.forEach((token, i) => {
    if (token === '*') return;
    if (token === '>') {
      if (i !== tokens.length - 1) throw TetherError.invalid(`'>' must be the last token in ${echo(pattern)}`);
      return;
    }
    if (!TOKEN.test(token)) throw TetherError.invalid(`invalid token ${echo(token)} in pattern ${echo(pattern)}`);
  });
  return tokens;
}

/** Splits and validates an event topic: like a pattern but without wildcards. */
export function parseTopic(topic: string, limits: PatternLimits): string[] {
  const tokens = splitBounded('event topic', topic, limits);
  for (const token of tokens) {
    if (!TOKEN.test(token)) throw TetherError.invalid(`invalid token ${echo(token)} in topic ${echo(topic)}`);
  }
  return tokens;
}

/** Splits on '.', enforcing the length and depth limits with a message naming what was too big. */
function splitBounded(what: string, text: string, limits: PatternLimits): string[] {
  if (text.length === 0) throw TetherError.invalid(`${what} is empty`);
  if (text.length > limits.maxPatternLength) {
    throw TetherError.invalid(`${what} is ${text.length} characters; the limit is ${limits.maxPatternLength}`);
  }
  const tokens = text.split('.');
  if (tokens.length > limits.maxPatternDepth) {
    throw TetherError.invalid(`${what} has ${tokens.length} tokens; the limit is ${limits.maxPatternDepth}`);
  }
  return tokens;
}
