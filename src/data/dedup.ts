// Duplicate detection: exact duplicates by a hash of normalised text, near-duplicates by MinHash with LSH banding.
import { createHash } from 'node:crypto';
import { hashString, lowbias32 } from '../util/random.js';

/** Lower-case, Unicode-normalised (NFKC), whitespace collapsed: what counts as "the same text". */
export function normalizeForDedup(text: string): string {
  return text.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim();
}

export function exactKey(text: string): string {
  return createHash('sha1').update(normalizeForDedup(text)).digest('hex');
}

export interface MinHashOptions {
  /** Number of hash functions = bands * rows. */
  bands?: number;
  rows?: number;
  /** Shingle size in words (texts shorter than this use character 5-grams). */
  shingleWords?: number;
  /** Estimated Jaccard similarity at or above which two texts are near-duplicates. */
  threshold?: number;
}

function shingles(text: string, k: number): Set<number> {
  const words = normalizeForDedup(text)
    .split(' ')
    .filter((w) => w.length > 0);
  const out = new Set<number>();
  if (words.length >= k) {
    for (let i = 0; i + k <= words.length; i++) out.add(hashString(words.slice(i, i + k).join(' ')));
  } else {
    const s = words.join(' ');
    for (let i = 0; i + 5 <= s.length; i++) out.add(hashString(s.slice(i, i + 5)));
    if (out.size === 0 && s.length > 0) out.add(hashString(s));
  }
  return out;
}

/** The MinHash signature of a text: per hash function, the minimum over its shingles. */
export function minHashSignature(text: string, numHashes: number, shingleWords = 3): Uint32Array {
  const sig = new Uint32Array(numHashes).fill(0xffffffff);
  for (const s of shingles(text, shingleWords)) {
    for (let h = 0; h < numHashes; h++) {
      const v = lowbias32(s ^ Math.imul(h + 1, 0x9e3779b1));
      if (v < sig[h]!) sig[h] = v;
    }
  }
  return sig;
}

export function estimatedJaccard(a: Uint32Array, b: Uint32Array): number {
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return same / a.length;
}

/** For each text, the index of an earlier exact or near duplicate (and which kind), or null. */
export function findDuplicates(
  texts: string[],
  opts: MinHashOptions = {},
): ({ of: number; kind: 'exact' | 'near'; similarity: number } | null)[] {
  const bands = opts.bands ?? 16;
  const rows = opts.rows ?? 8;
  const threshold = opts.threshold ?? 0.8;
  const out: ({ of: number; kind: 'exact' | 'near'; similarity: number } | null)[] = new Array(texts.length).fill(null);
  const firstByKey = new Map<string, number>();
  const buckets = new Map<string, number[]>();
  const sigs: Uint32Array[] = [];
  for (let i = 0; i < texts.length; i++) {
    const key = exactKey(texts[i]!);
    const prev = firstByKey.get(key);
    const sig = minHashSignature(texts[i]!, bands * rows, opts.shingleWords ?? 3);
    sigs.push(sig);
    if (prev !== undefined) {
      out[i] = { of: prev, kind: 'exact', similarity: 1 };
      continue;
    }
    firstByKey.set(key, i);
    let best: { of: number; similarity: number } | null = null;
    const bandKeys: string[] = [];
    for (let b = 0; b < bands; b++) {
      const bk = `${b}:${Array.prototype.join.call(sig.subarray(b * rows, (b + 1) * rows), ',')}`;
      bandKeys.push(bk);
      for (const j of buckets.get(bk) ?? []) {
        const sim = estimatedJaccard(sig, sigs[j]!);
        if (sim >= threshold && (!best || sim > best.similarity)) best = { of: j, similarity: sim };
      }
    }
    if (best) {
      out[i] = { of: best.of, kind: 'near', similarity: best.similarity };
      continue;
    }
    // Only originals enter the buckets, so every duplicate points at a kept record.
    for (const bk of bandKeys) {
      const list = buckets.get(bk);
      if (list) list.push(i);
      else buckets.set(bk, [i]);
    }
  }
  return out;
}
