// Values in the files a user hands tcc, checked before use: attention masks,
// vocabularies (size, HuggingFace's rule for a token listed twice),
// spreadsheet TSV (a byte-order mark), label sets of tens of thousands, a
// line of megabytes, config.json values, a full disk. Each ends in exit 2
// (exit 1 for the disk) with one line that names the file and the place.

import { mkdtempSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Tokenizer } from '@huggingface/tokenizers';
import { describe, expect, it } from 'vitest';
import { WordPieceTokenizer } from '../../train/tokenizer.js';
import { modelsDir, tcc } from '../helpers/cli.js';
import { canMount, tmpfs } from '../helpers/tmpfs.js';

const VOCAB = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...Array.from({ length: 35 }, (_, i) => `w${i}`)];

function workspace(files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'tcc-inputs-'));
  writeFileSync(join(dir, 'm.yaml'), `extends: ${modelsDir()}/bert.yaml\nconfig: {vocab_size: 40, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 32, max_position_embeddings: 16}\n`);
  writeFileSync(join(dir, 'vocab.txt'), VOCAB.join('\n') + '\n');
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

async function refused(argv: string[], message: RegExp, code = 2): Promise<string> {
  const start = performance.now();
  const result = await tcc(...argv);
  expect(result.stderr, result.stderr).toMatch(message);
  expect(result.code, result.stderr).toBe(code);
  const ours = result.stderr.split('\n').filter((l) => l.startsWith('tcc: '));
  expect(ours).toHaveLength(1);
  expect(ours[0]!.length).toBeLessThan(1200);
  expect(result.stderr).not.toMatch(/^\s+at /m);
  expect(performance.now() - start).toBeLessThan(10_000);
  return result.stderr;
}

describe('input files, checked', () => {
  it('refuses attention masks other than 0 and 1, in inputs and in prepared data', async () => {
    for (const value of [2, 1000, -3]) {
      const dir = workspace({ 'in.json': JSON.stringify({ input_ids: [[2, 5, 6, 3]], attention_mask: [[1, 1, value, 1]] }) });
      await refused(['run', '--model', join(dir, 'm.yaml'), '--inputs', join(dir, 'in.json'), '--backend', 'js'], new RegExp(`in\\.json: attention_mask\\[0\\]\\[2\\] = ${value}: a mask holds 0 \\(padding\\) and 1 \\(attend\\) only`));
    }
    const example = { input_ids: [2, 5, 4, 3], token_type_ids: [0, 0, 0, 0], attention_mask: [1, 1, 1, 1], labels: [-100, -100, 6, -100], next_sentence_label: 0 };
    const dir = workspace({ 'data.jsonl': [example, { ...example, attention_mask: [1, 2, 1, 1] }].map((e) => JSON.stringify(e)).join('\n') + '\n' });
    await refused(['pretrain', join(dir, 'm.yaml'), '--data', join(dir, 'data.jsonl'), '--seq', '4', '--batch', '1', '--steps', '1', '--backend', 'js', '-o', join(dir, 'out')], /data\.jsonl:2: attention_mask\[1\] = 2: a mask holds 0/);
  });

  it('refuses a vocabulary too large to be one before reading it, and reads a token listed twice as HuggingFace does', async () => {
    const dir = workspace();
    const huge = join(dir, 'huge.txt');
    writeFileSync(huge, '');
    truncateSync(huge, 2 ** 30);
    await refused(['tokenize', '--vocab', huge, '--text', 'w1 w2'], /huge\.txt is 1,024 MB, more than a vocabulary can be \(64 MB\)/);
    // 'w3' on lines 8 and 12: HuggingFace's load_vocab (and the Rust WordPiece's vocab file reader) keep the last line's id.
    const doubled = [...VOCAB.slice(0, 12), 'w3', ...VOCAB.slice(13)];
    const ours = new WordPieceTokenizer(doubled, { lowercase: true }).encode('w3 w2 w3');
    const vocab: Record<string, number> = {};
    doubled.forEach((t, i) => (vocab[t] = i));
    const reference = new Tokenizer({
      version: '1.0', truncation: null, padding: null, added_tokens: [], normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
      pre_tokenizer: { type: 'BertPreTokenizer' }, post_processor: null, decoder: null,
      model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
    }, {});
    expect(ours.input_ids.slice(1, -1)).toEqual(reference.encode('w3 w2 w3').ids);
    expect(ours.input_ids.slice(1, -1)).toEqual([12, 7, 12]);
  });

  it('reads a TSV with a byte-order mark, and names an unknown label among 70,000 in one short line', async () => {
    const rows = ['w1 w2\ta', 'w3 w4\tb', 'w5 w6\ta', 'w7 w8\tb'];
    const dir = workspace({ 'train.tsv': `\ufefftext\tlabel\n${rows.join('\n')}\n` });
    const tune = (train: string, evalFile: string, out: string) => tcc('finetune', join(dir, 'm.yaml'), '--task', 'classification', '--train', join(dir, train), '--eval', join(dir, evalFile), '--vocab', join(dir, 'vocab.txt'), '--seq', '8', '--batch', '2', '--epochs', '1', '--backend', 'js', '-o', join(dir, out));
    const bom = await tune('train.tsv', 'train.tsv', 'a');
    expect(bom.code, bom.stderr).toBe(0);
    writeFileSync(join(dir, 'many.tsv'), `text\tlabel\n${Array.from({ length: 70_000 }, (_, i) => `w1 w2\tlabel${i}`).join('\n')}\n`);
    writeFileSync(join(dir, 'unknown.tsv'), 'text\tlabel\nw1 w2\tlabel5\nw3 w4\tnone-of-them\n');
    await refused(['finetune', join(dir, 'm.yaml'), '--task', 'classification', '--train', join(dir, 'many.tsv'), '--eval', join(dir, 'unknown.tsv'), '--vocab', join(dir, 'vocab.txt'), '--seq', '8', '--backend', 'js', '-o', join(dir, 'b')],
      /unknown\.tsv:3: label 'none-of-them' is not one of the 70,000 training labels \('label0', 'label1', .*, …\)/);
  });

  it('tokenizes the first tokens of a line of megabytes without reading it all', () => {
    const tokenizer = new WordPieceTokenizer(VOCAB, { lowercase: true });
    const line = 'w1 w2 '.repeat(4_000_000);
    const start = performance.now();
    const e = tokenizer.encode(line, { maxLength: 16, pair: line });
    // Whole, the line took seconds and 80 times its size; the first tokens take a millisecond.
    expect(performance.now() - start).toBeLessThan(2_000);
    expect(e.tokens).toHaveLength(16);
    expect(e.tokens.slice(0, 4)).toEqual(['[CLS]', 'w1', 'w2', 'w1']);
    expect(tokenizer.encode('w1 w2 w3', { maxLength: 4 }).tokens).toEqual(['[CLS]', 'w1', 'w2', '[SEP]']);
  });

  it('refuses a config.json without token types at its own line', async () => {
    const hf = workspace({ 'config.json': JSON.stringify({ architectures: ['BertModel'], hidden_size: 32, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 64, vocab_size: 50, max_position_embeddings: 512, type_vocab_size: 0 }) });
    const stderr = (await tcc('compile', hf)).stderr;
    expect(stderr).toMatch(/config\.json:1:\d+: error: type_vocab_size must be an integer from 1 to 1,000, got 0/);
  });

  it.runIf(canMount())('names the file when the disk is full, under compile -o and run --out', async () => {
    const dir = workspace({ 'in.json': '{"input_ids": [[2, 5, 6, 3]]}' });
    await refused(['compile', join(dir, 'm.yaml'), '--seq', '4', '-o', join(tmpfs(64), 'prog')], /cannot write .*prog\/.*: no space left on device/, 1);
    const full = tmpfs(4);
    writeFileSync(join(full, 'filler'), Buffer.alloc(4096));
    await refused(['run', '--model', join(dir, 'm.yaml'), '--inputs', join(dir, 'in.json'), '--out', join(full, 'o.safetensors'), '--backend', 'js'], /cannot write .*o\.safetensors: no space left on device/, 1);
  });
});
