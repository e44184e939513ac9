// Dataset folders as Hugging Face users have them: Hub repos (data/train-00000-of-00003.parquet, test.jsonl,
// validation/ folders), `save_to_disk` folders (state.json + data-*.arrow, or dataset_dict.json + one folder per
// split), or plain folders of data files. Files are grouped into splits by the Hub's file-name conventions.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { UserError } from '../util/errors.js';
import { DATA_EXTENSIONS, isDataFile } from './readers.js';

/** Canonical split names and the words the Hub accepts for each in file and folder names. */
const SPLIT_KEYWORDS: Record<string, readonly string[]> = {
  train: ['train', 'training'],
  validation: ['validation', 'valid', 'val', 'dev'],
  test: ['test', 'testing', 'eval', 'evaluation'],
};

/** Metadata files that sit next to the data and are never data (`datasets` and LLaMA-Factory write them). */
const METADATA_FILES = new Set(['dataset_info.json', 'state.json', 'dataset_dict.json', 'dataset_infos.json']);

/** The canonical split a user's split name means ('dev' -> 'validation'), or the name itself. */
export function canonicalSplit(name: string): string {
  const n = name.toLowerCase();
  for (const [split, words] of Object.entries(SPLIT_KEYWORDS)) if (words.includes(n)) return split;
  return name;
}

/** The split a file belongs to by its path under the dataset folder, or null. */
export function splitOfPath(rel: string): string | null {
  const parts = rel.split(/[\\/]/);
  const name = parts.pop()!.toLowerCase();
  for (const [split, words] of Object.entries(SPLIT_KEYWORDS)) {
    for (const w of words) {
      if (parts.some((p) => p.toLowerCase() === w)) return split;
      if (new RegExp(`(^|[-._ 0-9])${w}([-._ 0-9]|$)`).test(name)) return split;
    }
  }
  return null;
}

export interface DatasetLayout {
  /** Data files per split name; a folder without split names has everything under 'train'. */
  splits: Map<string, string[]>;
  /** How the splits were found, for the log. */
  kind: 'file' | 'save_to_disk' | 'dataset_dict' | 'hub' | 'unsplit';
}

/** Files of a `save_to_disk` dataset folder (state.json lists them), or null when `dir` is not one. */
function saveToDiskFiles(dir: string): string[] | null {
  const state = join(dir, 'state.json');
  if (!existsSync(state)) return null;
  let files: unknown;
  try {
    files = (JSON.parse(readFileSync(state, 'utf8')) as { _data_files?: unknown })._data_files;
  } catch (e) {
    throw new UserError(`${state}: invalid JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(files) || files.length === 0)
    throw new UserError(`${state}: field '_data_files': expected a list of {"filename": ...}`);
  return files.map((f, i) => {
    const name = (f as { filename?: unknown } | null)?.filename;
    if (typeof name !== 'string')
      throw new UserError(`${state}: field '_data_files[${i}].filename': expected a string`);
    const p = join(dir, name);
    if (!existsSync(p)) throw new UserError(`${state}: lists '${name}', which is not in ${dir}`);
    return p;
  });
}

/** Data files under `dir`, recursively, sorted; hidden entries and metadata files skipped. */
function walkDataFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      if (name.startsWith('.')) continue;
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (isDataFile(name) && !METADATA_FILES.has(name)) out.push(p);
    }
  };
  walk(dir);
  return out;
}

/** How `path` (a data file or a dataset folder) divides into splits. */
export function datasetLayout(path: string): DatasetLayout {
  if (!existsSync(path)) throw new UserError(`data: '${path}' does not exist`);
  if (statSync(path).isFile()) return { splits: new Map([['train', [path]]]), kind: 'file' };
  const dictFile = join(path, 'dataset_dict.json');
  if (existsSync(dictFile)) {
    let names: unknown;
    try {
      names = (JSON.parse(readFileSync(dictFile, 'utf8')) as { splits?: unknown }).splits;
    } catch (e) {
      throw new UserError(`${dictFile}: invalid JSON: ${(e as Error).message}`);
    }
    if (!Array.isArray(names) || !names.every((n) => typeof n === 'string'))
      throw new UserError(`${dictFile}: field 'splits': expected a list of split names`);
    const splits = new Map<string, string[]>();
    for (const name of names as string[]) {
      const files = saveToDiskFiles(join(path, name));
      if (!files) throw new UserError(`${dictFile}: split '${name}' has no folder with a state.json in ${path}`);
      splits.set(name, files);
    }
    return { splits, kind: 'dataset_dict' };
  }
  const saved = saveToDiskFiles(path);
  if (saved) return { splits: new Map([['train', saved]]), kind: 'save_to_disk' };
  const files = walkDataFiles(path);
  if (files.length === 0)
    throw new UserError(`data: folder '${path}' holds no data files (${DATA_EXTENSIONS.join(', ')})`);
  const splits = new Map<string, string[]>();
  const unsplit: string[] = [];
  for (const f of files) {
    const split = splitOfPath(relative(path, f).split(sep).join('/'));
    if (split) splits.set(split, [...(splits.get(split) ?? []), f]);
    else unsplit.push(f);
  }
  if (splits.size === 0) return { splits: new Map([['train', files]]), kind: 'unsplit' };
  if (unsplit.length > 0)
    throw new UserError(
      `data: folder '${path}' mixes files with split names (${[...splits.keys()].join(', ')}) and files without one (${unsplit
        .slice(0, 3)
        .map((f) => relative(path, f))
        .join(', ')}${unsplit.length > 3 ? ', ...' : ''}); name every file by its split or point at one file`,
    );
  return { splits, kind: 'hub' };
}

/** The files of split `name` ('dev' finds 'validation'); a one-line error lists the splits there are. */
export function splitFiles(path: string, name: string, layout: DatasetLayout = datasetLayout(path)): string[] {
  const files = layout.splits.get(name) ?? layout.splits.get(canonicalSplit(name));
  if (files) return files;
  if (layout.kind === 'unsplit' || layout.kind === 'file' || layout.kind === 'save_to_disk')
    throw new UserError(
      `data: '${path}' has no recognisable split, so split '${name}' cannot be picked (name files like train-00000-of-00001.parquet, validation.jsonl or test/..., or save a DatasetDict)`,
    );
  throw new UserError(
    `data: '${path}' has no split '${name}' (it has ${[...layout.splits.keys()].sort().join(', ')}); set dataset_train_split / dataset_test_split`,
  );
}

/** Whether `value` reads as a split name ('validation') rather than a path: nothing there, no slash, no extension. */
export function looksLikeSplitName(value: string): boolean {
  return !existsSync(value) && !/[\\/]/.test(value) && !/\.[a-z]+$/i.test(value);
}

/** Whether `path` names a split of the dataset at `datasetPath` rather than a file or folder. */
export function isSplitName(value: string, datasetPath: string): boolean {
  if (!looksLikeSplitName(value)) return false;
  try {
    return statSync(datasetPath).isDirectory();
  } catch {
    return false;
  }
}
