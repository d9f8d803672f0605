// tcc finetune: a classifier and a token tagger learn separable synthetic
// tasks far above the majority class; bad labeled data names file and line.

import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { modelsDir, tcc } from '../helpers/cli.js';
import { rng } from '../helpers/random.js';

const UP = ['run', 'jump', 'play', 'sing', 'walk'];
const DOWN = ['read', 'write', 'cook', 'paint', 'teach'];
const VOCAB = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', '.', ...UP, ...DOWN, '##ing', '##s'];

function workspace(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tcc-finetune-'));
  writeFileSync(join(dir, 'vocab.txt'), VOCAB.join('\n') + '\n');
  writeFileSync(join(dir, 'small.yaml'), `extends: ${modelsDir()}/bert.yaml\nname: small\nconfig: {vocab_size: ${VOCAB.length}, hidden_size: 32, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 64, max_position_embeddings: 32}\n`);
  return dir;
}

function sentences(count: number, seed: number): string {
  const next = rng(seed);
  const pick = (xs: string[]) => xs[Math.floor(next() * xs.length)]! + (next() < 0.4 ? 'ing' : '');
  const rows = Array.from({ length: count }, () => {
    const label = next() < 0.5 ? 'up' : 'down';
    const words = Array.from({ length: 3 + Math.floor(next() * 4) }, () => pick(label === 'up' ? UP : DOWN));
    words.splice(Math.floor(next() * words.length), 0, pick(next() < 0.5 ? UP : DOWN));
    return `${words.join(' ')}\t${label}`;
  });
  return `text\tlabel\n${rows.join('\n')}\n`;
}

const evalLog = (dir: string) => readFileSync(join(dir, 'out', 'eval.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);

/** Two runs' step losses (metrics.jsonl) and evaluations (eval.jsonl) agree to 1e-5. */
function expectSameLosses(got: string, want: string): void {
  const lines = (dir: string, file: string) => readFileSync(join(dir, file), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
  for (const [file, key] of [['metrics.jsonl', 'loss'], ['eval.jsonl', 'loss']] as const) {
    const [a, b] = [lines(got, file), lines(want, file)];
    expect(a.length).toBe(b.length);
    a.forEach((row, i) => expect(Math.abs(row[key]! - b[i]![key]!), `${file} line ${i + 1}`).toBeLessThan(1e-5));
  }
}

describe('tcc finetune', () => {
  it('trains a sentence classifier well above the majority class, keeping the best epoch', async () => {
    const dir = workspace();
    writeFileSync(join(dir, 'train.tsv'), sentences(160, 1));
    writeFileSync(join(dir, 'dev.tsv'), sentences(60, 2));
    const common = [join(dir, 'small.yaml'), '--vocab', join(dir, 'vocab.txt'), '--task', 'classification', '--train', join(dir, 'train.tsv'), '--eval', join(dir, 'dev.tsv'), '--seq', '16', '--batch', '16', '--lr', '3e-3', '--dropout', '0'];
    const result = await tcc('finetune', ...common, '-o', join(dir, 'out'), '--epochs', '8');
    expect(result.code).toBe(0);
    const majority = Number(/majority-class accuracy on the evaluation set: ([\d.]+)/.exec(result.stderr)![1]);
    const log = evalLog(dir);
    expect(log).toHaveLength(8);
    for (const key of ['epoch', 'accuracy', 'f1', 'loss']) expect(typeof log[0]![key]).toBe('number');
    const best = Math.max(...log.map((l) => l.accuracy!));
    expect(best).toBeGreaterThan(majority + 0.3);
    const config = JSON.parse(readFileSync(join(dir, 'out', 'best', 'config.json'), 'utf8')) as { architectures: string[]; id2label: Record<string, string> };
    expect(config).toMatchObject({ architectures: ['BertForSequenceClassification'], id2label: { 0: 'down', 1: 'up' } });
    const run = (await tcc('run', '--model', join(dir, 'out', 'best'), '--text', 'running jumps', '--out', join(dir, 'o.safetensors')));
    expect(run.code).toBe(0);
    // Padding-free, a label per sentence: an epoch's losses and evaluation as the padded batches' (JavaScript, no C build).
    const epoch = [...common, '--epochs', '1', '--backend', 'js'];
    const [padded, packed] = await Promise.all([tcc('finetune', ...epoch, '-o', join(dir, 'padded')), tcc('finetune', ...epoch, '-o', join(dir, 'packed'), '--packed')]);
    expect([padded.code, packed.code], packed.stderr).toEqual([0, 0]);
    expect(packed.stderr).toContain('(batch 16, padding-free)');
    expectSameLosses(join(dir, 'packed'), join(dir, 'padded'));
  });

  it('trains a token tagger', async () => {
    const dir = workspace();
    const next = rng(5);
    const lines = (n: number) => Array.from({ length: n }, () => {
      const tokens = Array.from({ length: 4 + Math.floor(next() * 5) }, () => (next() < 0.5 ? UP : DOWN)[Math.floor(next() * 5)]! + (next() < 0.3 ? 's' : ''));
      return JSON.stringify({ tokens, tags: tokens.map((t) => (UP.some((u) => t.startsWith(u)) ? 'B-UP' : 'O')) });
    }).join('\n') + '\n';
    writeFileSync(join(dir, 'train.jsonl'), lines(120));
    writeFileSync(join(dir, 'dev.jsonl'), lines(40));
    const result = await tcc('finetune', join(dir, 'small.yaml'), '--vocab', join(dir, 'vocab.txt'), '--task', 'token-classification', '--train', join(dir, 'train.jsonl'), '--eval', join(dir, 'dev.jsonl'), '-o', join(dir, 'out'), '--seq', '16', '--batch', '12', '--epochs', '6', '--lr', '3e-3', '--dropout', '0');
    expect(result.code).toBe(0);
    expect(Math.max(...evalLog(dir).map((l) => l.accuracy!))).toBeGreaterThan(0.95);
    expect(existsSync(join(dir, 'out', 'best', 'model.safetensors'))).toBe(true);
    // Padding-free, each word's tag on its own token: an epoch's losses as the padded batches' (JavaScript, no C build).
    const epoch = [join(dir, 'small.yaml'), '--vocab', join(dir, 'vocab.txt'), '--task', 'token-classification', '--train', join(dir, 'train.jsonl'), '--eval', join(dir, 'dev.jsonl'), '--seq', '16', '--batch', '12', '--epochs', '1', '--lr', '3e-3', '--dropout', '0', '--backend', 'js'];
    const [padded, packed] = await Promise.all([tcc('finetune', ...epoch, '-o', join(dir, 'padded')), tcc('finetune', ...epoch, '-o', join(dir, 'packed'), '--packed')]);
    expect([padded.code, packed.code], packed.stderr).toEqual([0, 0]);
    expectSameLosses(join(dir, 'packed'), join(dir, 'padded'));
  });

  it('trains extractive question answering on SQuAD-style data', async () => {
    const dir = workspace();
    const next = rng(7);
    const words = [...UP, ...DOWN];
    // The answer is the word after "the": found only by attending to it.
    const squad = (n: number) => ({
      data: [{ title: 't', paragraphs: Array.from({ length: n }, () => {
        const ctx = Array.from({ length: 6 + Math.floor(next() * 6) }, () => words[Math.floor(next() * words.length)]!);
        const at = Math.floor(next() * (ctx.length - 1));
        ctx.splice(at, 0, 'the');
        const answer = ctx[at + 1]!;
        return { context: ctx.join(' '), qas: [{ id: 'q', question: 'what follows the ?', answers: [{ text: answer, answer_start: ctx.slice(0, at + 1).join(' ').length + 1 }] }] };
      }) }],
    });
    writeFileSync(join(dir, 'vocab.txt'), [...VOCAB, 'the', 'what', 'follows', '?'].join('\n') + '\n');
    writeFileSync(join(dir, 'small.yaml'), `extends: ${modelsDir()}/bert.yaml\nname: small\nconfig: {vocab_size: ${VOCAB.length + 4}, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 64, max_position_embeddings: 32}\n`);
    writeFileSync(join(dir, 'train.json'), JSON.stringify(squad(200)));
    writeFileSync(join(dir, 'dev.json'), JSON.stringify(squad(60)));
    const result = (await tcc('finetune', join(dir, 'small.yaml'), '--vocab', join(dir, 'vocab.txt'), '--task', 'qa', '--train', join(dir, 'train.json'), '--eval', join(dir, 'dev.json'), '-o', join(dir, 'out'), '--seq', '24', '--batch', '20', '--epochs', '40', '--lr', '3e-3', '--warmup', '0.05', '--dropout', '0'));
    expect(result.code, result.stderr).toBe(0);
    expect(Math.max(...evalLog(dir).map((l) => l.accuracy!))).toBeGreaterThan(0.9);
    expect(JSON.parse(readFileSync(join(dir, 'out', 'best', 'config.json'), 'utf8')).architectures).toEqual(['BertForQuestionAnswering']);
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ data: [{ paragraphs: [{ context: 'run jump', qas: [{ question: 'q', answers: [{ text: 'sing', answer_start: 0 }] }] }] }] }));
    expect((await tcc('finetune', join(dir, 'small.yaml'), '--vocab', join(dir, 'vocab.txt'), '--task', 'qa', '--train', join(dir, 'bad.json'), '--eval', join(dir, 'dev.json'), '-o', join(dir, 'out2'))).stderr).toBe(
      `tcc: error: ${join(dir, 'bad.json')}: data[0].paragraphs[0].qas[0]: the answer "sing" is not at character 0 of the context\n`,
    );
  });

  it('names the file and line of bad labeled data', async () => {
    const dir = workspace();
    writeFileSync(join(dir, 'train.tsv'), 'text\tlabel\nrun jump\tup\nread cook\tdown\n');
    writeFileSync(join(dir, 'bad-label.tsv'), 'text\tlabel\nrun\tup\nsing\tsideways\n');
    writeFileSync(join(dir, 'no-label.tsv'), 'text\tscore\nrun\t1\n');
    writeFileSync(join(dir, 'short.tsv'), 'text\tlabel\nrun jump\n');
    const finetune = async (train: string, dev: string) => (await tcc('finetune', join(dir, 'small.yaml'), '--vocab', join(dir, 'vocab.txt'), '--task', 'classification', '--train', join(dir, train), '--eval', join(dir, dev), '-o', join(dir, 'out'), '--seq', '8'));
    expect(await finetune('train.tsv', 'bad-label.tsv')).toMatchObject({ code: 2, stderr: `tcc: error: ${join(dir, 'bad-label.tsv')}:3: label 'sideways' is not one of the 2 training labels ('down', 'up')\n` });
    expect((await finetune('no-label.tsv', 'train.tsv')).stderr).toBe(`tcc: error: ${join(dir, 'no-label.tsv')}:1: the header has no column 'label' (it names: text, score)\n`);
    expect((await finetune('short.tsv', 'train.tsv')).stderr).toBe(`tcc: error: ${join(dir, 'short.tsv')}:2: 1 columns, the header has 2\n`);
  });
});
