import * as fs from 'node:fs';
import * as path from 'node:path';
import { encodeAccount, encodeOperator, encodeUser, fmtCreds } from '@nats-io/jwt';
import { type KeyPair, createAccount, createOperator, createUser, fromSeed } from '@nats-io/nkeys';
import type { DevCa } from './pki';
import { writePrivateFile } from './private-file';

/**
 * The dev stack's NATS, locked like the provider: TLS only, and only holders of a `.creds` file signed for
 * the stack's account may connect (NATS's operator mode, JWTs made with the nats.io libraries). Without this
 * NATS would be a way around every rule the provider enforces.
 *
 * The operator and account keys are kept in `keysDir` (seen by the credentials step only): JetStream files
 * its streams under the account's public key, so a new account on every `up` would orphan the event log.
 * The server certificate, the config and the provider's user credentials are made anew each time.
 */
export interface DevNatsFiles {
  /** The nats-server config: operator, account and TLS; pass with `-c`. */
  readonly config: string;
  /** The `.creds` file the providers connect with. */
  readonly creds: string;
}

const ACCOUNT = 'tether';
/** An account with no limits but the ones NATS needs spelled out: an absent limit means zero. */
const UNLIMITED = { subs: -1, conn: -1, leaf: -1, imports: -1, exports: -1, data: -1, payload: -1, wildcards: true, mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 };

export async function makeDevNats(ca: DevCa, natsDir: string, keysDir: string, credsFile: string, validDays: number, now = Date.now()): Promise<DevNatsFiles> {
  fs.mkdirSync(natsDir, { recursive: true });
  const server = ca.issue('nats', natsDir, 'server', { san: ['DNS:nats', 'DNS:localhost', 'IP:127.0.0.1'], days: validDays + 1 });
  fs.copyFileSync(ca.cert, path.join(natsDir, 'ca.pem'));
  const operator = keptKey(path.join(keysDir, 'nats-operator.nk'), createOperator);
  const account = keptKey(path.join(keysDir, 'nats-account.nk'), createAccount);
  const system = keptKey(path.join(keysDir, 'nats-system.nk'), createAccount);
  const user = createUser();
  const operatorJwt = await encodeOperator('tether-dev', operator, { system_account: system.getPublicKey() });
  const accountJwt = await encodeAccount(ACCOUNT, account, { limits: UNLIMITED }, { signer: operator });
  const systemJwt = await encodeAccount('SYS', system, {}, { signer: operator });
  const expires = Math.floor(now / 1000) + validDays * 86_400;
  const userJwt = await encodeUser('provider', user, account, {}, { exp: expires });
  const config = path.join(natsDir, 'nats.conf');
  // The config names its files by absolute path: compose mounts this directory at the same path in the
  // credentials step and in NATS, and npm start gives both the same local directory.
  writePrivateFile(
    config,
    [
      `operator: ${operatorJwt}`,
      `system_account: ${system.getPublicKey()}`,
      'resolver: MEMORY',
      'resolver_preload: {',
      `  ${account.getPublicKey()}: ${accountJwt}`,
      `  ${system.getPublicKey()}: ${systemJwt}`,
      '}',
      'tls {',
      `  cert_file: ${JSON.stringify(server.cert)}`,
      `  key_file: ${JSON.stringify(server.key)}`,
      '  timeout: 2',
      '}',
      '',
    ].join('\n'),
  );
  writePrivateFile(credsFile, Buffer.from(fmtCreds(userJwt, user)).toString());
  return { config, creds: credsFile };
}

/** The key in `file`, made and saved there the first time. */
function keptKey(file: string, make: () => KeyPair): KeyPair {
  if (fs.existsSync(file)) return fromSeed(Buffer.from(fs.readFileSync(file, 'utf8').trim()));
  const key = make();
  fs.mkdirSync(path.dirname(file), { recursive: true });
  writePrivateFile(file, Buffer.from(key.getSeed()).toString() + '\n');
  return key;
}
