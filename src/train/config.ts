// SFTConfig: typed training options, built from CONFIG_FIELDS defaults, a YAML file and CLI flags
// (flags override the file), validated with errors that name the file, the line and the key.
import { readFileSync, existsSync, statSync } from 'node:fs';
import YAML, { LineCounter, isMap, isScalar, type Document, type Node as YamlNode } from 'yaml';
import { UserError } from '../util/errors.js';
import { editDistance, suggestName } from '../util/suggest.js';
import { CONFIG_FIELDS, fieldsOf, type FieldSpec, type LoraConfig, type SFTConfig } from './config-schema.js';

export type { LoraConfig, SFTConfig };

/** Partial input as a user writes it (library API): any subset of keys, peft partial too. */
export type SFTConfigInput = Partial<Omit<SFTConfig, 'peft'>> & { peft?: Partial<LoraConfig> };

export function defaultLoraConfig(): LoraConfig {
  const out: Record<string, unknown> = {};
  for (const f of fieldsOf('peft')) out[f.name] = defaultOf(f);
  return out as unknown as LoraConfig;
}

export function defaultSFTConfig(): SFTConfig {
  const out: Record<string, unknown> = {};
  for (const f of fieldsOf(undefined)) out[f.name] = defaultOf(f);
  out.peft = defaultLoraConfig();
  return out as unknown as SFTConfig;
}

function defaultOf(f: FieldSpec): unknown {
  if (f.autoDefault) return f.autoDefault();
  return Array.isArray(f.default) ? [...f.default] : f.default;
}

// ---------------------------------------------------------------------------------------------
// Names and suggestions

export { editDistance, suggestName };

function didYouMean(input: string, known: Iterable<string>): string {
  const s = suggestName(input, known);
  return s ? ` (did you mean '${s}'?)` : '';
}

/** Top-level key (or alias) -> field; flag name (or alias) -> field. */
const topLevelByName = new Map<string, FieldSpec>();
const peftByName = new Map<string, FieldSpec>();
const byFlag = new Map<string, FieldSpec>();
for (const f of CONFIG_FIELDS) {
  if (f.group === 'peft') {
    peftByName.set(f.name, f);
    // TRL's flat spellings (lora_r, lora_target_modules) are accepted at the top level of the YAML too.
    topLevelByName.set(f.flag ?? f.name, f);
    byFlag.set(f.flag ?? f.name, f);
  } else {
    topLevelByName.set(f.name, f);
    byFlag.set(f.name, f);
    for (const a of f.aliases ?? []) {
      topLevelByName.set(a, f);
      byFlag.set(a, f);
    }
  }
}

/** Every flag name `sftkit train` accepts for config fields (canonical names first, then aliases). */
export function configFlagNames(): string[] {
  return [...byFlag.keys()];
}

export function fieldForFlag(flag: string): FieldSpec | undefined {
  return byFlag.get(flag);
}

// ---------------------------------------------------------------------------------------------
// Value parsing and checking

/** Where a value came from, for error messages: 'sft.yaml:12' or '--learning_rate'. */
type Origin = string;

function describe(v: unknown): string {
  return typeof v === 'string' ? `'${v}'` : JSON.stringify(v);
}

function parseNumberLike(v: unknown): number | null {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return null;
}

function parseBoolLike(v: unknown): boolean | null {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string') {
    const s = v.trim().toLowerCase();
    if (['true', 'yes', '1', 'on'].includes(s)) return true;
    if (['false', 'no', '0', 'off'].includes(s)) return false;
  }
  return null;
}

function isNullLike(v: unknown): boolean {
  return v === null || (typeof v === 'string' && ['null', 'none', '~'].includes(v.trim().toLowerCase()));
}

/** Convert a raw YAML or flag value to the field's type; throws UserError naming the key and origin. */
export function coerceValue(field: FieldSpec, raw: unknown, origin: Origin): unknown {
  const key = field.group === 'peft' ? `peft.${field.name}` : field.name;
  const fail = (expected: string): never => {
    throw new UserError(`${origin}: ${key} must be ${expected}, got ${describe(raw)}`);
  };
  const isChoice = field.type === 'enum' && typeof raw === 'string' && field.choices!.includes(raw);
  if (!isChoice && isNullLike(raw)) {
    if (field.nullable) return null;
    fail(`${expectedOf(field)} (it cannot be null)`);
  }
  let value: unknown;
  switch (field.type) {
    case 'string':
      if (typeof raw !== 'string' && typeof raw !== 'number') fail('a string');
      value = String(raw);
      break;
    case 'int': {
      const n = parseNumberLike(raw);
      if (n === null || !Number.isInteger(n)) fail('an integer');
      value = n;
      break;
    }
    case 'float': {
      const n = parseNumberLike(raw);
      if (n === null) fail('a number');
      value = n;
      break;
    }
    case 'bool': {
      const b = parseBoolLike(raw);
      if (b === null) fail('true or false');
      value = b;
      break;
    }
    case 'enum': {
      const s = String(raw);
      if (!field.choices!.includes(s)) {
        throw new UserError(
          `${origin}: ${key} must be one of ${field.choices!.join(', ')}, got ${describe(raw)}${didYouMean(s, field.choices!)}`,
        );
      }
      value = s;
      break;
    }
    case 'list': {
      const items = typeof raw === 'string' ? commaList(raw) : raw;
      if (!Array.isArray(items) || items.some((x) => typeof x !== 'string'))
        fail('a list of names (or a comma-separated string)');
      value = items;
      break;
    }
    case 'int_list': {
      const items = typeof raw === 'string' ? commaList(raw) : typeof raw === 'number' ? [raw] : raw;
      if (!Array.isArray(items)) fail('a list of integers');
      const nums = (items as unknown[]).map(parseNumberLike);
      if (nums.some((n) => n === null || !Number.isInteger(n) || n < 0)) fail('a list of non-negative integers');
      value = nums;
      break;
    }
    case 'bool_or_string': {
      const b = parseBoolLike(raw);
      if (b !== null) value = b;
      else if (typeof raw === 'string') value = raw;
      else fail('true, false or a checkpoint folder');
      break;
    }
  }
  if (typeof value === 'number') {
    if (field.min !== undefined && (field.exclusiveMin ? value <= field.min : value < field.min)) {
      throw new UserError(
        `${origin}: ${key} must be ${field.exclusiveMin ? '>' : '>='} ${field.min}, got ${describe(raw)}`,
      );
    }
    if (field.max !== undefined && value > field.max)
      throw new UserError(`${origin}: ${key} must be <= ${field.max}, got ${describe(raw)}`);
  }
  return value;
}

function expectedOf(f: FieldSpec): string {
  switch (f.type) {
    case 'int':
      return 'an integer';
    case 'float':
      return 'a number';
    case 'bool':
      return 'true or false';
    case 'enum':
      return `one of ${f.choices!.join(', ')}`;
    case 'list':
      return 'a list of names';
    case 'int_list':
      return 'a list of integers';
    default:
      return 'a string';
  }
}

// ---------------------------------------------------------------------------------------------
// Sources: YAML file, flags, library object

/** A config source as ordered (field, value) assignments with their origins. */
interface Assignment {
  field: FieldSpec;
  value: unknown;
}

function lineOf(node: YamlNode | null | undefined, lc: LineCounter, file: string): string {
  const start = node?.range?.[0];
  return start === undefined ? file : `${file}:${lc.linePos(start).line}`;
}

/** Parse a YAML config file into assignments, with file:line in every error. */
export function readConfigFile(path: string): Assignment[] {
  if (!existsSync(path)) throw new UserError(`config file not found: ${path}`);
  if (!statSync(path).isFile()) throw new UserError(`${path}: is a folder, not a config file (YAML)`);
  const text = readFileSync(path, 'utf8');
  const lc = new LineCounter();
  const doc: Document.Parsed = YAML.parseDocument(text, { lineCounter: lc });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const pos = e.linePos?.[0];
    // the library's message ends with "at line L, column C:" and a code frame: keep the reason, say the column
    const reason = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    throw new UserError(
      `${path}${pos ? `:${pos.line}` : ''}: invalid YAML: ${reason}${pos ? ` (column ${pos.col})` : ''}`,
    );
  }
  if (doc.contents === null) return [];
  if (!isMap(doc.contents)) throw new UserError(`${path}: a config file must be a mapping of key: value`);
  const out: Assignment[] = [];
  for (const pair of doc.contents.items) {
    const keyNode = pair.key as YamlNode;
    const key = isScalar(keyNode) ? String(keyNode.value) : String(keyNode);
    const where = lineOf(keyNode, lc, path);
    if (key === 'peft') {
      const block = pair.value as YamlNode | null;
      if (block === null || (isScalar(block) && block.value === null)) continue;
      if (!isMap(block)) throw new UserError(`${where}: peft must be a mapping (r: 16, lora_alpha: 32, ...)`);
      for (const p of block.items) {
        const pk = isScalar(p.key) ? String((p.key as { value: unknown }).value) : String(p.key);
        const pwhere = lineOf(p.key as YamlNode, lc, path);
        const field = peftByName.get(pk) ?? fieldsOf('peft').find((f) => f.flag === pk);
        if (!field) throw new UserError(`${pwhere}: unknown key 'peft.${pk}'${didYouMean(pk, peftByName.keys())}`);
        out.push({ field, value: coerceValue(field, (p.value as YamlNode | null)?.toJSON?.() ?? null, pwhere) });
      }
      continue;
    }
    const field = topLevelByName.get(key);
    if (!field) {
      const known = [...topLevelByName.keys(), 'peft', ...[...peftByName.keys()].map((k) => `peft.${k}`)];
      throw new UserError(`${where}: unknown key '${key}'${didYouMean(key, known)}`);
    }
    const valueNode = pair.value as YamlNode | null;
    out.push({ field, value: coerceValue(field, valueNode === null ? null : valueNode.toJSON(), where) });
  }
  return out;
}

/** Turn parsed `sftkit train` flags (strings) into assignments; unknown flags get a suggestion. */
export function readConfigFlags(flags: Record<string, unknown>, ignore: readonly string[] = []): Assignment[] {
  const out: Assignment[] = [];
  for (const [name, raw] of Object.entries(flags)) {
    if (raw === undefined || ignore.includes(name)) continue;
    const field = byFlag.get(name);
    if (!field) throw new UserError(`unknown option '--${name}'${didYouMean(name, byFlag.keys())}`);
    out.push({ field, value: coerceValue(field, raw, `--${name}`) });
  }
  return out;
}

/** Check a library-API object (camel-free TRL names) the same way a YAML file is checked. */
export function readConfigObject(obj: SFTConfigInput, origin = 'SFTConfig'): Assignment[] {
  const out: Assignment[] = [];
  for (const [key, raw] of Object.entries(obj)) {
    if (raw === undefined) continue;
    if (key === 'peft') {
      if (raw === null) continue;
      if (typeof raw !== 'object') throw new UserError(`${origin}: peft must be an object`);
      for (const [pk, pv] of Object.entries(raw as Record<string, unknown>)) {
        if (pv === undefined) continue;
        const field = peftByName.get(pk);
        if (!field) throw new UserError(`${origin}: unknown key 'peft.${pk}'${didYouMean(pk, peftByName.keys())}`);
        out.push({ field, value: coerceValue(field, pv, origin) });
      }
      continue;
    }
    const field = topLevelByName.get(key);
    if (!field) throw new UserError(`${origin}: unknown key '${key}'${didYouMean(key, topLevelByName.keys())}`);
    out.push({ field, value: coerceValue(field, raw, origin) });
  }
  return out;
}

function apply(config: SFTConfig, assignments: Assignment[]): void {
  for (const { field, value } of assignments) {
    const target = (field.group === 'peft' ? config.peft : config) as unknown as Record<string, unknown>;
    target[field.name] = value;
  }
}

/** Cross-field checks that a single field's type cannot express. */
export function validateConfig(c: SFTConfig, origin: string): void {
  if (c.full_finetune && c.load_in_4bit)
    throw new UserError(`${origin}: full_finetune and load_in_4bit cannot be combined (QLoRA trains adapters only)`);
  if (c.peft.modules_to_save && c.peft.modules_to_save.length > 0 && !c.full_finetune)
    throw new UserError(
      `${origin}: peft.modules_to_save (${c.peft.modules_to_save.join(', ')}) is not supported: train whole modules with full_finetune: true, or single embedding rows with peft.trainable_token_indices`,
    );
  if (c.peft.target_modules?.includes('all-linear') && c.peft.target_modules.length > 1) {
    throw new UserError(`${origin}: peft.target_modules: 'all-linear' cannot be combined with module names`);
  }
}

/**
 * Build the effective config: defaults < file < flags (or < library object).
 * `origin` names the file (or 'SFTConfig') in cross-field errors.
 */
export function resolveConfig(opts: {
  file?: string | null;
  flags?: Record<string, unknown>;
  object?: SFTConfigInput;
  ignoreFlags?: readonly string[];
}): SFTConfig {
  const config = defaultSFTConfig();
  if (opts.file) apply(config, readConfigFile(opts.file));
  if (opts.object) apply(config, readConfigObject(opts.object));
  if (opts.flags) apply(config, readConfigFlags(opts.flags, opts.ignoreFlags));
  validateConfig(config, opts.file ?? 'config');
  return config;
}

/** The config as a flat YAML-ready object (for training_args.json and the model card). */
export function configToJSON(c: SFTConfig): Record<string, unknown> {
  return JSON.parse(JSON.stringify(c));
}

/** 'a, b,,c' -> ['a', 'b', 'c']: list values given as one string in YAML or a flag. */
function commaList(raw: string): string[] {
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}
