// A checkpoint carries its spec: a model HuggingFace's config.json cannot
// describe (pre-LN, embeddings without positions) pretrains, fine-tunes from
// its directory alone and runs as it was trained; every shipped model
// written as one file compiles to the graph its own files do.

import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileFile } from '../../compiler/compile.js';
import { sourceName } from '../../compiler/ir/graph.js';
import { printGraph } from '../../compiler/ir/print.js';
import { CHECKPOINT_SPEC, flatSpecText } from '../../compiler/parser/load.js';
import { readSafetensors } from '../../runtime/safetensors.js';
import { modelsDir, tcc } from '../helpers/cli.js';
import { smallPretrainWorkspace } from '../helpers/corpus.js';

/** The small workspace's model, pre-LN and with no position embeddings: neither is a BertConfig setting. */
const PRE_LN = `extends: m.yaml
name: pre-ln
config: {norm_placement: pre}
blocks:
  bert_embeddings:
    inputs: [input_ids, token_type_ids]
    body:
      words: {op: embedding, in: input_ids, name: word_embeddings, rows: vocab_size, dim: hidden_size}
      types: {op: embedding, in: token_type_ids, name: token_type_embeddings, rows: type_vocab_size, dim: hidden_size}
      summed: {op: add, in: [words, types]}
      out: {op: layer_norm, in: summed, name: LayerNorm, eps: layer_norm_eps}
    outputs: [out]
`;

const params = (model: string) => compileFile(model, { batch: 1, seq: 8, fuse: false }).graph.nodes.filter((n) => n.op === 'param').map((n) => `${sourceName(n)!} ${n.type.shape.join('×')}`).sort();
const outputs = (file: string) => Object.fromEntries(Object.entries(readSafetensors(readFileSync(file), file).tensors).map(([k, t]) => [k, Array.from(t.data as Float32Array)]));

describe('a checkpoint tcc writes', () => {
  it('carries its spec: a pre-LN model without positions fine-tunes from its directory and runs as trained', async () => {
    const dir = smallPretrainWorkspace();
    writeFileSync(join(dir, 'pre.yaml'), PRE_LN);
    const run = join(dir, 'run', 'final');
    const pretrained = await tcc('pretrain', join(dir, 'pre.yaml'), '--corpus', join(dir, 'corpus.txt'), '--vocab', join(dir, 'vocab.txt'), '-o', join(dir, 'run'), '--seq', '16', '--batch', '4', '--steps', '3', '--backend', 'js');
    expect(pretrained.code, pretrained.stderr).toBe(0);
    expect(existsSync(join(run, CHECKPOINT_SPEC))).toBe(true);
    // HuggingFace's side of it still says BERT; tcc's side builds what trained.
    expect(JSON.parse(readFileSync(join(run, 'config.json'), 'utf8'))).toMatchObject({ model_type: 'bert' });
    expect(params(run)).toEqual(params(join(dir, 'pre.yaml')));
    expect(params(run).some((p) => p.includes('position_embeddings'))).toBe(false);
    // The same weights through the directory and through the spec file give the same outputs.
    const text = 'w3 w7 [MASK] w9 .';
    const viaDir = await tcc('run', '--model', run, '--text', text, '--out', join(dir, 'dir.safetensors'), '--backend', 'js');
    const viaSpec = await tcc('run', '--model', join(dir, 'pre.yaml'), '--weights', run, '--vocab', join(dir, 'vocab.txt'), '--text', text, '--out', join(dir, 'spec.safetensors'), '--backend', 'js');
    expect(viaDir.code, viaDir.stderr).toBe(0);
    expect(viaSpec.code, viaSpec.stderr).toBe(0);
    expect(outputs(join(dir, 'dir.safetensors'))).toEqual(outputs(join(dir, 'spec.safetensors')));

    // Fine-tuning names the directory alone; its best epoch carries the classifier's spec in turn.
    const words = readFileSync(join(dir, 'vocab.txt'), 'utf8').trim().split('\n').slice(5);
    const rows = words.map((w, i) => `${w} ${words[(i * 7) % words.length]} .\t${i % 2 ? 'odd' : 'even'}`);
    writeFileSync(join(dir, 'train.tsv'), `text\tlabel\n${rows.join('\n')}\n`);
    const tuned = await tcc('finetune', run, '--task', 'classification', '--train', join(dir, 'train.tsv'), '--eval', join(dir, 'train.tsv'), '-o', join(dir, 'ft'), '--epochs', '1', '--batch', '8', '--seq', '16', '--backend', 'js');
    expect(tuned.code, tuned.stderr).toBe(0);
    expect(tuned.stderr).toMatch(/weights .*final.model\.safetensors \(new head: /);
    const best = join(dir, 'ft', 'best');
    expect(readFileSync(join(best, CHECKPOINT_SPEC), 'utf8')).toMatch(/norm_placement: pre/);
    const labelled = await tcc('run', '--model', best, '--text', 'w3 w7 .', '--backend', 'js');
    expect(labelled.code, labelled.stderr).toBe(0);
    expect(labelled.stderr).toMatch(/label (odd|even) /);

    // The carried spec is read as any spec is: a broken one is a located error, exit 2.
    writeFileSync(join(best, CHECKPOINT_SPEC), 'name: broken\nconfig: {hidden_size: [16\n');
    const broken = await tcc('run', '--model', best, '--text', 'w3 w7 .', '--backend', 'js');
    expect(broken.code).toBe(2);
    expect(broken.stderr).toMatch(/ft.best.tcc\.yaml:\d+:\d+: error: /);
    expect(broken.stderr).not.toMatch(/\n\s+at /);
  }, 120_000);
});

describe('flatSpecText', () => {
  it('writes each shipped model as one file that compiles, in a checkpoint directory, to the same graph', () => {
    const models = [...readdirSync(modelsDir()).filter((f) => f.endsWith('.yaml') || f.endsWith('.tcc')).map((f) => join(modelsDir(), f)),
      ...readdirSync(join(modelsDir(), 'variants')).map((f) => join(modelsDir(), 'variants', f))];
    expect(models.length).toBeGreaterThan(30);
    for (const model of models) {
      // A checkpoint's directory: config.json beside the spec (its config keys are its bases', not new ones to check for typos).
      const flat = mkdtempSync(join(tmpdir(), 'tcc-flat-'));
      const text = flatSpecText(model);
      expect(text, model).not.toMatch(/^extends:/m);
      writeFileSync(join(flat, CHECKPOINT_SPEC), text);
      writeFileSync(join(flat, 'config.json'), '{"model_type": "bert"}\n');
      const graph = (file: string) => printGraph(compileFile(file, { batch: 1, seq: 8, fuse: false }).graph);
      expect(graph(flat), model).toBe(graph(model));
    }
  }, 120_000);
});
