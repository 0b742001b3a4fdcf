/**
 * A comma-separated list of provider addresses (`host:port,host:port`), in order of preference. Clients
 * use the current one and move to the next when it fails, wrapping around, so a consumer or publisher
 * fails over between replicas by itself.
 */
export class AddressList {
  readonly all: readonly string[];
  private index = 0;

  constructor(list: string) {
    this.all = parseAddressList(list);
  }

  get current(): string {
    return this.all[this.index];
  }

  /** Moves to the next address (wrapping) and returns it. */
  advance(): string {
    this.index = (this.index + 1) % this.all.length;
    return this.current;
  }
}

export function parseAddressList(list: string): string[] {
  const all = list
    .split(',')
    .map((a) => a.trim())
    .filter(Boolean);
  if (all.length === 0) throw new Error('no provider address given');
  for (const a of all) if (!/^[^\s:]+:\d{1,5}$/.test(a) && !/^\[[0-9a-fA-F:.]+\]:\d{1,5}$/.test(a)) throw new Error(`"${a}" is not host:port`);
  return all;
}
