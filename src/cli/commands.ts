// The command table: one import per command file, in the order `sftkit --help` lists them.
import type { Command } from './command.js';

export async function loadCommands(): Promise<Command[]> {
  // Imported lazily so `sftkit --help` and light commands start fast.
  const modules = await Promise.all([
    // e.g. import('./train.js'),
  ]);
  return modules.map((m: { command: Command }) => m.command);
}
