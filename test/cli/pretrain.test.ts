// tcc prepare and tcc pretrain end to end: a bert-tiny learns a fixed tiny
// corpus by heart; a run killed with SIGKILL and resumed logs bit-identical
// losses; bad input stops with one clear line.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tcc } from '../helpers/cli.js';
import { pretrainWorkspace as workspace } from '../helpers/corpus.js';

const metrics = (file: string) => readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);

describe('tcc prepare and pretrain', () => {
  it('drive a bert-tiny on a fixed tiny corpus to MLM loss below 0.5 and NSP accuracy 100%', async () => {
    const dir = workspace(6);
    const prepared = (await tcc('prepare', '--corpus', join(dir, 'corpus.txt'), '--vocab', join(dir, 'vocab.txt'), '-o', join(dir, 'data.jsonl'), '--seq', '32', '--seed', '2'));
    expect(prepared.code).toBe(0);
    const lines = readFileSync(join(dir, 'data.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(Object.keys(lines[0]!).sort()).toEqual(['attention_mask', 'input_ids', 'labels', 'next_sentence_label', 'token_type_ids']);
    const result = (await tcc('pretrain', join(dir, 'tiny.yaml'), '--data', join(dir, 'data.jsonl'), '--vocab', join(dir, 'vocab.txt'), '-o', join(dir, 'run'),
      '--seq', '32', '--batch', String(lines.length), '--steps', '80', '--lr', '3e-3', '--warmup', '8', '--dropout', '0', '--validation', join(dir, 'data.jsonl'), '--eval-every', '20'));
    expect(result.stderr).toMatch(/done: loss/);
    expect(result.code).toBe(0);
    const log = metrics(join(dir, 'run', 'metrics.jsonl'));
    expect(log).toHaveLength(80);
    for (const key of ['step', 'loss', 'mlm_loss', 'nsp_loss', 'mlm_acc', 'nsp_acc', 'lr', 'tokens_per_s']) expect(typeof log[0]![key]).toBe('number');
    const last = log[log.length - 1]!;
    // Validation on the training examples themselves (one whole batch, masks fixed, dropout off): its scores after step n
    // are the next training step's, computed by the training program before that step's update.
    const validation = metrics(join(dir, 'run', 'validation.jsonl'));
    expect(validation.map((v) => v.step)).toEqual([20, 40, 60, 80]);
    for (const v of validation.slice(0, 3)) {
      const next = log[v.step!]!;
      for (const key of ['loss', 'mlm_loss', 'nsp_loss', 'mlm_acc', 'nsp_acc']) expect(Math.abs(v[`val_${key}`]! - next[key]!), `step ${v.step} ${key}`).toBeLessThan(1e-4);
    }
    expect(result.stderr).toMatch(/step 80: validation loss [\d.]+, mlm_acc [\d.]+, nsp_acc 1\.000/);
    expect(log[0]!.mlm_loss).toBeGreaterThan(2);
    expect(last.mlm_loss).toBeLessThan(0.5);
    expect(last.nsp_acc).toBe(1);
    // The final checkpoint is a HuggingFace directory that tcc run loads.
    for (const file of ['config.json', 'model.safetensors', 'vocab.txt', 'optimizer.safetensors', 'trainer_state.json']) expect(existsSync(join(dir, 'run', 'final', file))).toBe(true);
    expect((await tcc('run', '--model', join(dir, 'run', 'final'), '--text', 'the runner sings .', '--out', join(dir, 'o.safetensors'))).code).toBe(0);
  });

  it('pretrains padding-free (--packed) with the losses of the padded run, step by step', async () => {
    const dir = workspace(6);
    // Short pairs: most positions of each row are padding.
    expect((await tcc('prepare', '--corpus', join(dir, 'corpus.txt'), '--vocab', join(dir, 'vocab.txt'), '-o', join(dir, 'data.jsonl'), '--seq', '48', '--seed', '2')).code).toBe(0);
    const run = (out: string, ...extra: string[]) => tcc('pretrain', join(dir, 'tiny.yaml'), '--data', join(dir, 'data.jsonl'), '--vocab', join(dir, 'vocab.txt'), '-o', join(dir, out),
      '--seq', '48', '--batch', '4', '--steps', '6', '--lr', '3e-3', '--warmup', '2', '--dropout', '0', '--backend', 'js', ...extra);
    const [padded, packed] = [await run('padded'), await run('packed', '--packed')];
    expect(padded.code, padded.stderr).toBe(0);
    expect(packed.code, packed.stderr).toBe(0);
    expect(packed.stderr).toMatch(/pretraining 6 steps of 4 × 48 on \d+ examples \(dynamic masking, padding-free\)/);
    const [want, got] = [metrics(join(dir, 'padded', 'metrics.jsonl')), metrics(join(dir, 'packed', 'metrics.jsonl'))];
    expect(got).toHaveLength(6);
    got.forEach((m, i) => {
      for (const key of ['loss', 'mlm_loss', 'nsp_loss', 'mlm_acc', 'nsp_acc']) expect(Math.abs(m[key]! - want[i]![key]!), `step ${i + 1} ${key}`).toBeLessThan(1e-5);
    });
  }, 120_000);

  it('resumes after kill -9 with bit-identical losses', async () => {
    const dir = workspace(30);
    const args = (out: string) => ['dist/cli/tcc.js', 'pretrain', join(dir, 'tiny.yaml'), '--corpus', join(dir, 'corpus.txt'), '--vocab', join(dir, 'vocab.txt'), '-o', join(dir, out), '--seq', '32', '--batch', '4', '--steps', '30', '--save-every', '10', '--lr', '1e-3'];
    expect(spawnSync(process.execPath, args('whole')).status).toBe(0);
    const child = spawn(process.execPath, args('cut'), { stdio: 'ignore' });
    await new Promise<void>((resolve, reject) => {
      const poll = setInterval(() => {
        if (existsSync(join(dir, 'cut', 'checkpoint-10'))) {
          clearInterval(poll);
          child.kill('SIGKILL');
          resolve();
        }
      }, 5);
      child.on('exit', () => {
        clearInterval(poll);
        reject(new Error('the run ended before it could be killed'));
      });
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(metrics(join(dir, 'cut', 'metrics.jsonl')).length).toBeLessThan(30);
    const resumed = spawnSync(process.execPath, [...args('cut'), '--resume'], { encoding: 'utf8' });
    expect(resumed.status).toBe(0);
    expect(resumed.stderr).toMatch(/resumed at step (10|20)/);
    const losses = (file: string) => metrics(file).map((m) => [m.step, m.loss, m.mlm_loss, m.nsp_loss, m.mlm_acc, m.grad_norm]);
    expect(losses(join(dir, 'cut', 'metrics.jsonl'))).toEqual(losses(join(dir, 'whole', 'metrics.jsonl')));
  }, 120_000);

  it('stops on a non-finite loss, keeping the last checkpoint', async () => {
    const dir = workspace(10);
    const result = (await tcc('pretrain', join(dir, 'tiny.yaml'), '--corpus', join(dir, 'corpus.txt'), '--vocab', join(dir, 'vocab.txt'), '-o', join(dir, 'run'), '--seq', '32', '--batch', '4', '--steps', '50', '--save-every', '1', '--lr', '1e35', '--warmup', '0'));
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/tcc: error: the loss is (NaN|Infinity|-Infinity) at step (\d+) \(--backend js --debug names the first kernel that produced it\); stopping, .*checkpoint-\d+ is kept\n$/);
    const step = Number(/at step (\d+)/.exec(result.stderr)![1]);
    expect(existsSync(join(dir, 'run', `checkpoint-${step - 1}`, 'model.safetensors'))).toBe(true);
    // With --debug on the JavaScript backend, the run stops at the kernel that first held a NaN or an infinity, at the same step.
    const debugged = await tcc('pretrain', join(dir, 'tiny.yaml'), '--corpus', join(dir, 'corpus.txt'), '--vocab', join(dir, 'vocab.txt'), '-o', join(dir, 'debug'), '--seq', '32', '--batch', '4', '--steps', '50', '--save-every', '1', '--lr', '1e35', '--warmup', '0', '--backend', 'js', '--debug');
    expect(debugged.code).toBe(1);
    const line = debugged.stderr.split('\n').find((l) => l.startsWith('tcc: error:'))!;
    expect(line).toMatch(new RegExp(`^tcc: error: kernel k\\d+_\\w+ is the first to hold a non-finite value: (NaN|Infinity|-Infinity) at element \\d+ of its argument \\d+.* at step ${step}; stopping`));
  });

  it('refuses an empty corpus and a corpus of one document', async () => {
    const dir = workspace(3);
    writeFileSync(join(dir, 'empty.txt'), '\n\n');
    writeFileSync(join(dir, 'one.txt'), 'the runner sings .\nthe cook reads .\n');
    const run = async (corpus: string) => (await tcc('pretrain', join(dir, 'tiny.yaml'), '--corpus', join(dir, corpus), '--vocab', join(dir, 'vocab.txt'), '-o', join(dir, 'run'), '--seq', '32'));
    expect(await run('empty.txt')).toMatchObject({ code: 2, stderr: `tcc: error: ${join(dir, 'empty.txt')} has no text: it needs sentences, one per line, documents separated by blank lines\n` });
    expect((await run('one.txt')).stderr).toBe(`tcc: error: ${join(dir, 'one.txt')} has one document; next-sentence prediction needs at least two (separate documents with a blank line)\n`);
    // Validation text: read like the corpus, and at least a batch of it.
    const validated = async (...extra: string[]) => (await tcc('pretrain', join(dir, 'tiny.yaml'), '--corpus', join(dir, 'corpus.txt'), '--vocab', join(dir, 'vocab.txt'), '-o', join(dir, 'run'), '--seq', '32', ...extra)).stderr;
    expect(await validated('--validation', join(dir, 'empty.txt'))).toBe(`tcc: error: ${join(dir, 'empty.txt')} has no text: it needs sentences, one per line, documents separated by blank lines\n`);
    writeFileSync(join(dir, 'two.txt'), 'the runner sings .\n\nthe cook reads .\n');
    expect(await validated('--validation', join(dir, 'two.txt'), '--batch', '64')).toMatch(new RegExp(`^tcc: error: ${join(dir, 'two.txt')} gives \\d+ validation examples; a batch takes 64\n$`));
    expect(await validated('--eval-every', '5')).toBe('tcc: error: --eval-every goes with --validation FILE\n');
  });
});
