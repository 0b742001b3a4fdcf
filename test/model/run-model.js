#!/usr/bin/env node
'use strict';
/**
 * npm run test:model -- [--runs=N] [--seed=S] [--path=P] [--replay-path=R] [--max-commands=M] [--stats]
 *
 * Runs the model test (test/model) through jest with those settings in the environment. A failure
 * prints the seed, path and replay path; pass them back to replay and shrink the same counterexample.
 */
const { spawn } = require('node:child_process');

const options = {
  runs: 'TETHER_MODEL_RUNS',
  seed: 'TETHER_MODEL_SEED',
  path: 'TETHER_MODEL_PATH',
  'replay-path': 'TETHER_MODEL_REPLAY_PATH',
  'max-commands': 'TETHER_MODEL_MAX_COMMANDS',
  stats: 'TETHER_MODEL_STATS',
};

const env = { ...process.env };
for (const arg of process.argv.slice(2)) {
  const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
  const name = match && options[match[1]];
  if (!name) {
    process.stderr.write(`unknown argument ${arg}; expected ${Object.keys(options).map((o) => `--${o}`).join(', ')}\n`);
    process.exit(2);
  }
  const value = match[2] ?? '1';
  if (['runs', 'seed', 'max-commands'].includes(match[1]) && !/^-?\d+$/.test(value)) {
    process.stderr.write(`--${match[1]} takes an integer, got ${JSON.stringify(value)}\n`);
    process.exit(2);
  }
  env[name] = value;
}
if (env.TETHER_MODEL_SEED === undefined) {
  // Chosen here, not by fast-check, so it is printed before the run starts and a hung run can be replayed.
  env.TETHER_MODEL_SEED = String(Math.floor(Math.random() * 0x7fffffff));
}
process.stdout.write(`model test: runs=${env.TETHER_MODEL_RUNS ?? 1000} seed=${env.TETHER_MODEL_SEED}${env.TETHER_MODEL_PATH ? ` path=${env.TETHER_MODEL_PATH}` : ''}\n`);

const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';
const child = spawn(npx, ['jest', 'test/model', '--forceExit'], { stdio: 'inherit', env });
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
child.on('error', (err) => {
  process.stderr.write(`could not start jest: ${err.message}\n`);
  process.exit(1);
});
