// HuggingFace directories: config.json import, the directory path and the
// imported YAML path give the same numbers, each architecture's parameters.

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileFile } from '../../compiler/compile.js';
import { sourceName } from '../../compiler/ir/graph.js';
import { interpret } from '../../compiler/ir/interpret.js';
import { hostTensor } from '../../compiler/ir/tensor.js';
import { readSafetensors, writeSafetensors, type TensorToWrite } from '../../runtime/safetensors.js';
import { maxAbsDiff, rng } from '../helpers/random.js';
import { tcc } from '../helpers/cli.js';

const H = 24, L = 3, I = 40, V = 50, P = 20;

function hfDir(architecture: string, extra: Record<string, unknown> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'tcc-hf-'));
  const config = {
    architectures: [architecture], model_type: 'bert', hidden_act: 'gelu', hidden_size: H, num_hidden_layers: L, num_attention_heads: 3,
    intermediate_size: I, max_position_embeddings: P, type_vocab_size: 2, vocab_size: V, layer_norm_eps: 1e-12, position_embedding_type: 'absolute', ...extra,
  };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  return dir;
}

function randomCheckpoint(dir: string, rename = (n: string) => n): Record<string, TensorToWrite> {
  const { graph } = compileFile(dir, { batch: 1, seq: 4 });
  const next = rng(5);
  const weights: Record<string, TensorToWrite> = {};
  for (const node of graph.nodes.filter((n) => n.op === 'param')) {
    const size = node.type.shape.reduce((a, d) => a * d, 1);
    weights[rename(sourceName(node)!)] = { dtype: 'F32', shape: node.type.shape, data: Float32Array.from({ length: size }, () => next() - 0.5) };
  }
  writeFileSync(join(dir, 'model.safetensors'), writeSafetensors(weights));
  return weights;
}

const inputs = { input_ids: [[2, 11, 12, 13, 3], [2, 40, 3, 0, 0]], attention_mask: [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]] };

describe('HuggingFace directories', () => {
  it('run the same through the directory and through the imported YAML, equal to the interpreter', async () => {
    const dir = hfDir('BertForPreTraining');
    const weights = randomCheckpoint(dir);
    writeFileSync(join(dir, 'inputs.json'), JSON.stringify(inputs));
    const viaDir = (await tcc('run', '--model', dir, '--inputs', join(dir, 'inputs.json'), '--out', join(dir, 'a.safetensors')));
    expect(viaDir.code).toBe(0);
    expect(viaDir.stderr).toContain(`weights ${join(dir, 'model.safetensors')}`);
    expect((await tcc('import-hf', dir, '-o', join(dir, 'model.yaml'))).code).toBe(0);
    const viaYaml = (await tcc('run', '--model', join(dir, 'model.yaml'), '--weights', join(dir, 'model.safetensors'), '--inputs', join(dir, 'inputs.json'), '--out', join(dir, 'b.safetensors')));
    expect(viaYaml.code).toBe(0);
    const a = readSafetensors(readFileSync(join(dir, 'a.safetensors'))).tensors;
    const b = readSafetensors(readFileSync(join(dir, 'b.safetensors'))).tensors;
    expect([...a.keys()].sort()).toEqual(['last_hidden_state', 'pooler_output', 'prediction_logits', 'seq_relationship_logits']);
    for (const [name, t] of a) expect(Array.from(b.get(name)!.data), name).toEqual(Array.from(t.data));

    const { graph } = compileFile(dir, { batch: 2, seq: 5 });
    const params = Object.fromEntries(Object.entries(weights).map(([n, t]) => [n, hostTensor('f32', t.shape, t.data)]));
    const ids = hostTensor('i32', [2, 5], inputs.input_ids.flat());
    const want = interpret(graph, { input_ids: ids, token_type_ids: hostTensor('i32', [2, 5], new Array(10).fill(0)), attention_mask: hostTensor('i32', [2, 5], inputs.attention_mask.flat()) }, params);
    for (const [name, t] of Object.entries(want)) expect(maxAbsDiff(a.get(name)!.data, t.data), name).toBeLessThan(1e-4);
  });

  const encoder = (V + P + 2) * H + 2 * H + L * (4 * (H * H + H) + 2 * H + (H * I + I) + (I * H + H) + 2 * H);
  const pooler = H * H + H;
  const mlm = H * H + H + 2 * H + V;
  it.each([
    ['BertModel', encoder + pooler, {}],
    ['BertForPreTraining', encoder + pooler + mlm + 2 * H + 2, {}],
    ['BertForMaskedLM', encoder + mlm, {}],
    ['BertForNextSentencePrediction', encoder + pooler + 2 * H + 2, {}],
    ['BertForSequenceClassification', encoder + pooler + 3 * H + 3, { id2label: { 0: 'a', 1: 'b', 2: 'c' } }],
    ['BertForTokenClassification', encoder + 5 * H + 5, { num_labels: 5 }],
    ['BertForQuestionAnswering', encoder + 2 * H + 2, {}],
  ] as const)('import %s with its HuggingFace parameter count', (arch, count, extra) => {
    expect(compileFile(hfDir(arch, extra), { seq: 8 }).stats.parameters).toBe(count);
  });

  it('loads a BertModel checkpoint (names without "bert.") and TF-era LayerNorm gamma/beta', async () => {
    const dir = hfDir('BertModel');
    randomCheckpoint(dir, (n) => n.replace(/^bert\./, '').replace(/LayerNorm\.weight$/, 'LayerNorm.gamma').replace(/LayerNorm\.bias$/, 'LayerNorm.beta'));
    writeFileSync(join(dir, 'inputs.json'), JSON.stringify(inputs));
    const result = (await tcc('run', '--model', dir, '--inputs', join(dir, 'inputs.json'), '--out', join(dir, 'o.safetensors')));
    expect(result.stderr).not.toMatch(/unused/);
    expect(result.code).toBe(0);
  });

  it('reports unsupported settings at their place in config.json', async () => {
    const dir = hfDir('BertForMultipleChoice', { hidden_act: 'swish', use_cache: true, is_decoder: true, rotary_emb_base: 10000 });
    const result = (await tcc('compile', dir, '--seq', '8'));
    expect(result.code).toBe(2);
    const errors = result.stderr.split('\n').filter((l) => l.includes('error:'));
    expect(errors).toEqual([
      `${join(dir, 'config.json')}:2:20: error: architecture 'BertForMultipleChoice' is not supported for model_type 'bert'; supported: BertForPreTraining, BertModel, BertForMaskedLM, BertForNextSentencePrediction, BertForSequenceClassification, BertForTokenClassification, BertForQuestionAnswering`,
      `${join(dir, 'config.json')}:17:17: error: is_decoder true is not supported (tcc builds false)`,
      `${join(dir, 'config.json')}:18:3: error: config field 'rotary_emb_base' is not supported for model_type 'bert'`,
      `${join(dir, 'config.json')}:6:17: error: hidden_act 'swish' is not supported; supported: gelu, gelu_new, gelu_pytorch_tanh, relu`,
    ]);
    const other = hfDir('BertModel', { model_type: 'deberta-v2' });
    const refused = await tcc('compile', other, '--seq', '8');
    expect(refused.stderr).toContain(`${join(other, 'config.json')}:5:17: error: model_type 'deberta-v2' is not supported; tcc imports 'bert', 'roberta', 'xlm-roberta', 'distilbert', 'albert', 'electra', 'nomic_bert', 'modernbert' (and JinaBERT, by its classes)`);
  });
});
