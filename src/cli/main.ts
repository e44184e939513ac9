// `sftkit` entry point: dispatches to one command, prints user errors without stack traces.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadCommands } from './commands.js';
import { formatHelp, parseCommandArgs } from './command.js';
import { systemErrorMessage, UserError } from '../util/errors.js';
import { packageRoot } from '../util/paths.js';

function version(): string {
  return JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')).version;
}

export async function main(argv: string[]): Promise<number> {
  const debug = argv.includes('--debug');
  const commands = await loadCommands();
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    const width = Math.max(...commands.map((c) => c.name.length), 8);
    const list = commands.map((c) => `  ${c.name.padEnd(width + 2)}${c.summary}`).join('\n');
    process.stdout.write(
      `sftkit ${version()}: supervised fine-tuning of LLMs in TypeScript\n\nUsage: sftkit <command> [options]\n\nCommands:\n${list}\n\nRun 'sftkit <command> --help' for a command's options. Add --debug to see stack traces.\n`,
    );
    return name ? 0 : 1;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(version() + '\n');
    return 0;
  }
  const cmd = commands.find((c) => c.name === name);
  if (!cmd) {
    process.stderr.write(`sftkit: unknown command '${name}'. Commands: ${commands.map((c) => c.name).join(', ')}\n`);
    return 2;
  }
  try {
    const { values, positionals } = parseCommandArgs(cmd, rest);
    if (values.help) {
      process.stdout.write(formatHelp(cmd) + '\n');
      return 0;
    }
    const code = await cmd.run(values, positionals);
    return typeof code === 'number' ? code : 0;
  } catch (e) {
    const err = e as Error;
    const system = err instanceof UserError ? null : systemErrorMessage(err);
    if (system !== null && !debug) {
      // The environment refused (disk full, permissions, a folder where a file belongs): not a bug in sftkit.
      process.stderr.write(`sftkit ${name}: ${system}\n`);
    } else if (debug || !(err instanceof UserError)) {
      // Unexpected errors keep their stack: they are bugs to report.
      process.stderr.write(
        (debug
          ? (err.stack ?? String(err))
          : `sftkit ${name}: ${err.message}\n(internal error; rerun with --debug for the stack trace)`) + '\n',
      );
    } else {
      process.stderr.write(`${err.message}\n`);
    }
    return 1;
  }
}
