// --backend webgpu on the commands: pretrain, run and finetune give what the
// CPU backend gives (losses within 1e-4 per step; outputs and evaluation
// within float rounding), from the same data and seeds.

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSafetensors } from '../../runtime/safetensors.js';
import { closeness } from '../backends/op-table.js';
import { modelsDir, tcc } from '../helpers/cli.js';
import { rng } from '../helpers/random.js';
import { hasWebGpu } from '../helpers/webgpu.js';

const UP = ['run', 'jump', 'play', 'sing', 'walk'];
const DOWN = ['read', 'write', 'cook', 'paint', 'teach'];
const VOCAB = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', '.', 'the', ...UP, ...DOWN, '##ing', '##s'];

function workspace(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tcc-webgpu-cli-'));
  const next = rng(8);
  const word = () => [...UP, ...DOWN][Math.floor(next() * 10)]! + (next() < 0.3 ? 'ing' : '');
  const sentence = () => Array.from({ length: 3 + Math.floor(next() * 4) }, word).join(' ') + ' .';
  writeFileSync(join(dir, 'corpus.txt'), Array.from({ length: 6 }, () => Array.from({ length: 4 }, sentence).join('\n')).join('\n\n') + '\n');
  writeFileSync(join(dir, 'vocab.txt'), VOCAB.join('\n') + '\n');
  writeFileSync(join(dir, 'small.yaml'), `extends: ${modelsDir()}/bert.yaml\nname: small\nconfig: {vocab_size: ${VOCAB.length}, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 64, max_position_embeddings: 32}\n`);
  const rows = (n: number) => Array.from({ length: n }, () => {
    const label = next() < 0.5 ? 'up' : 'down';
    return `${Array.from({ length: 4 }, () => (label === 'up' ? UP : DOWN)[Math.floor(next() * 5)]).join(' ')}\t${label}`;
  });
  writeFileSync(join(dir, 'train.tsv'), `text\tlabel\n${rows(48).join('\n')}\n`);
  writeFileSync(join(dir, 'dev.tsv'), `text\tlabel\n${rows(24).join('\n')}\n`);
  return dir;
}

const lines = (file: string) => readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);

describe.runIf(await hasWebGpu())('--backend webgpu', () => {
  it('pretrains, runs and fine-tunes with the CPU backend\'s numbers', { timeout: 180_000 }, async () => {
    const dir = workspace();
    for (const backend of ['cpu', 'webgpu']) {
      const pretrain = await tcc('pretrain', join(dir, 'small.yaml'), '--corpus', join(dir, 'corpus.txt'), '--vocab', join(dir, 'vocab.txt'), '-o', join(dir, `pre-${backend}`),
        '--seq', '32', '--batch', '4', '--steps', '8', '--lr', '1e-3', '--backend', backend);
      expect(pretrain.code, pretrain.stderr).toBe(0);
      const run = await tcc('run', '--model', join(dir, `pre-${backend}`, 'final'), '--text', 'the runner [MASK] .', '--out', join(dir, `run-${backend}.safetensors`), '--backend', backend);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).toContain(`on ${backend}`);
      const finetune = await tcc('finetune', join(dir, `pre-${backend}`, 'final'), '--task', 'classification', '--train', join(dir, 'train.tsv'), '--eval', join(dir, 'dev.tsv'),
        '-o', join(dir, `ft-${backend}`), '--seq', '16', '--batch', '8', '--epochs', '2', '--lr', '1e-3', '--backend', backend);
      expect(finetune.code, finetune.stderr).toBe(0);
    }
    const [cpu, gpu] = [lines(join(dir, 'pre-cpu', 'metrics.jsonl')), lines(join(dir, 'pre-webgpu', 'metrics.jsonl'))];
    expect(gpu).toHaveLength(8);
    gpu.forEach((m, i) => {
      for (const name of ['loss', 'mlm_loss', 'nsp_loss', 'grad_norm']) expect(Math.abs(m[name]! - cpu[i]![name]!), `${name} at step ${i + 1}`).toBeLessThanOrEqual(1e-4);
    });
    const outputs = (backend: string) => readSafetensors(readFileSync(join(dir, `run-${backend}.safetensors`))).tensors;
    const [a, b] = [outputs('cpu'), outputs('webgpu')];
    for (const [name, t] of a) expect(closeness(b.get(name)!.data, t.data, 1e-3, 1e-3), name).toBeLessThanOrEqual(1);
    const [ftCpu, ftGpu] = [lines(join(dir, 'ft-cpu', 'eval.jsonl')), lines(join(dir, 'ft-webgpu', 'eval.jsonl'))];
    ftGpu.forEach((e, i) => {
      expect(Math.abs(e['loss']! - ftCpu[i]!['loss']!)).toBeLessThanOrEqual(1e-3);
      expect(Math.abs(e['train_loss']! - ftCpu[i]!['train_loss']!)).toBeLessThanOrEqual(1e-3);
    });
  });
});
