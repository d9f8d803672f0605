// One AdamW training step at a time over a compiled training program: feeds
// the batch and the step's optimizer scalars (from the schedule and the bias
// corrections), runs, and returns the scalar metrics. Parameters and moments
// live in the session; the step count keys dropout, so a run is reproducible.

import { STEP_INPUTS } from '../compiler/passes/optimizer.js';
import type { Session } from '../runtime/session.js';
import { learningRate, type Schedule } from './schedule.js';

export interface TrainerSettings {
  readonly schedule: Schedule;
  readonly weightDecay: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly seed: number;
}

export type Metrics = Record<string, number>;

export class Trainer {
  /** Updates done so far. */
  step = 0;
  private readonly scalars: string[];

  constructor(
    readonly session: Session,
    readonly settings: TrainerSettings,
  ) {
    this.scalars = session.program.outputs.filter((o) => o.shape.length === 0).map((o) => o.name);
  }

  /** One update on a batch; returns the losses and metrics of that batch (before the update) and the lr used. */
  trainStep(batch: Readonly<Record<string, ArrayLike<number>>>): Metrics {
    const { schedule, weightDecay, beta1, beta2, seed } = this.settings;
    const lr = learningRate(schedule, this.step);
    const t = this.step + 1;
    const inputs = {
      ...batch,
      [STEP_INPUTS.stepSize]: [lr / (1 - beta1 ** t)],
      [STEP_INPUTS.invSqrtBias2]: [1 / Math.sqrt(1 - beta2 ** t)],
      [STEP_INPUTS.decay]: [1 - lr * weightDecay],
    };
    const out = this.session.run(inputs, { seed, step: t }, this.scalars);
    this.step = t;
    return { ...Object.fromEntries(Object.entries(out).map(([name, v]) => [name, v.data[0]!])), lr };
  }
}
