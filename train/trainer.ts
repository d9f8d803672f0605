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
  /** Micro-batches per update (the program must be compiled with the same). */
  readonly accumulate?: number;
}

export type Metrics = Record<string, number>;

export class Trainer {
  /** Updates done so far. */
  step = 0;
  /** Micro-batches run since the last update (always 0 without accumulation). */
  private pending = 0;
  private readonly scalars: string[];

  constructor(
    readonly session: Session,
    readonly settings: TrainerSettings,
  ) {
    this.scalars = session.program.outputs.filter((o) => o.shape.length === 0).map((o) => o.name);
  }

  /**
   * One micro-batch: its losses and metrics (before any update) and the lr;
   * the update takes effect on every `accumulate`-th call. Dropout is keyed
   * by the micro-batch count, so each micro-batch draws its own masks.
   */
  private lastTurn = performance.now();

  /**
   * Gives the event loop a turn every 50 ms. A step on the CPU resolves
   * without ever waiting, so a loop of steps would otherwise starve it: a
   * signal (Ctrl-C) would never be heard, a timer never fire.
   */
  private async letEventsIn(): Promise<void> {
    if (performance.now() - this.lastTurn < 50) return;
    await new Promise<void>((done) => setTimeout(done, 0));
    this.lastTurn = performance.now();
  }

  /** One step on a batch; `sizes` for a padding-free program (the packed batch's tokens and sequences). */
  async trainStep(batch: Readonly<Record<string, ArrayLike<number>>>, sizes?: readonly number[]): Promise<Metrics> {
    const { schedule, weightDecay, beta1, beta2, seed } = this.settings;
    const accumulate = this.settings.accumulate ?? 1;
    const lr = learningRate(schedule, this.step);
    const t = this.step + 1;
    const applies = this.pending === accumulate - 1;
    const inputs = {
      ...batch,
      [STEP_INPUTS.stepSize]: [lr / (1 - beta1 ** t)],
      [STEP_INPUTS.invSqrtBias2]: [1 / Math.sqrt(1 - beta2 ** t)],
      [STEP_INPUTS.decay]: [1 - lr * weightDecay],
      ...(accumulate > 1 ? { [STEP_INPUTS.apply]: [applies ? 1 : 0] } : {}),
    };
    const out = await this.session.run(inputs, { seed, step: this.step * accumulate + this.pending + 1, ...(sizes ? { sizes } : {}) }, this.scalars);
    await this.letEventsIn();
    if (applies) {
      this.step = t;
      this.pending = 0;
    } else this.pending++;
    return { ...Object.fromEntries(Object.entries(out).map(([name, v]) => [name, v.data[0]!])), lr };
  }
}
