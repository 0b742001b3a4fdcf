/**
 * Whether the pattern's tokens from index `from` on match the topic's tokens from `from` on, read
 * straight from the pattern string: a leaf of the index keeps no tokens of its own, so this must not
 * allocate (no split, no substring).
 */
export function suffixMatches(pattern: string, tokens: readonly string[], from: number): boolean {
  let pos = 0;
  for (let skip = from; skip > 0; skip--) {
    pos = pattern.indexOf('.', pos) + 1;
    // The trie matched `from` tokens on the way here, so a pattern that runs out has exactly that many.
    if (pos === 0) return tokens.length === from;
  }
  for (let i = from; ; i++) {
    let end = pattern.indexOf('.', pos);
    if (end < 0) end = pattern.length;
    const single = end - pos === 1;
    if (single && pattern.charCodeAt(pos) === 62 /* '>' */) return i < tokens.length;
    if (i === tokens.length) return false;
    if (!(single && pattern.charCodeAt(pos) === 42) /* '*' */) {
      const token = tokens[i];
      if (token.length !== end - pos || !pattern.startsWith(token, pos)) return false;
    }
    if (end === pattern.length) return i + 1 === tokens.length;
    pos = end + 1;
  }
}
