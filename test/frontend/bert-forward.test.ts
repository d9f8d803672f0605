// The interpreter's BERT forward against a second computation written here
// with plain loops, from the BERT paper and HuggingFace's BertForPreTraining,
// sharing nothing with the spec library or the interpreter but the weights.

import { describe, expect, it } from 'vitest';
import { compileFile } from '../../compiler/compile.js';
import { sourceName } from '../../compiler/ir/graph.js';
import { interpret } from '../../compiler/ir/interpret.js';
import { hostTensor, type HostTensor } from '../../compiler/ir/tensor.js';
import { maxAbsDiff, rng } from '../helpers/random.js';
import { modelsDir, specFiles } from '../helpers/cli.js';

const V = 40, H = 16, LAYERS = 2, HEADS = 2, I = 24, P = 12, T = 2, EPS = 1e-12;
const B = 2, S = 6;

type Weights = Record<string, Float64Array>;

// ---- the second computation ----

let largestGeluArgument = 0;

/** erf by its Maclaurin series: exact to ~1e-15 for |z| < 3.2 (the test checks it stays there). */
function erfSeries(z: number): number {
  largestGeluArgument = Math.max(largestGeluArgument, Math.abs(z));
  let sum = 0, power = z, factorial = 1;
  for (let n = 0; n < 100; n++) {
    if (n > 0) { power *= z * z; factorial *= n; }
    sum += ((n % 2 ? -1 : 1) * power) / (factorial * (2 * n + 1));
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

const gelu = (x: number) => 0.5 * x * (1 + erfSeries(x / Math.SQRT2));

/** y[r][o] = sum_i x[r][i] * W[o][i] + b[o] for rows of x. */
function dense(x: number[][], w: Float64Array, b: Float64Array | undefined, out: number): number[][] {
  return x.map((row) => {
    const y: number[] = [];
    for (let o = 0; o < out; o++) {
      let s = b ? b[o]! : 0;
      for (let i = 0; i < row.length; i++) s += row[i]! * w[o * row.length + i]!;
      y.push(s);
    }
    return y;
  });
}

function layerNorm(x: number[][], gamma: Float64Array, beta: Float64Array): number[][] {
  return x.map((row) => {
    const mean = row.reduce((a, v) => a + v, 0) / row.length;
    const variance = row.reduce((a, v) => a + (v - mean) * (v - mean), 0) / row.length;
    return row.map((v, k) => ((v - mean) / Math.sqrt(variance + EPS)) * gamma[k]! + beta[k]!);
  });
}

const addRows = (a: number[][], b: number[][]) => a.map((row, r) => row.map((v, k) => v + b[r]![k]!));

function bertByHand(w: Weights, ids: number[][], types: number[][], mask: number[][]) {
  const hidden: number[][][] = [];
  const pooled: number[][] = [];
  const mlm: number[][][] = [];
  const nsp: number[][] = [];
  for (let b = 0; b < B; b++) {
    let h: number[][] = [];
    for (let s = 0; s < S; s++) {
      h.push(Array.from({ length: H }, (_, k) =>
        w['bert.embeddings.word_embeddings.weight']![ids[b]![s]! * H + k]! +
        w['bert.embeddings.token_type_embeddings.weight']![types[b]![s]! * H + k]! +
        w['bert.embeddings.position_embeddings.weight']![s * H + k]!));
    }
    h = layerNorm(h, w['bert.embeddings.LayerNorm.weight']!, w['bert.embeddings.LayerNorm.bias']!);
    for (let l = 0; l < LAYERS; l++) {
      const p = (name: string) => w[`bert.encoder.layer.${l}.${name}`]!;
      const q = dense(h, p('attention.self.query.weight'), p('attention.self.query.bias'), H);
      const k = dense(h, p('attention.self.key.weight'), p('attention.self.key.bias'), H);
      const v = dense(h, p('attention.self.value.weight'), p('attention.self.value.bias'), H);
      const d = H / HEADS;
      const context = Array.from({ length: S }, () => new Array<number>(H).fill(0));
      for (let head = 0; head < HEADS; head++) {
        for (let i = 0; i < S; i++) {
          const scores: number[] = [];
          for (let j = 0; j < S; j++) {
            let dot = 0;
            for (let e = 0; e < d; e++) dot += q[i]![head * d + e]! * k[j]![head * d + e]!;
            scores.push(dot / Math.sqrt(d) + (1 - mask[b]![j]!) * -3.4028234663852886e38);
          }
          const top = Math.max(...scores);
          const exps = scores.map((x) => Math.exp(x - top));
          const total = exps.reduce((a, x) => a + x, 0);
          for (let j = 0; j < S; j++) {
            for (let e = 0; e < d; e++) context[i]![head * d + e]! += (exps[j]! / total) * v[j]![head * d + e]!;
          }
        }
      }
      const attended = dense(context, p('attention.output.dense.weight'), p('attention.output.dense.bias'), H);
      h = layerNorm(addRows(attended, h), p('attention.output.LayerNorm.weight'), p('attention.output.LayerNorm.bias'));
      const up = dense(h, p('intermediate.dense.weight'), p('intermediate.dense.bias'), I).map((row) => row.map(gelu));
      const down = dense(up, p('output.dense.weight'), p('output.dense.bias'), H);
      h = layerNorm(addRows(down, h), p('output.LayerNorm.weight'), p('output.LayerNorm.bias'));
    }
    hidden.push(h);
    const pool = dense([h[0]!], w['bert.pooler.dense.weight']!, w['bert.pooler.dense.bias']!, H)[0]!.map(Math.tanh);
    pooled.push(pool);
    let t = dense(h, w['cls.predictions.transform.dense.weight']!, w['cls.predictions.transform.dense.bias']!, H).map((row) => row.map(gelu));
    t = layerNorm(t, w['cls.predictions.transform.LayerNorm.weight']!, w['cls.predictions.transform.LayerNorm.bias']!);
    mlm.push(dense(t, w['bert.embeddings.word_embeddings.weight']!, w['cls.predictions.bias']!, V));
    nsp.push(dense([pool], w['cls.seq_relationship.weight']!, w['cls.seq_relationship.bias']!, 2)[0]!);
  }
  return { last_hidden_state: hidden.flat(2), pooler_output: pooled.flat(), prediction_logits: mlm.flat(2), seq_relationship_logits: nsp.flat() };
}

// ---- the test ----

describe('BERT forward in the float64 interpreter', () => {
  it('equals an independent plain-loop computation to 1e-12', () => {
    const files = specFiles({
      'small.yaml': `extends: ${modelsDir()}/bert.yaml
config: {vocab_size: ${V}, hidden_size: ${H}, num_hidden_layers: ${LAYERS}, num_attention_heads: ${HEADS}, intermediate_size: ${I}, max_position_embeddings: ${P}, type_vocab_size: ${T}}
`,
    });
    const { graph } = compileFile(files['small.yaml']!, { batch: B, seq: S, verify: true });
    const next = rng(2024);
    const uniform = (lo: number, hi: number) => lo + (hi - lo) * next();
    const weights: Weights = {};
    const params: Record<string, HostTensor> = {};
    for (const node of graph.nodes.filter((n) => n.op === 'param')) {
      const name = sourceName(node)!;
      const n = node.type.shape.reduce((a, d) => a * d, 1);
      // Weights about N(0, 0.2); LayerNorm gains near 1; biases small: activations stay in a realistic range.
      const values = Float64Array.from({ length: n }, () =>
        name.endsWith('LayerNorm.weight') ? uniform(0.8, 1.2) : name.endsWith('bias') ? uniform(-0.1, 0.1) : uniform(-0.35, 0.35));
      weights[name] = values;
      params[name] = hostTensor('f32', node.type.shape, values);
    }
    const ids = [[1, 7, 33, 12, 2, 39], [1, 5, 2, 0, 0, 0]];
    const types = [[0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 0, 0]];
    const mask = [[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]];
    const tensor = (rows: number[][]) => hostTensor('i32', [B, S], rows.flat());
    const got = interpret(graph, { input_ids: tensor(ids), token_type_ids: tensor(types), attention_mask: tensor(mask) }, params);
    largestGeluArgument = 0;
    const want = bertByHand(weights, ids, types, mask);
    expect(largestGeluArgument).toBeGreaterThan(0.5);
    expect(largestGeluArgument).toBeLessThan(3.2);
    for (const [name, values] of Object.entries(want)) {
      expect(got[name]!.data.length, name).toBe(values.length);
      expect(maxAbsDiff(got[name]!.data, values), name).toBeLessThan(1e-12);
    }
    // Padding changes nothing for the real tokens of the second sequence: its [CLS] state is not all-equal noise.
    expect(new Set(want.last_hidden_state.slice(S * H, S * H + H)).size).toBe(H);
  });
});
