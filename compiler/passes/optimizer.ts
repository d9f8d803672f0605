// The optimizer update as part of the training graph, so that later fusion
// and memory planning see the whole step. AdamW as torch.optim.AdamW:
//   1. clip: g ← g · min(1, clip / (‖g‖₂ + 1e-6)), the norm over all gradients
//      (output "grad_norm", before clipping);
//   2. moments: m ← β1·m + (1−β1)·g,  v ← β2·v + (1−β2)·g²  (state tensors);
//   3. p ← p·(1 − lr·wd) − (lr / c1) · m / (√v / √c2 + ε), where c1, c2 are
//      the bias corrections; biases and layer norms' weights get no decay.
// The update is written over each parameter group (decayed or not) as a
// whole: the group's parameters, gradients and moments are each flattened
// and concatenated, so the update is one elementwise expression over the
// group and the norm one reduction. The concatenations cost nothing once
// laid out in place (parameters kept, gradients written, at consecutive
// offsets of one buffer), and each parameter's new value is a slice.
// With gradient accumulation over k micro-batches, each run adds its
// gradients to a state accumulator, and the step above (on the mean of the k)
// takes effect only on runs whose input "opt.apply" is 1, which also empties
// the accumulators; on the others, parameters and moments stay as they are.
// The per-step scalars (lr / c1, 1 / √c2, 1 − lr·wd) are graph inputs that
// the trainer feeds from its schedule. New values leave as "update:NAME"
// outputs, which the runtime copies over the parameters and state (or which
// memory planning computes in place). A step returns its scalars (losses,
// metrics, the gradient norm) and the updates: the model's own tensors
// (logits, hidden states) are not outputs of a training step, so their
// memory is free once the backward pass has used them.

import { sourceName, UPDATE_PREFIX, type Graph, type Node } from '../ir/graph.js';
import { numel } from '../ir/types.js';
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

/**
 * HuggingFace Trainer's convention: no weight decay for biases and for the
 * parameters of layer norms (whatever a family names them: LayerNorm,
 * layer_norm, norm1, final_norm).
 */
export function undecayed(graph: Graph): Set<string> {
  const names = new Set(graph.nodes.filter((n) => n.op === 'param' && sourceName(n)!.endsWith('bias')).map((n) => sourceName(n)!));
  for (const n of graph.nodes) {
    if (n.op !== 'layer_norm') continue;
    for (const arg of n.args.slice(1)) if (graph.nodes[arg]!.op === 'param') names.add(sourceName(graph.nodes[arg]!)!);
  }
  return names;
}

export const momentName = (which: 'm' | 'v', param: string) => `adam.${which}:${param}`;

export function addAdamW(graph: Graph, options: AdamWOptions = DEFAULT_ADAMW): Graph {
  const kept = graph.outputs.filter((o) => !o.name.startsWith(GRAD_PREFIX) && graph.nodes[o.node]!.type.shape.length === 0);
  const b = rebuild({ ...graph, outputs: kept });
  const add = (op: Parameters<typeof b.add>[0], args: number[], attrs: object = {}) => b.add(op, args, attrs as never, 'adamw').id;
  const scalarInput = (name: string) => b.add('input', [], { name, dtype: 'f32', shape: [] }, 'adamw').id;
  const fill = (value: number) => add('fill', [], { value, dtype: 'f32', shape: [] });
  const affine = (x: number, scale: number, shift = 0) => add('affine', [x], { scale, shift });
  const stepSize = scalarInput(STEP_INPUTS.stepSize);
  const invSqrtBias2 = scalarInput(STEP_INPUTS.invSqrtBias2);
  const decay = scalarInput(STEP_INPUTS.decay);
  const k = options.accumulate;
  const apply = k > 1 ? scalarInput(STEP_INPUTS.apply) : undefined;

  const params = graph.nodes.filter((n) => n.op === 'param');
  const gradOf = new Map(graph.outputs.filter((o) => o.name.startsWith(GRAD_PREFIX)).map((o) => [o.name.slice(GRAD_PREFIX.length), o.node]));
  for (const p of params) if (!gradOf.has(sourceName(p)!)) throw new Error(`the graph has no gradient for '${sourceName(p)}': run autodiff first`);
  const fixed = undecayed(graph);
  const decays = (name: string) => !fixed.has(name);
  const groups = [params.filter((p) => decays(sourceName(p)!)), params.filter((p) => !decays(sourceName(p)!))].filter((g) => g.length);

  /** A group's tensors, one per parameter, flattened and concatenated. */
  const flat = (ids: readonly number[]) => {
    const parts = ids.map((id) => add('reshape', [id], { shape: [-1] }));
    return parts.length === 1 ? parts[0]! : add('concat', parts, { axis: 0 });
  };
  const state = (name: string, p: Node) => b.add('state', [], { name, shape: [...p.type.shape] }, 'adamw').id;
  /** Under accumulation, the new value only where opt.apply is 1. */
  const gated = (old: number, next: number) => (apply === undefined ? next : add('add', [old, add('mul', [add('sub', [next, old]), apply])]));

  const flats = groups.map((group) => {
    const names = group.map((p) => sourceName(p)!);
    let g = flat(names.map((name) => gradOf.get(name)!));
    const acc = k > 1 ? { old: flat(group.map((p, i) => state(accumulatorName(names[i]!), p))), sum: 0 } : undefined;
    if (acc) {
      acc.sum = add('add', [acc.old, g]);
      g = affine(acc.sum, 1 / k);
    }
    return { group, names, g, acc };
  });

  let coef: number | undefined;
  if (options.clip > 0) {
    const squares = flats.map(({ g }) => add('sum', [add('mul', [g, g])], { axes: [0], keepdims: false }));
    const norm = add('sqrt', [squares.reduce((total, s) => add('add', [total, s]))]);
    b.output('grad_norm', norm);
    coef = add('minimum', [fill(1), add('div', [fill(options.clip), add('add', [norm, fill(1e-6)])])]);
  }

  for (const { group, names, g: raw, acc } of flats) {
    const g = coef === undefined ? raw : add('mul', [raw, coef]);
    const p = flat(group.map((n) => n.id));
    const m = flat(group.map((n, i) => state(momentName('m', names[i]!), n)));
    const v = flat(group.map((n, i) => state(momentName('v', names[i]!), n)));
    const m2 = add('add', [affine(m, options.beta1), affine(g, 1 - options.beta1)]);
    const v2 = add('add', [affine(v, options.beta2), affine(add('mul', [g, g]), 1 - options.beta2)]);
    const denom = affine(add('mul', [add('sqrt', [v2]), invSqrtBias2]), 1, options.eps);
    const step = add('div', [add('mul', [m2, stepSize]), denom]);
    const kept = decays(names[0]!) ? add('mul', [p, decay]) : p;
    const news: [string, number][] = [['', gated(p, add('sub', [kept, step]))], ['m', gated(m, m2)], ['v', gated(v, v2)]];
    // Emptied when the update is applied, kept otherwise.
    if (acc) news.push(['acc', add('mul', [acc.sum, affine(apply!, -1, 1)])]);
    let offset = 0;
    group.forEach((param, i) => {
      const size = numel(param.type.shape);
      for (const [which, all] of news) {
        const slice = group.length === 1 ? all : add('slice', [all], { axis: 0, start: offset, end: offset + size });
        const name = which === '' ? names[i]! : which === 'acc' ? accumulatorName(names[i]!) : momentName(which as 'm' | 'v', names[i]!);
        b.output(`${UPDATE_PREFIX}${name}`, add('reshape', [slice], { shape: [...param.type.shape] }));
      }
      offset += size;
    });
  }
  return b.build();
}
