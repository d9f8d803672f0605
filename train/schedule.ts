// The learning-rate schedule of BERT fine-tuning and pretraining, as
// HuggingFace's get_linear_schedule_with_warmup: linear warmup from 0, then
// linear decay to 0 at the last step. Step indices count from 0, and the
// update with index s uses lr(s), so the very first update of a warmed-up
// run has learning rate 0, exactly as there.

export interface Schedule {
  readonly lr: number;
  readonly warmupSteps: number;
  readonly totalSteps: number;
}

export function learningRate({ lr, warmupSteps, totalSteps }: Schedule, step: number): number {
  if (step < warmupSteps) return (lr * step) / Math.max(1, warmupSteps);
  return lr * Math.max(0, (totalSteps - step) / Math.max(1, totalSteps - warmupSteps));
}

/** "--warmup 0.1" is a fraction of the total steps, "--warmup 500" a step count. */
export function warmupSteps(warmup: number, totalSteps: number): number {
  return warmup < 1 ? Math.round(warmup * totalSteps) : Math.round(warmup);
}
