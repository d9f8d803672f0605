// Variants chosen through config alone: pre-LN, sinusoidal positions, other
// activations and the fine-tuning heads, built and run by the interpreter.

import { describe, expect, it } from 'vitest';
import { compileFile } from '../../compiler/compile.js';
import { sourceName } from '../../compiler/ir/graph.js';
import { interpret } from '../../compiler/ir/interpret.js';
import { hostTensor, type HostTensor } from '../../compiler/ir/tensor.js';
import type { Graph } from '../../compiler/ir/graph.js';
import { modelsDir, specFiles } from '../helpers/cli.js';
import { randomTensor, rng } from '../helpers/random.js';

const small = 'vocab_size: 30, hidden_size: 8, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 12, max_position_embeddings: 16';

function spec(config: string, base = 'bert.yaml'): string {
  return specFiles({ 'v.yaml': `extends: ${modelsDir()}/${base}\nconfig: {${small}${config ? `, ${config}` : ''}}\n` })['v.yaml']!;
}

function run(graph: Graph): Record<string, HostTensor> {
  const next = rng(7);
  const params = Object.fromEntries(
    graph.nodes.filter((n) => n.op === 'param').map((n) => [sourceName(n)!, randomTensor(next, 'f32', n.type.shape, -0.3, 0.3)]),
  );
  const [b, s] = [graph.dims.batch!, graph.dims.seq!];
  const ids = hostTensor('i32', [b, s], Array.from({ length: b * s }, (_, i) => (i * 7) % 30));
  return interpret(graph, { input_ids: ids, token_type_ids: hostTensor('i32', [b, s], new Array(b * s).fill(0)), attention_mask: hostTensor('i32', [b, s], new Array(b * s).fill(1)) }, params);
}

const names = (g: Graph) => g.nodes.map(sourceName).filter((n): n is string => n !== undefined);

describe('variants by config', () => {
  it('pre-LN adds the final encoder LayerNorm and keeps the parameter names', () => {
    const post = compileFile(spec(''), { batch: 1, seq: 5 }).graph;
    const pre = compileFile(spec('norm_placement: pre'), { batch: 1, seq: 5, verify: true }).graph;
    expect(names(pre).filter((n) => !names(post).includes(n))).toEqual(['bert.encoder.LayerNorm.weight', 'bert.encoder.LayerNorm.bias']);
    const out = run(pre)['last_hidden_state']!;
    expect(out.shape).toEqual([1, 5, 8]);
    expect(Array.from(out.data).every(Number.isFinite)).toBe(true);
  });

  it('sinusoidal positions have no position table and allow any length', () => {
    const g = compileFile(spec('position_embedding_type: sinusoidal'), { batch: 2, seq: 40, verify: true }).graph;
    expect(names(g)).not.toContain('bert.embeddings.position_embeddings.weight');
    expect(g.nodes.some((n) => n.op === 'sinusoidal')).toBe(true);
    expect(run(g)['pooler_output']!.shape).toEqual([2, 8]);
  });

  it('learned positions refuse a sequence longer than the table', () => {
    expect(() => compileFile(spec(''), { batch: 1, seq: 17 })).toThrow('sequence length 17 exceeds max_position_embeddings (16)');
  });

  it.each(['gelu_tanh', 'relu'])('uses the %s activation', (act) => {
    const g = compileFile(spec(`hidden_act: ${act}`), { batch: 1, seq: 3 }).graph;
    expect(g.nodes.filter((n) => n.op === act)).toHaveLength(3); // two layers and the MLM transform
  });

  it('builds the QA head with start and end logits', () => {
    const g = compileFile(spec('', 'bert-base-qa.yaml'), { batch: 2, seq: 6, verify: true }).graph;
    const out = run(g);
    expect(Object.keys(out).sort()).toEqual(['end_logits', 'last_hidden_state', 'pooler_output', 'start_logits']);
    expect(out['start_logits']!.shape).toEqual([2, 6]);
  });
});
