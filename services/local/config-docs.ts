import { settingsMarkdown } from '../../shared/config';
import { consumerSettings } from '../consumer/consumer-config';
import { providerSettings } from '../provider/provider-config';
import { publisherSettings } from '../publisher/publisher-config';

/** The README's configuration tables, generated from the settings the services load (`npm run docs:config`). */
export function configDocs(): string {
  return [
    '### Provider',
    '',
    settingsMarkdown(providerSettings),
    '',
    '### Consumer',
    '',
    settingsMarkdown(consumerSettings),
    '',
    '### Sample publisher',
    '',
    settingsMarkdown(publisherSettings),
  ].join('\n');
}

if (require.main === module) process.stdout.write(configDocs() + '\n');
