// Learning-rate schedules with transformers' exact semantics (get_scheduler): a multiplier of the peak
// learning rate as a function of the 0-based optimizer step about to run. With warmup the first step
// uses lr 0, as in transformers.
import type { SchedulerType } from './config-schema.js';

/** transformers' get_warmup_steps: warmup_steps when > 0, else ceil(total · warmup_ratio). */
export function warmupStepsFor(totalSteps: number, warmupSteps: number, warmupRatio: number): number {
  return warmupSteps > 0 ? warmupSteps : Math.ceil(totalSteps * warmupRatio);
}

/** The lr multiplier at 0-based step `step`. */
export function lrMultiplier(type: SchedulerType, step: number, totalSteps: number, warmup: number): number {
  if (type === 'constant') return 1;
  if (step < warmup) return step / Math.max(1, warmup);
  switch (type) {
    case 'constant_with_warmup':
      return 1;
    case 'linear':
      return Math.max(0, (totalSteps - step) / Math.max(1, totalSteps - warmup));
    case 'cosine': {
      // num_cycles = 0.5: half a cosine from 1 down to 0
      const progress = (step - warmup) / Math.max(1, totalSteps - warmup);
      return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * 0.5 * 2 * progress)));
    }
  }
}

export class LrSchedule {
  readonly warmup: number;
  constructor(
    readonly type: SchedulerType,
    readonly peak: number,
    readonly totalSteps: number,
    warmupSteps: number,
    warmupRatio: number,
  ) {
    this.warmup = warmupStepsFor(totalSteps, warmupSteps, warmupRatio);
  }
  /** Learning rate for the 0-based optimizer step `step`. */
  at(step: number): number {
    return this.peak * lrMultiplier(this.type, step, this.totalSteps, this.warmup);
  }
}
