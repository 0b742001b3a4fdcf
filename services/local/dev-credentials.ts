import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SignJWT } from 'jose';
import { makeDevNats } from './dev-nats';
import { DevCa } from './pki';
import { writePrivateFile } from './private-file';

/**
 * The dev stack's one-shot credentials step (`docker compose up` runs it first, every time, and so does
 * `npm start`): the provider's certificate, a signed token for each demo service, and NATS's certificate,
 * config and the providers' NATS credentials, each written into that service's own directory (its own
 * volume under compose), so a service holds only its own secrets. Tokens are signed with an Ed25519 key
 * made here and thrown away: the provider gets the public key only (jwks.json), so nothing in the stack
 * can mint new tokens. The CA and the NATS account keys live in `keys` (the credentials step's own
 * volume) and are kept across runs; all they sign is re-made every time, so nothing expires under a demo.
 *
 *     node dist/services/local/dev-credentials.js provider=<dir> orders=<dir> sensors=<dir> publisher=<dir> nats=<dir> keys=<dir>
 */
export const DEV_ISSUER = 'tether-dev';
export const DEV_AUDIENCE = 'tether';
const TOKEN_DAYS = 7;
const CA_DAYS = 365;
/** Directories that hold no demo identity: NATS's files, and the kept CA and NATS keys. */
const OTHER_DIRS = ['nats', 'keys'];

/** Each demo service: the directory it reads and what its token grants. */
export const DEMO_IDENTITIES: Record<string, { sub: string; roles: string[]; publish?: string[]; subscribe?: string[] }> = {
  orders: { sub: 'orders', roles: ['consumer'], subscribe: ['orders.>', 'payments.*.failed'] },
  sensors: { sub: 'sensors', roles: ['consumer'], subscribe: ['sensors.>'] },
  publisher: { sub: 'sample-publisher', roles: ['publisher'], publish: ['orders.>', 'payments.>', 'sensors.>'] },
  // The provider's directory also holds an operator token, for `tether` run next to it.
  provider: { sub: 'operator', roles: ['operator'] },
};

/** Writes each demo service's credentials into its directory (`dirs` maps a DEMO_IDENTITIES key to one). */
export async function makeDevCredentials(dirs: Record<string, string>, now = Date.now()): Promise<void> {
  for (const name of [...Object.keys(DEMO_IDENTITIES), ...OTHER_DIRS]) if (!dirs[name]) throw new Error(`no directory for ${name}`);
  const ca = DevCa.reuseOrCreate(dirs.keys, 'ca', CA_DAYS, TOKEN_DAYS + 2);
  const providerDir = dirs.provider;
  ca.issue('provider', providerDir, 'server', { san: ['DNS:provider', 'DNS:provider-a', 'DNS:provider-b', 'DNS:localhost', 'IP:127.0.0.1'], days: TOKEN_DAYS + 1 });
  await makeDevNats(ca, dirs.nats, dirs.keys, path.join(providerDir, 'nats.creds'), TOKEN_DAYS, now);
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ed25519');
  const kid = `dev-${new Date(now).toISOString().slice(0, 19)}`;
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid, alg: 'EdDSA', use: 'sig' };
  writePrivateFile(path.join(providerDir, 'jwks.json'), JSON.stringify({ keys: [jwk] }, null, 2));
  for (const [dir, who] of Object.entries(DEMO_IDENTITIES)) {
    const target = dirs[dir];
    fs.mkdirSync(target, { recursive: true });
    fs.copyFileSync(ca.cert, path.join(target, 'ca.pem'));
    const { sub, ...grants } = who;
    const token = await new SignJWT(grants)
      .setProtectedHeader({ alg: 'EdDSA', kid })
      .setSubject(sub)
      .setIssuer(DEV_ISSUER)
      .setAudience(DEV_AUDIENCE)
      .setIssuedAt(Math.floor(now / 1000))
      .setExpirationTime(Math.floor(now / 1000) + TOKEN_DAYS * 86_400)
      .sign(privateKey);
    writePrivateFile(path.join(target, dir === 'provider' ? 'operator.token' : 'token'), token + '\n');
  }
}

if (require.main === module) {
  const dirs = Object.fromEntries(process.argv.slice(2).map((arg) => [arg.slice(0, arg.indexOf('=')), path.resolve(arg.slice(arg.indexOf('=') + 1))]));
  if ([...Object.keys(DEMO_IDENTITIES), ...OTHER_DIRS].some((name) => !dirs[name])) {
    process.stderr.write(`usage: dev-credentials ${[...Object.keys(DEMO_IDENTITIES), ...OTHER_DIRS].map((n) => `${n}=<dir>`).join(' ')}\n`);
    process.exit(2);
  }
  makeDevCredentials(dirs).then(
    () => process.stdout.write(`dev credentials written: ${Object.values(dirs).join(', ')}\n`),
    (err: unknown) => {
      process.stderr.write(`dev-credentials: ${(err as Error).message}\n`);
      process.exit(1);
    },
  );
}
