#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { call } from './call-command';
import { type CommonOptions, describeError, failover } from './format';
import { health } from './health-command';
import { publish } from './publish-command';
import { ClientCredentials, clientCredentialProblems } from '../shared/client-credentials';
import { evict, reclaims, revoke, sinks, subscriptions, totals } from './tracker-commands';
import { tail } from './tail-command';

const USAGE = `tether: the command line of the Tether event provider

usage: tether <command> [options]

  publish <topic> [data]      publish one event (--type, --source, --id, --ext key=value…)
  publish --stdin             publish JSON lines from stdin: {"topic":…, "data":…, "type":…, "extensions":{…}}
  tail <subscriptions>        subscribe and print events ('orders.>;payments.*.failed[region=eu]'); --name, --count N
  sinks                       list open sinks
  subs <sink-id>              list a sink's subscriptions
  totals                      live and reclaimed totals, detection latency
  reclaims [--follow]         reclaims by reason; --follow streams them as they happen (--count N)
  evict <sink-id>             close a sink and reclaim its subscriptions (--message)
  revoke <subject>            close every sink of a subject as revoked and refuse its credentials issued until now (--message)
  health [--service name]     grpc.health.v1 status; exit code 0 only when SERVING
  call [Service/Method] [json]
                              any method through server reflection, like grpcurl; no method lists services

options: --address host:port[,host:port…] (default $TETHER_ADDRESS or 127.0.0.1:50051; a list is tried in order
         until a provider answers), --json, --timeout ms (default 5000), --local (sinks, totals, reclaims: this
         replica only, not the fleet)
security: --ca file, --cert file --key file (mTLS), --token-file file (bearer token; implies TLS);
          defaults $TETHER_CA_FILE, $TETHER_CERT_FILE, $TETHER_KEY_FILE, $TETHER_TOKEN_FILE; --plaintext ignores them`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      address: { type: 'string', short: 'a' },
      json: { type: 'boolean', default: false },
      timeout: { type: 'string', default: '5000' },
      help: { type: 'boolean', short: 'h', default: false },
      stdin: { type: 'boolean', default: false },
      type: { type: 'string' },
      source: { type: 'string' },
      id: { type: 'string' },
      ext: { type: 'string', multiple: true },
      name: { type: 'string', default: 'tether-cli' },
      count: { type: 'string', default: '0' },
      follow: { type: 'boolean', short: 'f', default: false },
      message: { type: 'string', default: '' },
      service: { type: 'string', default: '' },
      local: { type: 'boolean', default: false },
      ca: { type: 'string', default: process.env.TETHER_CA_FILE ?? '' },
      cert: { type: 'string', default: process.env.TETHER_CERT_FILE ?? '' },
      key: { type: 'string', default: process.env.TETHER_KEY_FILE ?? '' },
      'token-file': { type: 'string', default: process.env.TETHER_TOKEN_FILE ?? '' },
      plaintext: { type: 'boolean', default: false },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    process.stdout.write(USAGE + '\n');
    return command || values.help ? 0 : 2;
  }
  // --plaintext ignores the credential settings: for a plaintext endpoint such as a consumer's health port.
  const files = values.plaintext
    ? { caFile: '', certFile: '', keyFile: '', tokenFile: '' }
    : { caFile: values.ca, certFile: values.cert, keyFile: values.key, tokenFile: values['token-file'] };
  const problems = clientCredentialProblems(files);
  if (problems.length > 0) throw new Error(problems.join('; '));
  const opts: CommonOptions = {
    address: values.address ?? process.env.TETHER_ADDRESS ?? '127.0.0.1:50051',
    json: values.json,
    timeoutMs: Number(values.timeout),
    credentials: new ClientCredentials(files).channel(),
  };
  const count = Number(values.count);
  const need = (what: string) => {
    if (!rest[0]) throw new Error(`${command} needs ${what}`);
    return rest[0];
  };
  switch (command) {
    case 'publish': {
      const extensions = Object.fromEntries((values.ext ?? []).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
      const event = rest[0] ? { topic: rest[0], data: rest[1], type: values.type, source: values.source, id: values.id, extensions } : undefined;
      await publish(opts, { event, stdin: values.stdin });
      return 0;
    }
    case 'tail':
      await failover(opts, (o) => tail(o, need('subscriptions'), values.name, count));
      return 0;
    case 'sinks':
      await failover(opts, (o) => sinks(o, values.local));
      return 0;
    case 'subs':
      await failover(opts, (o) => subscriptions(o, need('a sink id')));
      return 0;
    case 'totals':
      await failover(opts, (o) => totals(o, values.local));
      return 0;
    case 'reclaims':
      await failover(opts, (o) => reclaims(o, values.follow, count, values.local));
      return 0;
    case 'evict':
      await failover(opts, (o) => evict(o, need('a sink id'), values.message));
      return 0;
    case 'revoke':
      await revoke(opts, need('a subject'), values.message);
      return 0;
    case 'health':
      return health(opts, values.service);
    case 'call':
      await failover(opts, (o) => call(o, rest[0], rest[1] ?? ''));
      return 0;
    default:
      process.stderr.write(`unknown command "${command}"\n\n${USAGE}\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`tether: ${describeError(err)}\n`);
    process.exit(1);
  },
);
