// The autograd tape. Ops append an entry for each output produced while a step is being recorded:
// a node with a backward function when an input needs grad, else a plain transient output.
// backward() walks the entries in reverse, so by the time an entry is reached every later op (its only
// possible consumers) is done: its backward runs, its saved buffers are released and its output is
// disposed right there. Gradient buffers are owned by the walk and handed from op to op.
import type { Tensor, TensorData } from './tensor.js';
import { getBackend } from './current-backend.js';
import { allocF32, release } from './pool.js';

/** A backward function receives the output's gradient and owns it (pass it on with passGrad or leave it). */
export type BackwardFn = (gOut: Float32Array) => void;

export interface TapeNode {
  readonly op: string;
  output: Tensor;
  backward: BackwardFn | null;
  /** Storage references and private buffers held for backward, released once the node is done. */
  saved: (() => void)[];
  done: boolean;
}

let tape: TapeNode[] = [];
let gradNodes = 0;
let noGradDepth = 0;
/**
 * Outputs recorded while no node needs grad are only tracked so that a step disposes them; past this many
 * (a forward run with grad enabled but nothing trainable, e.g. generation without noGrad) tracking stops
 * and the GC reclaims them instead.
 */
const MAX_TRACKED_WITHOUT_GRAD = 1024;
const resetHooks: (() => void)[] = [];

/** Whether ops record for autograd (false inside noGrad()). */
export function isGradEnabled(): boolean {
  return noGradDepth === 0;
}

/** Runs fn with recording off: its outputs are plain tensors owned by the caller. */
export function noGrad<T>(fn: () => T): T {
  noGradDepth++;
  try {
    return fn();
  } finally {
    noGradDepth--;
  }
}

export function needsGrad(t: Tensor | null | undefined): boolean {
  return !!t && (t.requiresGrad || t.node !== null);
}

/** Whether an op over these inputs must record a backward node. */
export function shouldRecord(...inputs: (Tensor | null | undefined)[]): boolean {
  return noGradDepth === 0 && inputs.some(needsGrad);
}

/** Called when a step ends (backward or clearTape); ops use it to reset per-step counters. */
export function onStepEnd(hook: () => void): void {
  resetHooks.push(hook);
}

/**
 * Registers an op output made with grad enabled. With a backward function it becomes a node of the graph;
 * without one it is a transient output. Both are disposed when the step ends (backward or clearTape).
 */
export function record(op: string, output: Tensor, backward: BackwardFn | null): TapeNode | null {
  if (noGradDepth > 0) return null;
  if (!backward && gradNodes === 0 && tape.length >= MAX_TRACKED_WITHOUT_GRAD) {
    for (const n of tape) n.output.transient = false;
    tape = [];
  }
  const node: TapeNode = { op, output, backward, saved: [], done: false };
  output.transient = true;
  if (backward) {
    output.node = node;
    gradNodes++;
  }
  tape.push(node);
  return node;
}

/** Keeps a tensor's storage alive for node's backward; returns the data to read then. */
export function save<T extends TensorData>(node: TapeNode, t: Tensor): T {
  t.assertLive(node.op);
  const storage = t.storage;
  storage.retain();
  node.saved.push(() => storage.releaseRef());
  return t.data as T;
}

/** Hands a private pooled buffer to node; it is released when the node is done. */
export function own<T extends ArrayBufferView>(node: TapeNode, buf: T): T {
  node.saved.push(() => release(buf));
  return buf;
}

// ---- the backward walk ------------------------------------------------------------------------------

/** Gradients of intermediate tensors, owned by the walk. */
let grads = new Map<Tensor, Float32Array>();
let currentGrad: Float32Array | null = null;
let currentGradConsumed = false;

function numelCheck(t: Tensor, g: Float32Array): void {
  if (g.length !== t.numel) throw new Error(`autograd: gradient of ${g.length} elements for a tensor of ${t.numel}`);
}

/**
 * The buffer t's gradient accumulates into, or null when t needs none. `fresh` means it was just
 * allocated with unspecified contents: the caller must overwrite it (or zero it) instead of adding.
 */
export function gradSink(t: Tensor): { buf: Float32Array; fresh: boolean } | null {
  if (!needsGrad(t)) return null;
  if (t.node === null) {
    if (t.grad) return { buf: t.grad, fresh: false };
    t.grad = allocF32(t.numel);
    return { buf: t.grad, fresh: true };
  }
  const g = grads.get(t);
  if (g) return { buf: g, fresh: false };
  const buf = allocF32(t.numel);
  grads.set(t, buf);
  return { buf, fresh: true };
}

/** Like gradSink, zero-filled when fresh, for kernels that can only accumulate. */
export function accumulateSink(t: Tensor): Float32Array | null {
  const s = gradSink(t);
  if (s?.fresh) s.buf.fill(0);
  return s?.buf ?? null;
}

/** A linear layer's bias gradient: adds the column sums of dY [rows, cols] (in float64) when the bias needs one. */
export function accumulateBiasGrad(
  bias: Tensor | null | undefined,
  dy: Float32Array,
  rows: number,
  cols: number,
): void {
  const db = bias ? accumulateSink(bias) : null;
  if (!db) return;
  const sums = new Float64Array(cols);
  for (let r = 0; r < rows; r++) for (let j = 0; j < cols; j++) sums[j]! += dy[r * cols + j]!;
  for (let j = 0; j < cols; j++) db[j] = db[j]! + sums[j]!;
}

/**
 * A buffer a kernel may overwrite with t's gradient contribution; finish() merges it. When t needs no
 * grad this is scratch space (for kernels that produce several gradients at once).
 */
export function overwriteSink(t: Tensor): { buf: Float32Array; finish(): void } {
  const s = gradSink(t);
  if (s?.fresh) return { buf: s.buf, finish: () => {} };
  const scratch = allocF32(t.numel);
  return {
    buf: scratch,
    finish: () => {
      if (s) getBackend().add(s.buf, scratch, s.buf);
      release(scratch);
    },
  };
}

/** Adds g into t's gradient without taking g (g stays the caller's). */
export function accumulateGrad(t: Tensor, g: Float32Array): void {
  const s = gradSink(t);
  if (!s) return;
  numelCheck(t, g);
  if (s.fresh) s.buf.set(g);
  else getBackend().add(s.buf, g, s.buf);
}

/** Gives g (a pooled buffer the caller owns) to t's gradient: adopted when t has none yet, else added and released. */
export function passGrad(t: Tensor, g: Float32Array): void {
  if (g === currentGrad) currentGradConsumed = true;
  if (!needsGrad(t)) {
    release(g);
    return;
  }
  numelCheck(t, g);
  if (t.node === null) {
    if (!t.grad) {
      t.grad = g;
      return;
    }
    getBackend().add(t.grad, g, t.grad);
  } else {
    const have = grads.get(t);
    if (!have) {
      grads.set(t, g);
      return;
    }
    getBackend().add(have, g, have);
  }
  release(g);
}

function finishNode(node: TapeNode, root: Tensor | null): void {
  if (node.done) return;
  node.done = true;
  for (const free of node.saved) free();
  node.saved = [];
  const out = node.output;
  out.node = null;
  const g = grads.get(out);
  if (g) {
    grads.delete(out);
    release(g);
  }
  if (out !== root && !out.kept) out.dispose();
}

function endStep(): void {
  tape = [];
  gradNodes = 0;
  grads.clear();
  for (const hook of resetHooks) hook();
}

/**
 * Backpropagates from loss (a one-element tensor unless seed, its gradient, is given): accumulates into
 * the .grad of every leaf with requiresGrad, disposes the step's intermediates (not loss, nor tensors
 * marked keep()) and clears the tape.
 */
export function backward(loss: Tensor, seed?: Float32Array): void {
  if (!seed && loss.numel !== 1) throw new Error(`backward: loss has ${loss.numel} elements; pass a seed gradient`);
  if (seed && seed.length !== loss.numel)
    throw new Error(`backward: seed has ${seed.length} elements, loss ${loss.numel}`);
  if (!needsGrad(loss)) {
    clearTape();
    throw new Error(
      'backward: the loss does not depend on any tensor with requiresGrad (was it computed inside noGrad?)',
    );
  }
  const g0 = allocF32(loss.numel);
  if (seed) g0.set(seed);
  else g0[0] = 1;
  try {
    walk(loss, g0);
  } finally {
    // after an error (or a leaf loss), still release what the remaining entries hold
    for (const node of tape) finishNode(node, loss);
    for (const g of grads.values()) release(g);
    endStep();
  }
}

/** The reverse walk from root with gradient g0 (taken) over the current tape. */
function walk(root: Tensor, g0: Float32Array): void {
  if (root.node === null) {
    passGrad(root, g0);
    return;
  }
  grads.set(root, g0);
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i]!;
    const g = grads.get(node.output);
    if (g && node.backward) {
      grads.delete(node.output);
      currentGrad = g;
      currentGradConsumed = false;
      node.backward(g);
      if (!currentGradConsumed) release(g);
      currentGrad = null;
    }
    finishNode(node, root);
  }
}

/**
 * A nested tape segment inside a backward function (checkpoint()'s recompute): runs `build` on a fresh tape
 * with recording on, backpropagates `gRoot` (taken) from the tensor it returns through that segment only,
 * frees the segment (root included) and restores the outer walk. Leaf .grad accumulates as usual; step-end
 * hooks do not run.
 */
export function backwardNested(build: () => Tensor, gRoot: Float32Array): void {
  const outer = { tape, gradNodes, grads, currentGrad, noGradDepth };
  tape = [];
  gradNodes = 0;
  grads = new Map();
  currentGrad = null;
  noGradDepth = 0;
  let root: Tensor | null = null;
  let taken = false;
  try {
    root = build();
    numelCheck(root, gRoot);
    taken = true;
    walk(root, gRoot);
  } finally {
    if (!taken) release(gRoot);
    for (const node of tape) finishNode(node, root);
    for (const g of grads.values()) release(g);
    if (root && !root.kept) root.dispose();
    ({ tape, gradNodes, grads, currentGrad, noGradDepth } = outer);
    // The outer walk handed gRoot to this segment: it must not release it again.
    if (gRoot === currentGrad) currentGradConsumed = true;
  }
}

/** Drops the recorded step without backward: releases saved buffers and disposes the step's intermediates (not kept ones). */
export function clearTape(): void {
  for (let i = tape.length - 1; i >= 0; i--) finishNode(tape[i]!, null);
  for (const g of grads.values()) release(g);
  endStep();
}

/** The number of recorded entries (for tests and diagnostics). */
export function tapeLength(): number {
  return tape.length;
}
