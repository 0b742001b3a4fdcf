import { startProvider } from '../lib/providers';

/**
 * The provider in a process of its own, so it can be profiled apart from the bench driver. It reports
 * its port, and exits cleanly on {type: 'exit'} so node writes its --cpu-prof file.
 */
const overrides = JSON.parse(process.argv[2] ?? '{}') as Record<string, number>;
setTimeout(() => process.exit(3), 300_000).unref();

startProvider(overrides).then(
  (provider) => {
    process.send?.({ type: 'ready', port: provider.port });
    process.on('message', (m: { type?: string }) => {
      if (m.type !== 'exit') return;
      void provider.stop(100).finally(() => process.exit(0));
    });
  },
  (err: unknown) => {
    process.stderr.write(`provider worker failed: ${String(err)}\n`);
    process.exit(2);
  },
);
