// The GPT-2 byte-level alphabet: each of the 256 byte values as one printable character, so byte
// sequences can live in a BPE vocabulary (printable ASCII and Latin-1 map to themselves).
let cached: string[] | null = null;

/** byteToChar()[b] is the vocabulary symbol of byte b. */
export function byteToChar(): string[] {
  if (cached) return cached;
  const out: string[] = new Array(256);
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let next = 256;
  for (let b = 0; b < 256; b++) out[b] = String.fromCodePoint(printable(b) ? b : next++);
  return (cached = out);
}

/** The byte-level spelling of a string (its UTF-8 bytes as alphabet symbols). */
export function toByteLevel(s: string): string {
  const map = byteToChar();
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) out += map[b];
  return out;
}
