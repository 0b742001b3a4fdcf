import * as fs from 'node:fs';
import * as path from 'node:path';
import { configDocs } from '../services/local/config-docs';

// The README's configuration tables are generated from the settings the services load: they must match.
test('README lists every setting with its default (regenerate with npm run docs:config)', () => {
  const readme = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');
  expect(readme).toContain(configDocs());
});
