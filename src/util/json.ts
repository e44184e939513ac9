// Reading JSON files for sftkit's readers: bytes must be UTF-8 and the text JSON; a failure is a one-line
// UserError naming the file, line and column ("config.json:12:5: invalid JSON: ...").
import { readFileSync, statSync } from 'node:fs';
import { systemReason, UserError } from './errors.js';

/** Collapse an error message (V8's JSON messages quote the text around the error, newlines and all) to one line. */
export function oneLine(message: string, max = 300): string {
  const s = message.replace(/\s+/g, ' ').trim();
  return s.length > max ? s.slice(0, max - 3) + '...' : s;
}

/** 1-based line and column of a character offset. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let last = -1;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      last = i;
    }
  }
  return { line, column: offset - last };
}

/** Offset of the first JSON syntax error in `s` (a small validating scanner), or -1 when none is found. */
export function jsonErrorOffset(s: string): number {
  let i = 0;
  const fail = (): never => {
    throw i;
  };
  const ws = () => {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t' || s[i] === '\n' || s[i] === '\r')) i++;
  };
  const str = () => {
    i++;
    while (i < s.length) {
      const c = s.charCodeAt(i);
      if (c === 34) {
        i++;
        return;
      }
      if (c === 92) {
        i++;
        const e = s[i];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(s.slice(i + 1, i + 5))) fail();
          i += 4;
        } else if (e === undefined || !'"\\/bfnrt'.includes(e)) fail();
        i++;
        continue;
      }
      if (c < 32) fail();
      i++;
    }
    fail();
  };
  const num = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
  const value = (): void => {
    ws();
    const c = s[i];
    if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']';
      i++;
      ws();
      if (s[i] === close) {
        i++;
        return;
      }
      for (;;) {
        if (c === '{') {
          ws();
          if (s[i] !== '"') fail();
          str();
          ws();
          if (s[i] !== ':') fail();
          i++;
        }
        value();
        ws();
        if (s[i] === ',') {
          i++;
          continue;
        }
        if (s[i] === close) {
          i++;
          return;
        }
        fail();
      }
    }
    if (c === '"') return str();
    for (const lit of ['true', 'false', 'null']) {
      if (s.startsWith(lit, i)) {
        i += lit.length;
        return;
      }
    }
    num.lastIndex = i;
    if (num.exec(s)) {
      i = num.lastIndex;
      return;
    }
    fail();
  };
  try {
    value();
    ws();
    if (i < s.length) fail();
    return -1;
  } catch (e) {
    return typeof e === 'number' ? e : -1; // a RangeError: nesting deeper than the stack
  }
}

/** JSON.parse with a one-line error naming `source`, line and column. */
export function parseJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const at = jsonErrorOffset(text);
    const where = at >= 0 ? (({ line, column }) => `:${line}:${column}`)(lineColumn(text, at)) : '';
    throw new UserError(`${source}${where}: invalid JSON: ${oneLine((e as Error).message)}`, { cause: e });
  }
}

/** Decode UTF-8 strictly; invalid bytes are an error naming the file, byte offset and line. */
export function decodeUtf8(bytes: Uint8Array, source: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    // find the first bad byte: decode growing prefixes is slow, so validate the bytes directly
    let i = 0;
    let line = 1;
    while (i < bytes.length) {
      const b = bytes[i]!;
      const n = b < 0x80 ? 1 : b >= 0xc2 && b < 0xe0 ? 2 : b >= 0xe0 && b < 0xf0 ? 3 : b >= 0xf0 && b < 0xf5 ? 4 : 0;
      let ok = n > 0 && i + n <= bytes.length;
      for (let k = 1; ok && k < n; k++) ok = (bytes[i + k]! & 0xc0) === 0x80;
      if (ok && n === 3) {
        const v = ((b & 0x0f) << 12) | ((bytes[i + 1]! & 0x3f) << 6);
        ok = v >= 0x800 && (v < 0xd800 || v > 0xdfff);
      }
      if (ok && n === 4) {
        const v = ((b & 0x07) << 18) | ((bytes[i + 1]! & 0x3f) << 12);
        ok = v >= 0x10000 && v <= 0x10ffff;
      }
      if (!ok) break;
      if (b === 10) line++;
      i += n;
    }
    throw new UserError(`${source}:${line}: not valid UTF-8 (byte 0x${(bytes[i] ?? 0).toString(16)} at offset ${i})`);
  }
}

/** The largest JSON file sftkit reads whole (a tokenizer.json of a 256k vocabulary is ~20 MB). */
export const MAX_JSON_FILE_BYTES = 512 * 1024 * 1024;

/** Read and parse a JSON file: a folder, a missing file, non-UTF-8 bytes or bad JSON is a one-line error. */
export function readJsonFile(path: string, what = 'file'): unknown {
  let size: number;
  try {
    const st = statSync(path);
    if (st.isDirectory()) throw new UserError(`${path}: is a folder, expected a JSON ${what}`);
    size = st.size;
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`${path}: cannot read ${what}: ${systemReason(e)}`, {
      cause: e,
    });
  }
  if (size > MAX_JSON_FILE_BYTES)
    throw new UserError(`${path}: ${size} bytes is more than the ${MAX_JSON_FILE_BYTES}-byte limit for a JSON ${what}`);
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new UserError(`${path}: cannot read ${what}: ${systemReason(e)}`, {
      cause: e,
    });
  }
  return parseJson(decodeUtf8(bytes, path), path);
}
