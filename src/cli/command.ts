// The shape every CLI command shares: a name, help text, typed flags, and a run function.
import { parseArgs } from 'node:util';
import type { FloatDType } from '../engine/index.js';
import { UserError } from '../util/errors.js';
import { suggestName } from '../util/suggest.js';
import { oneLine } from '../util/json.js';

export interface FlagSpec {
  type: 'string' | 'boolean';
  /** Help text shown by `sftkit <cmd> --help`. */
  help: string;
  short?: string;
  multiple?: boolean;
  default?: string | boolean;
  /** A string flag given bare (last, or followed by another option) takes this value, e.g. 'true'. */
  bare?: string;
}

export interface Command {
  name: string;
  /** One line for `sftkit --help`. */
  summary: string;
  /** Usage line(s) for `sftkit <cmd> --help`, e.g. 'sftkit dump --model DIR --batch FILE --out FILE'. */
  usage: string;
  flags: Record<string, FlagSpec>;
  /** Accept positional arguments (e.g. `sftkit data inspect`, `sftkit bench gemm`). */
  positionals?: boolean;
  run(flags: Record<string, string | boolean | string[] | undefined>, positionals: string[]): Promise<number | void>;
}

export function formatHelp(cmd: Command): string {
  const lines = [cmd.summary, '', 'Usage:', '  ' + cmd.usage.split('\n').join('\n  '), '', 'Options:'];
  const entries = Object.entries(cmd.flags);
  const width = Math.max(10, ...entries.map(([k, s]) => k.length + (s.type === 'string' ? 6 : 0)));
  for (const [name, spec] of entries) {
    const left = `--${name}${spec.type === 'string' ? ' VALUE' : ''}`;
    const def = spec.default !== undefined ? ` (default: ${spec.default})` : '';
    lines.push(`  ${left.padEnd(width + 4)}${spec.help}${def}`);
  }
  lines.push(`  ${'--help'.padEnd(width + 4)}Show this help`);
  return lines.join('\n');
}

/** Parse argv for a command; unknown flags become a UserError that names the command. */
export function parseCommandArgs(cmd: Command, argv: string[]) {
  const options: Record<
    string,
    { type: 'string' | 'boolean'; short?: string; multiple?: boolean; default?: string | boolean }
  > = {
    help: { type: 'boolean', short: 'h' },
    debug: { type: 'boolean' },
  };
  for (const [name, spec] of Object.entries(cmd.flags)) {
    options[name] = {
      type: spec.type,
      ...(spec.short ? { short: spec.short } : {}),
      ...(spec.multiple ? { multiple: true } : {}),
      ...(spec.default !== undefined ? { default: spec.default } : {}),
    };
  }
  // `--learning_rate -1`: a negative number after a string option is its value, not an option.
  // `--full_finetune --max_steps 5`: a bare flag with a `bare` value takes it.
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = argv[i + 1];
    const name = a.startsWith('--') && !a.includes('=') ? a.slice(2) : null;
    const negative = next !== undefined && /^-(\d|\.\d|inf)/i.test(next);
    const bare = name ? cmd.flags[name]?.bare : undefined;
    if (name && options[name]?.type === 'string' && negative) {
      args.push(`${a}=${next}`);
      i++;
    } else if (bare !== undefined && (next === undefined || next.startsWith('-'))) args.push(`${a}=${bare}`);
    else args.push(a);
  }
  try {
    const { values, positionals } = parseArgs({ args, options, allowPositionals: true, strict: true });
    if (!cmd.positionals && positionals.length > 0) {
      throw new UserError(
        `sftkit ${cmd.name}: unexpected argument '${positionals[0]}' (see sftkit ${cmd.name} --help)`,
      );
    }
    return { values: values as Record<string, string | boolean | string[] | undefined>, positionals };
  } catch (e) {
    if (e instanceof UserError) throw e;
    const unknown = unknownLongOption(e);
    if (unknown !== null) {
      const s = suggestName(unknown, Object.keys(options));
      throw new UserError(
        `sftkit ${cmd.name}: unknown option '--${unknown}'${s ? ` (did you mean --${s}?)` : ''} (see sftkit ${cmd.name} --help)`,
      );
    }
    throw new UserError(`sftkit ${cmd.name}: ${oneLine((e as Error).message)} (see sftkit ${cmd.name} --help)`);
  }
}

/** The name of the unknown `--flag` (or `--flag=value`) that node's parseArgs rejected, else null. */
function unknownLongOption(e: unknown): string | null {
  if ((e as { code?: string }).code !== 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return null;
  const m = /Unknown option '--([^'=]+)/.exec((e as Error).message);
  return m ? m[1]! : null;
}

/** Read a required string flag or fail with a message naming it. */
export function requireString(flags: Record<string, unknown>, name: string, cmd: string): string {
  const v = flags[name];
  if (typeof v !== 'string' || v.length === 0)
    throw new UserError(`sftkit ${cmd}: --${name} is required (see sftkit ${cmd} --help)`);
  return v;
}

/** Parse a numeric flag (or return the fallback when absent), failing clearly on garbage. */
export function numberFlag(flags: Record<string, unknown>, name: string, cmd: string, fallback: number): number {
  const v = flags[name];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n))
    throw new UserError(`sftkit ${cmd}: --${name} expects a number, got '${String(v)}'`);
  return n;
}

/** Read an optional --dtype flag (f32 or bf16); undefined when absent so the caller picks its own default. */
export function dtypeFlag(v: unknown, cmd: string): FloatDType | undefined {
  if (v === undefined) return undefined;
  if (v !== 'f32' && v !== 'bf16')
    throw new UserError(`sftkit ${cmd}: --dtype must be f32 or bf16, got '${String(v)}'`);
  return v;
}
