import fc from 'fast-check';
import { commandArbitraries } from './command-arbitraries';
import { coverageReport } from './coverage';
import { runModel, scenarioArb } from './scenario';

/**
 * Issue 9, point 5: random sequences of consumer, publisher, operator and clock actions against the
 * provider's own objects (no sockets), compared after every step with a plain model. Runs, seed and
 * replay path come from the environment, so `npm run test:model -- --runs=N --seed=S --path=P
 * --replay-path=R` (test/model/run-model.js) can drive it.
 */
const env = process.env;
const path = env.TETHER_MODEL_PATH || undefined;
// A replay path starts with the index of the failing run: run at least that many.
const runs = Math.max(Number(env.TETHER_MODEL_RUNS ?? 1_000), path ? Number(path.split(':')[0]) + 1 : 0);
const seed = env.TETHER_MODEL_SEED === undefined ? undefined : Number(env.TETHER_MODEL_SEED);
const replayPath = env.TETHER_MODEL_REPLAY_PATH || undefined;
const maxCommands = Number(env.TETHER_MODEL_MAX_COMMANDS ?? 50);

test(
  `the provider's sinks, registry and tracker agree with the model (${runs} runs of up to ${maxCommands} commands)`,
  async () => {
    const commands = fc.commands(commandArbitraries(), { maxCommands, size: 'max', replayPath });
    const property = fc.asyncProperty(scenarioArb, commands, (config, cmds) => runModel(config, cmds));
    const details = await fc.check(property, { numRuns: runs, seed, path, endOnFailure: path !== undefined });
    if (details.failed) {
      const shown = String(details.counterexample?.[1] ?? '');
      const commandsPath = /replayPath="([^"]*)"/.exec(shown)?.[1];
      const replay = `npm run test:model -- --seed=${details.seed} --path=${details.counterexamplePath ?? ''}${commandsPath ? ` --replay-path=${commandsPath}` : ''}`;
      const cause = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
      throw new Error(`${fc.defaultReportMessage(details)}\n\nViolation: ${cause}\n\nReplay with: ${replay}`);
    }
  },
  Math.max(120_000, runs * 200),
);

afterAll(() => {
  if (env.TETHER_MODEL_STATS) console.log(`model coverage:\n${coverageReport()}`);
});
