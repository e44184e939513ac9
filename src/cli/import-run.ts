// `sftkit import-run RUN_DIR [--output DIR] [--model DIR]`: bring an exported run's result back (metrics.jsonl,
// loss.svg, tokenizer files) and check that sftkit reproduces the logits of train.py's final model.
import type { Command } from './command.js';
import { UserError } from '../util/errors.js';
import { importRun } from '../handoff/import-run.js';

export const command: Command = {
  name: 'import-run',
  summary: "Take back an export-run folder's result: metrics.jsonl, loss.svg, and a logits check in sftkit",
  usage: 'sftkit import-run RUN_DIR [--output RUN_DIR/output] [--model BASE_DIR]',
  positionals: true,
  flags: {
    output: { type: 'string', help: "train.py's output folder (default RUN_DIR/output)" },
    model: { type: 'string', help: 'Base model folder (default RUN_DIR/base_model, else the path at export)' },
  },
  async run(flags, positionals) {
    const [dir, ...rest] = positionals;
    if (!dir || rest.length > 0) throw new UserError('sftkit import-run: expected one RUN_DIR (see --help)');
    await importRun(dir, {
      output: (flags.output as string | undefined) ?? null,
      model: (flags.model as string | undefined) ?? null,
      log: (l) => process.stdout.write(l + '\n'),
    });
  },
};
