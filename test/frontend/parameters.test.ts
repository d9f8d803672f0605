// Parameter counts and names against HuggingFace's published figures and
// naming scheme, written out here independently of the spec library.

import { describe, expect, it } from 'vitest';
import { compileFile } from '../../compiler/compile.js';
import { sourceName } from '../../compiler/ir/graph.js';
import { specFiles, modelsDir } from '../helpers/cli.js';

const parameters = (file: string) => compileFile(file, { verify: true }).stats.parameters;

/** BertModel's parameter count from its definition (embeddings, L layers, pooler). */
function bertModelParameters(h: number, layers: number, intermediate: number, vocab = 30522, positions = 512, types = 2): number {
  const embeddings = (vocab + positions + types) * h + 2 * h;
  const layer = 4 * (h * h + h) + 2 * h + (h * intermediate + intermediate) + (intermediate * h + h) + 2 * h;
  return embeddings + layers * layer + (h * h + h);
}

/** BertForPreTraining adds the MLM transform, its LayerNorm, the decoder bias (decoder weight tied) and NSP. */
function pretrainingHeads(h: number, vocab = 30522): number {
  return h * h + h + 2 * h + vocab + (2 * h + 2);
}

describe('parameter counts', () => {
  it('matches HuggingFace BertForPreTraining for bert-base and bert-large', () => {
    expect(parameters('models/bert-base.yaml')).toBe(110106428);
    expect(parameters('models/bert.yaml')).toBe(110106428);
    expect(parameters('models/bert-large.yaml')).toBe(336226108);
  });

  it('matches BertModel without heads', () => {
    const files = specFiles({ 'large-encoder.yaml': `extends: ${modelsDir()}/bert-large.yaml\nheads: null\n` });
    expect(parameters('models/bert-base-encoder.yaml')).toBe(109482240);
    expect(parameters(files['large-encoder.yaml']!)).toBe(335141888);
  });

  it('matches the fine-tuning heads', () => {
    const base = 109482240;
    expect(parameters('models/bert-base-classifier.yaml')).toBe(base + 768 * 2 + 2);
    expect(parameters('models/bert-base-token-classifier.yaml')).toBe(base + 768 * 9 + 9);
    expect(parameters('models/bert-base-qa.yaml')).toBe(base + 768 * 2 + 2);
  });

  it.each([
    ['bert-tiny', 128, 2],
    ['bert-mini', 256, 4],
    ['bert-small', 512, 4],
    ['bert-medium', 512, 8],
  ])('matches the formula for %s (H=%i, L=%i)', (name, h, layers) => {
    expect(parameters(`models/${name}.yaml`)).toBe(bertModelParameters(h, layers, 4 * h) + pretrainingHeads(h));
    const heads = compileFile(`models/${name}.yaml`).graph.nodes.find((n) => n.op === 'reshape' && n.label.endsWith('attention.self.qh.split'))!;
    expect(heads.type.shape[3]).toBe(64); // heads are 64 wide
  });
});

describe('parameter names', () => {
  it('are exactly the BertForPreTraining state-dict names and shapes, the decoder tied to the word embeddings', () => {
    const h = 128;
    const expected: Record<string, number[]> = {
      'bert.embeddings.word_embeddings.weight': [30522, h],
      'bert.embeddings.position_embeddings.weight': [512, h],
      'bert.embeddings.token_type_embeddings.weight': [2, h],
      'bert.embeddings.LayerNorm.weight': [h],
      'bert.embeddings.LayerNorm.bias': [h],
      'bert.pooler.dense.weight': [h, h],
      'bert.pooler.dense.bias': [h],
      'cls.predictions.bias': [30522],
      'cls.predictions.transform.dense.weight': [h, h],
      'cls.predictions.transform.dense.bias': [h],
      'cls.predictions.transform.LayerNorm.weight': [h],
      'cls.predictions.transform.LayerNorm.bias': [h],
      'cls.seq_relationship.weight': [2, h],
      'cls.seq_relationship.bias': [2],
    };
    for (const i of [0, 1]) {
      const p = `bert.encoder.layer.${i}`;
      for (const m of ['attention.self.query', 'attention.self.key', 'attention.self.value', 'attention.output.dense']) {
        expected[`${p}.${m}.weight`] = [h, h];
        expected[`${p}.${m}.bias`] = [h];
      }
      expected[`${p}.intermediate.dense.weight`] = [4 * h, h];
      expected[`${p}.intermediate.dense.bias`] = [4 * h];
      expected[`${p}.output.dense.weight`] = [h, 4 * h];
      expected[`${p}.output.dense.bias`] = [h];
      for (const ln of ['attention.output.LayerNorm', 'output.LayerNorm']) {
        expected[`${p}.${ln}.weight`] = [h];
        expected[`${p}.${ln}.bias`] = [h];
      }
    }
    const { graph } = compileFile('models/bert-tiny.yaml');
    const params = graph.nodes.filter((n) => n.op === 'param');
    const actual = Object.fromEntries(params.map((n) => [sourceName(n)!, [...n.type.shape]]));
    expect(actual).toEqual(expected);
    // The MLM decoder multiplies by the word-embedding parameter itself.
    const logits = graph.nodes[graph.outputs.find((o) => o.name === 'prediction_logits')!.node]!;
    const decoderMatmul = graph.nodes[logits.args[0]!]!;
    expect(sourceName(graph.nodes[decoderMatmul.args[1]!]!)).toBe('bert.embeddings.word_embeddings.weight');
  });
});
