// `sftkit quickstart`: pre-train a small base model (cached), LoRA-SFT it on the bundled chat data, and show
// the same held-out prompts answered before and after.
import type { Command } from './command.js';
import { formatQuickstartReport, runQuickstart } from '../quickstart/quickstart.js';

export const command: Command = {
  name: 'quickstart',
  summary: 'Fine-tune a small model offline in a few minutes and show answers before/after SFT',
  usage: 'sftkit quickstart [--output_dir DIR] [--rebuild-base]',
  flags: {
    output_dir: { type: 'string', help: 'Where the adapter, metrics and loss curve go', default: 'sftkit-quickstart' },
    'rebuild-base': { type: 'boolean', help: 'Pre-train the base model again even when it is cached' },
    'no-progress': { type: 'boolean', help: 'Plain log lines only (no progress output)' },
  },
  async run(flags) {
    const result = await runQuickstart({
      outputDir: flags.output_dir as string,
      rebuildBase: Boolean(flags['rebuild-base']),
      progress: !flags['no-progress'],
      log: (l) => process.stdout.write(l + '\n'),
    });
    process.stdout.write(formatQuickstartReport(result) + '\n');
    return 0;
  },
};
