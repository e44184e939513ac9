// A size-bucketed pool of ArrayBuffers so a training loop reuses the same memory every step instead of
// leaving megabytes of garbage for the GC. Buffers are bucketed by byte capacity in size classes
// 2^k·{1, 1.25, 1.5, 1.75} (at most 25% slack) and shared by all element types.
// Only buffers the pool created are ever taken back; small ones are left to the GC.

const MIN_POOLED_BYTES = 4096;

const freeByCapacity = new Map<number, ArrayBuffer[]>();
const created = new WeakSet<ArrayBuffer>();
const isFree = new WeakSet<ArrayBuffer>();
let freeBytes = 0;
let liveBytes = 0;
let peakLiveBytes = 0;
let hits = 0;
let misses = 0;
let maxFreeBytes = Number(process.env.SFTKIT_POOL_MAX_BYTES ?? 2 * 1024 ** 3);

/** The size class (bytes) a request of `bytes` is served from. */
export function capacityFor(bytes: number): number {
  if (bytes <= MIN_POOLED_BYTES) return bytes;
  const top = 2 ** Math.floor(Math.log2(bytes));
  for (const f of [1, 1.25, 1.5, 1.75, 2]) if (top * f >= bytes) return top * f;
  return top * 2;
}

function acquireBuffer(bytes: number): ArrayBuffer {
  const cap = capacityFor(bytes);
  if (cap >= MIN_POOLED_BYTES) {
    const list = freeByCapacity.get(cap);
    const buf = list?.pop();
    if (buf) {
      isFree.delete(buf);
      freeBytes -= cap;
      liveBytes += cap;
      if (liveBytes > peakLiveBytes) peakLiveBytes = liveBytes;
      hits++;
      return buf;
    }
    misses++;
  }
  const buf = new ArrayBuffer(cap);
  if (cap >= MIN_POOLED_BYTES) {
    created.add(buf);
    liveBytes += cap;
    if (liveBytes > peakLiveBytes) peakLiveBytes = liveBytes;
  }
  return buf;
}

/** An f32 array of n elements with unspecified contents (overwrite it). */
export function allocF32(n: number): Float32Array {
  return new Float32Array(acquireBuffer(n * 4), 0, n);
}

/** An f32 array of n zeros. */
export function zerosF32(n: number): Float32Array {
  return allocF32(n).fill(0);
}

export function allocU16(n: number): Uint16Array {
  return new Uint16Array(acquireBuffer(n * 2), 0, n);
}

export function allocI32(n: number): Int32Array {
  return new Int32Array(acquireBuffer(n * 4), 0, n);
}

/**
 * Returns an array's storage to the pool. The caller must not touch the array afterwards.
 * Arrays the pool did not create (user data, small arrays) are ignored; a second release is a no-op.
 */
export function release(arr: ArrayBufferView | null | undefined): void {
  if (!arr) return;
  const buf = arr.buffer as ArrayBuffer;
  if (!created.has(buf) || isFree.has(buf)) return;
  const cap = buf.byteLength;
  liveBytes -= cap;
  if (freeBytes + cap > maxFreeBytes) {
    created.delete(buf); // dropped: the GC reclaims it
    return;
  }
  isFree.add(buf);
  freeBytes += cap;
  let list = freeByCapacity.get(cap);
  if (!list) freeByCapacity.set(cap, (list = []));
  list.push(buf);
}

export interface PoolStats {
  /** Bytes handed out and not yet released. */
  liveBytes: number;
  /** The most liveBytes since the process started or the last resetPoolPeak(). */
  peakLiveBytes: number;
  /** Bytes held in free lists, ready for reuse. */
  freeBytes: number;
  hits: number;
  misses: number;
}

/** The most bytes of released buffers the pool keeps for reuse (SFTKIT_POOL_MAX_BYTES, default 2 GiB). */
export function poolFreeLimit(): number {
  return maxFreeBytes;
}

export function poolStats(): PoolStats {
  return { liveBytes, peakLiveBytes, freeBytes, hits, misses };
}

/** Starts a new peak measurement from the current liveBytes. */
export function resetPoolPeak(): void {
  peakLiveBytes = liveBytes;
}

/** Drops every free buffer (the GC reclaims them) and sets the most free bytes the pool keeps. */
export function trimPool(maxFree = maxFreeBytes): void {
  for (const list of freeByCapacity.values())
    for (const b of list) {
      isFree.delete(b);
      created.delete(b);
    }
  freeByCapacity.clear();
  freeBytes = 0;
  maxFreeBytes = maxFree;
}
