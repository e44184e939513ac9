// Column values as plain JSON-like data: BigInt to number (or string beyond 2^53), Arrow vectors and struct rows
// to arrays and objects, typed arrays to arrays, binary to UTF-8 text, dates to ISO strings.

export function toPlain(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  switch (typeof v) {
    case 'string':
    case 'number':
    case 'boolean':
      return v;
    case 'bigint':
      return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
    case 'object':
      break;
    default:
      return String(v);
  }
  if (Array.isArray(v)) {
    // Fast path: a list of plain values is returned as is.
    let plain = true;
    for (let i = 0; i < v.length && plain; i++) {
      const x: unknown = v[i];
      if (x !== null && typeof x === 'object') plain = false;
      else if (typeof x === 'bigint') plain = false;
    }
    return plain ? v : v.map(toPlain);
  }
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('utf8');
  if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<number | bigint>, toPlain);
  if (v instanceof Date) return v.toISOString();
  const o = v as Record<string | symbol, unknown>;
  // Arrow: a Vector has toArray(); a StructRow / MapRow has toJSON().
  if (typeof o.toArray === 'function' && typeof o.get === 'function')
    return Array.from(o as unknown as Iterable<unknown>, toPlain);
  if (typeof o.toJSON === 'function' && !(v instanceof Date)) {
    const j = (o.toJSON as () => unknown)();
    if (j !== v) return toPlain(j);
  }
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(o)) out[k] = toPlain(o[k]);
  return out;
}
