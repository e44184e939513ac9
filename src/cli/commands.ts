// The command table: one import per command file, in the order `sftkit --help` lists them. All of them load
// (with the library code they import) on every run, even for --help: import() here is not lazy loading.
import type { Command } from './command.js';

export async function loadCommands(): Promise<Command[]> {
  const modules = await Promise.all([
    import('./create-model.js'),
    import('./bench.js'),
    import('./export.js'),
    import('./dump.js'),
    import('./merge.js'),
    import('./quantize.js'),
    import('./data.js'),
    import('./train.js'),
    import('./quickstart.js'),
    import('./generate.js'),
    import('./chat.js'),
    import('./eval.js'),
    import('./serve.js'),
    import('./dashboard.js'),
    import('./export-run.js'),
    import('./import-run.js'),
  ]);
  return modules.map((m: { command: Command }) => m.command);
}
