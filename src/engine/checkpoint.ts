// Activation (gradient) checkpointing: a segment's forward runs without recording, keeping only its input;
// backward re-runs it with recording on a nested tape, backpropagates through it and frees it. Memory per
// segment drops from all its intermediates to one input tensor, for one extra forward of the segment.
import { dropoutCounter, setDropoutCounter } from './ops.js';
import { backwardNested, isGradEnabled, noGrad, passGrad, record, save } from './tape.js';
import { Tensor } from './tensor.js';

/**
 * y = fn(x), recomputed in backward instead of stored. fn must be a pure function of x and of parameters that
 * do not change before backward; engine dropout inside fn redraws the same masks on recompute (the dropout
 * counter is rewound), and any seeds fn draws itself must be replayed by fn. Parameter grads accumulate
 * normally. Without recording (noGrad) this is just fn(x).
 */
export function checkpoint(fn: (x: Tensor) => Tensor, x: Tensor): Tensor {
  if (!isGradEnabled()) return fn(x);
  const dropoutStart = dropoutCounter();
  const out = noGrad(() => fn(x));
  if (out === x) return x;
  const inputNeedsGrad = x.requiresGrad || x.node !== null;
  const node = record('checkpoint', out, (gOut) => {
    const resume = dropoutCounter();
    setDropoutCounter(dropoutStart);
    // A leaf over x's storage: the segment's gradient for x collects in its .grad.
    x.storage.retain();
    const input = new Tensor(xData, x.shape, x.dtype, x.storage);
    input.requiresGrad = inputNeedsGrad;
    try {
      backwardNested(() => fn(input), gOut);
      if (input.grad) passGrad(x, input.grad);
      input.grad = null;
    } finally {
      input.dispose();
      setDropoutCounter(resume);
    }
  })!;
  const xData = save(node, x);
  return out;
}
