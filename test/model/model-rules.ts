/**
 * The model's own reading of the protocol's rules, written from sink.proto and the README rather than
 * taken from the provider's code: what a name, a pattern and a match are, and how big a delivery is on
 * the wire. The provider's implementations are what the model test checks, so none is imported here.
 */

const CONTROL = /[\u0000-\u001f\u007f-\u009f\ufffd\u2028\u2029]/u;
const TOKEN = /^[A-Za-z0-9_\-:$@]+$/;

export interface RuleLimits {
  readonly maxPatternLength: number;
  readonly maxPatternDepth: number;
}

/** A consumer name or subscription id: printable, non-empty, within its byte limit. */
export function validName(value: string, maxBytes: number): boolean {
  return value.length > 0 && Buffer.byteLength(value, 'utf8') <= maxBytes && !CONTROL.test(value);
}

function tokensWithin(text: string, limits: RuleLimits): string[] | undefined {
  if (text.length === 0 || text.length > limits.maxPatternLength) return undefined;
  const tokens = text.split('.');
  return tokens.length > limits.maxPatternDepth ? undefined : tokens;
}

/** NATS-style: '*' is one token, '>' one or more trailing tokens and only last. */
export function validPattern(pattern: string, limits: RuleLimits): boolean {
  const tokens = tokensWithin(pattern, limits);
  if (!tokens) return false;
  return tokens.every((t, i) => t === '*' || (t === '>' && i === tokens.length - 1) || TOKEN.test(t));
}

export function validTopic(topic: string, limits: RuleLimits): boolean {
  const tokens = tokensWithin(topic, limits);
  return tokens !== undefined && tokens.every((t) => TOKEN.test(t));
}

export function patternMatches(pattern: readonly string[], topic: readonly string[]): boolean {
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i] === '>') return topic.length > i;
    if (i >= topic.length) return false;
    if (pattern[i] !== '*' && pattern[i] !== topic[i]) return false;
  }
  return pattern.length === topic.length;
}

function varintLength(n: number): number {
  let len = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

/** A length-delimited protobuf field with a one-byte tag. */
export function fieldSize(bodyBytes: number): number {
  return 1 + varintLength(bodyBytes) + bodyBytes;
}

/** The body of a Delivery naming `ids` for an event of `eventBytes` encoded bytes. */
export function deliverySize(eventBytes: number, ids: readonly string[]): number {
  return ids.reduce((sum, id) => sum + fieldSize(Buffer.byteLength(id, 'utf8')), fieldSize(eventBytes));
}
