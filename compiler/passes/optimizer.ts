// The optimizer update as part of the training graph, so that later fusion
// and memory planning see the whole step. AdamW as torch.optim.AdamW:
//   1. clip: g ← g · min(1, clip / (‖g‖₂ + 1e-6)), the norm over all gradients
//      (output "grad_norm", before clipping);
//   2. moments: m ← β1·m + (1−β1)·g,  v ← β2·v + (1−β2)·g²  (state tensors);
//   3. p ← p·(1 − lr·wd) − (lr / c1) · m / (√v / √c2 + ε), where c1, c2 are
//      the bias corrections; biases and LayerNorm weights get no decay.
// With gradient accumulation over k micro-batches, each run adds its
// gradients to a state accumulator, and the step above (on the mean of the k)
// takes effect only on runs whose input "opt.apply" is 1, which also empties
// the accumulators; on the others, parameters and moments stay as they are.
// The per-step scalars (lr / c1, 1 / √c2, 1 − lr·wd) are graph inputs that
// the trainer feeds from its schedule. New values leave as "update:NAME"
// outputs, which the runtime copies over the parameters and state.

import { sourceName, UPDATE_PREFIX, type Graph } from '../ir/graph.js';
import { GRAD_PREFIX, rebuild } from './autodiff.js';

export const adamwPass = { name: 'adamw', summary: 'appends gradient clipping and the AdamW update of every parameter' } as const;

export interface AdamWOptions {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  /** Global-norm clipping threshold; 0 turns clipping off. */
  readonly clip: number;
  /** Micro-batches whose gradients are averaged into one update. */
  readonly accumulate: number;
}

export const DEFAULT_ADAMW: AdamWOptions = { beta1: 0.9, beta2: 0.999, eps: 1e-6, clip: 1, accumulate: 1 };

/** Scalar inputs of a training step, fed by the trainer ("apply" only when accumulating). */
export const STEP_INPUTS = { stepSize: 'opt.step_size', invSqrtBias2: 'opt.inv_sqrt_bias2', decay: 'opt.decay', apply: 'opt.apply' } as const;

export const accumulatorName = (param: string) => `grad.acc:${param}`;

/** HuggingFace's convention: no weight decay for biases and LayerNorm weights. */
export function decays(param: string): boolean {
  return !(param.endsWith('bias') || param.includes('LayerNorm.weight'));
}

export const momentName = (which: 'm' | 'v', param: string) => `adam.${which}:${param}`;

export function addAdamW(graph: Graph, options: AdamWOptions = DEFAULT_ADAMW): Graph {
  const b = rebuild({ ...graph, outputs: graph.outputs.filter((o) => !o.name.startsWith(GRAD_PREFIX)) });
  const add = (op: Parameters<typeof b.add>[0], args: number[], attrs: object = {}) => b.add(op, args, attrs as never, 'adamw').id;
  const scalarInput = (name: string) => b.add('input', [], { name, dtype: 'f32', shape: [] }, 'adamw').id;
  const fill = (value: number) => add('fill', [], { value, dtype: 'f32', shape: [] });
  const affine = (x: number, scale: number) => add('affine', [x], { scale, shift: 0 });
  const stepSize = scalarInput(STEP_INPUTS.stepSize);
  const invSqrtBias2 = scalarInput(STEP_INPUTS.invSqrtBias2);
  const decay = scalarInput(STEP_INPUTS.decay);

  const params = graph.nodes.filter((n) => n.op === 'param');
  const gradOf = new Map(graph.outputs.filter((o) => o.name.startsWith(GRAD_PREFIX)).map((o) => [o.name.slice(GRAD_PREFIX.length), o.node]));
  let grads = params.map((p) => {
    const g = gradOf.get(sourceName(p)!);
    if (g === undefined) throw new Error(`the graph has no gradient for '${sourceName(p)}': run autodiff first`);
    return g;
  });
  const k = options.accumulate;
  const apply = k > 1 ? scalarInput(STEP_INPUTS.apply) : undefined;
  const accumulated = new Map<number, number>();
  if (k > 1) {
    grads = params.map((p, i) => {
      const acc = b.add('state', [], { name: accumulatorName(sourceName(p)!), shape: [...p.type.shape] }, 'adamw').id;
      const sum = add('add', [acc, grads[i]!]);
      accumulated.set(i, sum);
      return affine(sum, 1 / k);
    });
  }
  /** Under accumulation, the new value only where opt.apply is 1. */
  const gated = (old: number, next: number) => (apply === undefined ? next : add('add', [old, add('mul', [add('sub', [next, old]), apply])]));

  if (options.clip > 0) {
    const squares = grads.map((g) => {
      const axes = b.node(g).type.shape.map((_, d) => d);
      const sq = add('mul', [g, g]);
      return axes.length ? add('sum', [sq], { axes, keepdims: false }) : sq;
    });
    const norm = add('sqrt', [squares.reduce((acc, s) => add('add', [acc, s]))]);
    b.output('grad_norm', norm);
    const coef = add('minimum', [fill(1), add('div', [fill(options.clip), add('add', [norm, fill(1e-6)])])]);
    grads = grads.map((g) => add('mul', [g, coef]));
  }

  params.forEach((p, i) => {
    const name = sourceName(p)!;
    const shape = [...p.type.shape];
    const g = grads[i]!;
    const m = b.add('state', [], { name: momentName('m', name), shape }, 'adamw').id;
    const v = b.add('state', [], { name: momentName('v', name), shape }, 'adamw').id;
    const m2 = add('add', [affine(m, options.beta1), affine(g, 1 - options.beta1)]);
    const v2 = add('add', [affine(v, options.beta2), affine(add('mul', [g, g]), 1 - options.beta2)]);
    const denom = add('affine', [add('mul', [add('sqrt', [v2]), invSqrtBias2])], { scale: 1, shift: options.eps });
    const step = add('div', [add('mul', [m2, stepSize]), denom]);
    const kept = decays(name) ? add('mul', [p.id, decay]) : p.id;
    b.output(`${UPDATE_PREFIX}${name}`, gated(p.id, add('sub', [kept, step])));
    b.output(`${UPDATE_PREFIX}${momentName('m', name)}`, gated(m, m2));
    b.output(`${UPDATE_PREFIX}${momentName('v', name)}`, gated(v, v2));
    if (apply !== undefined) {
      // Emptied when the update is applied, kept otherwise.
      b.output(`${UPDATE_PREFIX}${accumulatorName(name)}`, add('mul', [accumulated.get(i)!, add('affine', [apply], { scale: -1, shift: 1 })]));
    }
  });
  return b.build();
}
