// "Did you mean ...?" for mistyped names (config keys, CLI flags): the closest known name by edit distance.

/** Levenshtein distance (insert, delete, substitute; adjacent transposition counts 1). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** The closest known name, if close enough to be a plausible typo (case-insensitive). */
export function suggestName(input: string, known: Iterable<string>): string | null {
  let best: string | null = null;
  let bestDist = Infinity;
  const lower = input.toLowerCase();
  for (const k of known) {
    const dist = editDistance(lower, k.toLowerCase());
    if (dist < bestDist) [best, bestDist] = [k, dist];
  }
  const limit = Math.max(2, Math.floor(input.length / 3));
  return best !== null && bestDist <= limit ? best : null;
}
