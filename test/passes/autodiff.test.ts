// Gradients against central finite differences in the float64 interpreter:
// every differentiable op of the op table, and a whole 2-layer BERT with both
// pretraining losses. Relative error ≤ 1e-6 (relative to the gradient's scale).

import { describe, expect, it } from 'vitest';
import { buildGraph } from '../../compiler/frontend/build.js';
import { loadSpec } from '../../compiler/parser/load.js';
import { GraphBuilder, sourceName, type Graph } from '../../compiler/ir/graph.js';
import { interpret } from '../../compiler/ir/interpret.js';
import { hostTensor, type HostTensor } from '../../compiler/ir/tensor.js';
import { autodiff, GRAD_PREFIX } from '../../compiler/passes/autodiff.js';
import { GRADIENTS } from '../../compiler/passes/grad-rules.js';
import { opDef } from '../../compiler/ir/ops/index.js';
import { verifyGraph } from '../../compiler/ir/verify.js';
import { OP_CASES } from '../ops/cases.js';
import { randomTensor, rng } from '../helpers/random.js';
import { modelsDir, specFiles } from '../helpers/cli.js';

/** Fourth-order central differences: error O(h⁴), so that 1e-6 measures the gradient, not the stencil. */
const H = 1e-4;

/**
 * Worst |autodiff − finite difference| over the gradient's scale: per
 * parameter its largest magnitude, but at least 1e-3 of the largest of all
 * (a parameter with near-zero gradients would otherwise measure the stencil's
 * rounding).
 */
function gradientError(graph: Graph, inputs: Record<string, HostTensor>, params: Record<string, HostTensor>, options = {}): number {
  const withGrads = autodiff(graph, 'loss');
  verifyGraph(withGrads);
  const got = interpret(withGrads, inputs, params, options);
  const loss = (p: Record<string, HostTensor>) => interpret(graph, inputs, p, options)['loss']!.data[0]!;
  const numerics = new Map<string, Float64Array>();
  for (const [name, value] of Object.entries(params)) {
    const numeric = new Float64Array(value.data.length);
    for (let i = 0; i < numeric.length; i++) {
      const shifted = (delta: number) => {
        const data = Float64Array.from(value.data);
        data[i]! += delta;
        return loss({ ...params, [name]: { ...value, data } });
      };
      numeric[i] = (8 * (shifted(H) - shifted(-H)) - (shifted(2 * H) - shifted(-2 * H))) / (12 * H);
    }
    numerics.set(name, numeric);
  }
  const largest = (xs: Float64Array) => xs.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const overall = Math.max(1e-9, ...[...numerics.values()].map(largest));
  let worst = 0;
  for (const [name, numeric] of numerics) {
    const analytic = got[`${GRAD_PREFIX}${name}`]!.data;
    const scale = Math.max(largest(numeric), 1e-3 * overall);
    for (let i = 0; i < numeric.length; i++) worst = Math.max(worst, Math.abs(analytic[i]! - numeric[i]!) / scale);
  }
  return worst;
}

const differentiable = OP_CASES.filter((c) => {
  const rule = GRADIENTS[c.op];
  return typeof rule === 'function' && c.operands.some((o) => o.dtype === 'f32') && !(c.op === 'cast' && c.attrs && (c.attrs as { to: string }).to === 'i32');
});

describe('autodiff', () => {
  it.each(differentiable.map((c, i) => [`${c.op} #${i} ${c.operands.map((o) => `${o.dtype}[${o.shape}]`).join(' ')}`, c] as const))(
    '%s agrees with finite differences',
    (_, test) => {
      const next = rng(21);
      const mode = opDef(test.op).stochastic ? 'train' : 'infer';
      const g = new GraphBuilder('case', mode, {});
      const params: Record<string, HostTensor> = {};
      const inputs: Record<string, HostTensor> = {};
      const args = test.operands.map((o, k) => {
        const value = o.values ? hostTensor(o.dtype, o.shape, o.values) : randomTensor(next, o.dtype, o.shape, o.lo ?? -2, o.hi ?? 2);
        if (o.dtype === 'f32') {
          params[`p${k}`] = value;
          return g.add('param', [], { name: `p${k}`, shape: [...o.shape], init: 'normal', std: 0.02 }).id;
        }
        inputs[`x${k}`] = value;
        return g.add('input', [], { name: `x${k}`, dtype: o.dtype, shape: [...o.shape] }).id;
      });
      const y = g.add(test.op, args, test.attrs as never);
      // loss = Σ y ⊙ w with a fixed random w: every output element matters, with its own weight.
      inputs.w = randomTensor(next, 'f32', y.type.shape);
      const w = g.add('input', [], { name: 'w', dtype: 'f32', shape: [...y.type.shape] });
      const weighted = g.add('mul', [y.id, w.id], {});
      const all = y.type.shape.map((_, d) => d);
      g.output('loss', all.length ? g.add('sum', [weighted.id], { axes: all, keepdims: false }).id : weighted.id);
      expect(gradientError(g.build(), inputs, params, { seed: 3, step: 1 })).toBeLessThan(1e-6);
    },
  );

  it('differentiates a 2-layer BERT with the MLM and NSP losses', () => {
    const spec = specFiles({ 'm.yaml': `extends: ${modelsDir()}/bert.yaml\nconfig: {vocab_size: 12, hidden_size: 8, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 12, max_position_embeddings: 8, hidden_dropout_prob: 0, attention_probs_dropout_prob: 0}\n` })['m.yaml']!;
    // The forward training graph (losses, no gradients or optimizer yet), straight from the frontend.
    const lossGraph = buildGraph(loadSpec(spec).spec, { batch: 2, seq: 4, mode: 'train' });
    const next = rng(5);
    const params = Object.fromEntries(lossGraph.nodes.filter((n) => n.op === 'param').map((n) => [sourceName(n)!, randomTensor(next, 'f32', n.type.shape, -0.5, 0.5)]));
    const inputs = {
      input_ids: hostTensor('i32', [2, 4], [2, 5, 9, 3, 2, 7, 3, 0]),
      token_type_ids: hostTensor('i32', [2, 4], [0, 0, 1, 1, 0, 0, 0, 0]),
      attention_mask: hostTensor('i32', [2, 4], [1, 1, 1, 1, 1, 1, 1, 0]),
      labels: hostTensor('i32', [2, 4], [-100, 6, -100, -100, -100, 11, -100, -100]),
      next_sentence_label: hostTensor('i32', [2], [1, 0]),
    };
    expect(gradientError(lossGraph, inputs, params)).toBeLessThan(1e-6);
  });
});
