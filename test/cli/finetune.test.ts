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
    const result = await tcc('finetune', ...common, '-o', join(dir, 'out'), '--epochs', '8', '--test', join(dir, 'dev.tsv'));
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
    // tcc evaluate on the best epoch: the accuracy finetune found for it, its confusion matrix the predictions' counts.
    const evaluated = await tcc('evaluate', join(dir, 'out', 'best'), '--data', join(dir, 'dev.tsv'), '-o', join(dir, 'predictions.jsonl'));
    expect(evaluated.code, evaluated.stderr).toBe(0);
    const predictions = readFileSync(join(dir, 'predictions.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { line: number; label: string; predicted: string });
    expect(predictions).toHaveLength(60);
    expect(predictions[0]!.line).toBe(2);
    const right = predictions.filter((p) => p.predicted === p.label).length;
    expect(right / 60).toBeCloseTo(best, 12);
    const count = (gold: string, predicted: string) => predictions.filter((p) => p.label === gold && p.predicted === predicted).length;
    expect(evaluated.stdout).toContain(`classification on ${join(dir, 'dev.tsv')}: accuracy ${(100 * best).toFixed(2)}, macro F1 `);
    expect(evaluated.stdout).toContain(`down   ${String(count('down', 'down')).padStart(6)}${String(count('down', 'up')).padStart(6)}\nup     ${String(count('up', 'down')).padStart(6)}${String(count('up', 'up')).padStart(6)}\n`);
    // finetune --test: the same scores of the best epoch.
    expect(JSON.parse(readFileSync(join(dir, 'out', 'test.json'), 'utf8'))).toMatchObject({ accuracy: expect.closeTo(best, 12) });
    expect(result.stderr).toContain(`test (best epoch) on ${join(dir, 'dev.tsv')}: accuracy ${(100 * best).toFixed(2)}`);
    // Bad input: one line naming the file (and line) and what is wrong.
    writeFileSync(join(dir, 'empty.tsv'), 'text\tlabel\n');
    writeFileSync(join(dir, 'unlabelled.tsv'), 'text\nrun jump\n');
    writeFileSync(join(dir, 'sideways.tsv'), 'text\tlabel\nrun\tup\nsing\tsideways\n');
    const refused = async (...args: string[]) => {
      const r = await tcc('evaluate', ...args);
      expect(r.code).toBe(2);
      return r.stderr;
    };
    const best_ = join(dir, 'out', 'best');
    expect(await refused(best_, '--data', join(dir, 'empty.tsv'))).toBe(`tcc: error: ${join(dir, 'empty.tsv')} has no examples\n`);
    expect(await refused(best_, '--data', join(dir, 'unlabelled.tsv'))).toBe(`tcc: error: ${join(dir, 'unlabelled.tsv')}:1: the header has no column 'label' (it names: text)\n`);
    expect(await refused(best_, '--data', join(dir, 'sideways.tsv'))).toBe(`tcc: error: ${join(dir, 'sideways.tsv')}:3: label 'sideways' is not one of the 2 labels of the model (config.json's id2label) ('down', 'up')\n`);
    expect(await refused(join(dir, 'small.yaml'), '--data', join(dir, 'dev.tsv'))).toBe(`tcc: error: ${join(dir, 'small.yaml')} has no task head (logits, or start_logits and end_logits): fine-tune it first (tcc finetune)\n`);
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
    // tcc evaluate: entities here are single B-UP words, so their precision and recall are counts of the predictions.
    const evaluated = await tcc('evaluate', join(dir, 'out', 'best'), '--data', join(dir, 'dev.jsonl'), '-o', join(dir, 'predictions.jsonl'));
    expect(evaluated.code, evaluated.stderr).toBe(0);
    const predictions = readFileSync(join(dir, 'predictions.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { tags: string[]; predicted: string[] });
    expect(predictions).toHaveLength(40);
    const pairs = predictions.flatMap((p) => p.tags.map((t, i) => [t, p.predicted[i]!] as const));
    const [both, predictedUp, goldUp] = [pairs.filter(([t, p]) => t === 'B-UP' && p === 'B-UP').length, pairs.filter(([, p]) => p === 'B-UP').length, pairs.filter(([t]) => t === 'B-UP').length];
    const [precision, recall] = [both / predictedUp, both / goldUp];
    const pct = (x: number) => (100 * x).toFixed(2);
    expect(evaluated.stdout).toContain(`entity F1 ${pct((2 * precision * recall) / (precision + recall))} (precision ${pct(precision)}, recall ${pct(recall)}; ${goldUp} entities labelled, ${predictedUp} predicted), tag accuracy ${pct(pairs.filter(([t, p]) => t === p).length / pairs.length)}`);
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
    const best = Math.max(...evalLog(dir).map((l) => l.accuracy!));
    expect(best).toBeGreaterThan(0.9);
    expect(JSON.parse(readFileSync(join(dir, 'out', 'best', 'config.json'), 'utf8')).architectures).toEqual(['BertForQuestionAnswering']);
    // tcc evaluate: the best epoch's exact match, each question's prediction written out.
    const evaluated = await tcc('evaluate', join(dir, 'out', 'best'), '--data', join(dir, 'dev.json'), '--seq', '24', '-o', join(dir, 'predictions.jsonl'));
    expect(evaluated.code, evaluated.stderr).toBe(0);
    const predictions = readFileSync(join(dir, 'predictions.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { answer: string; answer_tokens: string[]; predicted_tokens: string[]; exact: number });
    expect(predictions).toHaveLength(60);
    expect(predictions.every((p) => p.answer_tokens.join(' ') === p.answer)).toBe(true);
    expect(predictions.filter((p) => p.exact === 1).length / 60).toBeCloseTo(best, 12);
    expect(evaluated.stdout).toContain(`qa on ${join(dir, 'dev.json')}: exact match ${(100 * best).toFixed(2)}, F1 `);
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
