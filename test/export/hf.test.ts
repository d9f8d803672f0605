// HuggingFace export: a complete directory that tcc reloads to the same
// outputs, with the class HuggingFace would load it with, or a line saying
// that none does (a variant whose parameters are not BERT's).

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSafetensors } from '../../runtime/safetensors.js';
import { modelsDir, tcc } from '../helpers/cli.js';
import { pretrainWorkspace } from '../helpers/corpus.js';

const SMALL = 'vocab_size: 24, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 24, max_position_embeddings: 16';

describe('tcc export --format hf', () => {
  it.each([
    ['bert.yaml', 'BertForPreTraining'],
    ['bert-base-classifier.yaml', 'BertForSequenceClassification'],
    // HuggingFace's QA model has no pooler, which tcc's spec keeps: its two tensors go unused, and pooler_output with them.
    ['bert-base-qa.yaml', 'BertForQuestionAnswering'],
  ])('writes %s as a directory HuggingFace loads as %s, which tcc reloads to the same outputs', async (base, architecture) => {
    const dir = pretrainWorkspace(2);
    writeFileSync(join(dir, 'm.yaml'), `extends: ${modelsDir()}/${base}\nconfig: {${SMALL}}\n`);
    const out = join(dir, 'hf');
    const exported = await tcc('export', join(dir, 'm.yaml'), '--format', 'hf', '-o', out, '--vocab', join(dir, 'vocab.txt'), '--seed', '9');
    expect(exported.code, exported.stderr).toBe(0);
    expect(exported.stderr).toContain(`HuggingFace's ${architecture} loads it`);
    for (const file of ['config.json', 'model.safetensors', 'vocab.txt', 'tokenizer_config.json', 'special_tokens_map.json']) expect(existsSync(join(out, file)), file).toBe(true);
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(config.architectures).toEqual([architecture]);
    expect(config.hidden_size).toBe(16);
    expect(JSON.parse(readFileSync(join(out, 'tokenizer_config.json'), 'utf8'))).toMatchObject({ tokenizer_class: 'BertTokenizer', do_lower_case: true });
    expect(readFileSync(join(out, 'vocab.txt'), 'utf8')).toBe(readFileSync(join(dir, 'vocab.txt'), 'utf8'));

    const run = async (...model: string[]) => {
      const file = join(dir, `out-${model.length}.safetensors`);
      const result = await tcc('run', ...model, '--text', 'the runner sings .', '--vocab', join(dir, 'vocab.txt'), '--out', file, '--backend', 'js');
      expect(result.code, result.stderr).toBe(0);
      return readSafetensors(readFileSync(file)).tensors;
    };
    const [reloaded, original] = [await run('--model', out), await run('--model', join(dir, 'm.yaml'), '--weights', join(out, 'model.safetensors'))];
    const pooler = architecture === 'BertForQuestionAnswering' ? ['pooler_output'] : [];
    expect([...reloaded.keys(), ...pooler].sort()).toEqual([...original.keys()].sort());
    for (const [name, t] of reloaded) expect(Array.from(t.data), name).toEqual(Array.from(original.get(name)!.data));
    if (pooler.length) expect(exported.stderr).toContain("no use for 2 of the tensors, e.g. 'bert.pooler.dense.weight'");
  });

  it('says in one line that no HuggingFace class loads an ALBERT-like model, and how tcc runs it', async () => {
    const dir = pretrainWorkspace(2);
    writeFileSync(join(dir, 'm.tcc'), `model m extends "${modelsDir()}/variants/albert.tcc" {\n  config {\n    ${SMALL.replace(/: /g, ' = ').replace(/, /g, '\n    ')}\n    embedding_size = 8\n  }\n}\n`);
    const out = join(dir, 'hf');
    const exported = await tcc('export', join(dir, 'm.tcc'), '--format', 'hf', '-o', out, '--vocab', join(dir, 'vocab.txt'));
    expect(exported.code, exported.stderr).toBe(0);
    expect(exported.stderr).toMatch(/no HuggingFace class loads it: its config.json is not one of a HuggingFace class \(.*config\.json:\d+:\d+: error: config field 'embedding_size' is not supported for model_type 'bert'\); tcc runs it with --model .*m\.tcc --weights .*model\.safetensors/);
  });
});
