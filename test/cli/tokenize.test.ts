import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSafetensors } from '../../runtime/safetensors.js';
import { modelsDir, tcc } from '../helpers/cli.js';

const VOCAB = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'the', 'capital', 'of', 'france', 'is', 'paris', '.', '!', 'hello', 'world', 'école'];

function dir(files: Record<string, string>): string {
  const d = mkdtempSync(join(tmpdir(), 'tcc-tok-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(d, name), text);
  return d;
}

describe('tcc tokenize', () => {
  it('prints tokens and ids for a pair', async () => {
    const d = dir({ 'vocab.txt': VOCAB.join('\n') + '\n' });
    const result = (await tcc('tokenize', '--vocab', join(d, 'vocab.txt'), '--text', 'The capital of France is [MASK].', '--text-pair', 'Paris!', '--json'));
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      tokens: ['[CLS]', 'the', 'capital', 'of', 'france', 'is', '[MASK]', '.', '[SEP]', 'paris', '!', '[SEP]'],
      input_ids: [2, 5, 6, 7, 8, 9, 4, 11, 3, 10, 12, 3],
      token_type_ids: [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1],
      attention_mask: new Array(12).fill(1),
    });
  });

  it('takes lower-casing from the model directory, and a JSON-lines file', async () => {
    const d = dir({ 'vocab.txt': VOCAB.join('\n'), 'config.json': '{}', 'tokenizer_config.json': '{"do_lower_case": false}', 'in.jsonl': '"Hello world"\n{"text": "hello", "text_pair": "world"}\n' });
    const result = (await tcc('tokenize', '--model', d, '--file', join(d, 'in.jsonl'), '--max-length', '5', '--pad'));
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n').map((l) => JSON.parse(l) as { tokens: string[] });
    expect(lines.map((l) => l.tokens)).toEqual([
      ['[CLS]', '[UNK]', 'world', '[SEP]', '[PAD]'], // cased: "Hello" is not in the vocabulary
      ['[CLS]', 'hello', '[SEP]', 'world', '[SEP]'],
    ]);
    expect((await tcc('tokenize', '--model', d, '--text', 'École', '--lowercase', 'true', '--json')).stdout).toContain('"[UNK]"'); // accents stripped: "ecole"
  });

  it('reports bad input in one line with exit code 2', async () => {
    const d = dir({ 'vocab.txt': VOCAB.join('\n'), 'bad.jsonl': '{"text": 3}\n', 'novocab.txt': 'a\nb\n' });
    expect((await tcc('tokenize', '--vocab', join(d, 'vocab.txt'), '--file', join(d, 'bad.jsonl')))).toMatchObject({ code: 2, stderr: `tcc: error: ${join(d, 'bad.jsonl')}:1: expected a string or {"text": string, "text_pair"?: string}\n` });
    expect((await tcc('tokenize', '--vocab', join(d, 'novocab.txt'), '--text', 'x')).stderr).toBe(`tcc: error: ${join(d, 'novocab.txt')}: the vocabulary has no [UNK] token\n`);
    expect((await tcc('tokenize', '--model', 'models/bert-tiny.yaml', '--text', 'x')).stderr).toBe('tcc: error: no vocab.txt in models for models/bert-tiny.yaml: pass --vocab vocab.txt\n');
  });
});

describe('tcc run --text', () => {
  it('tokenizes, runs, and shows the predictions at [MASK]', async () => {
    const d = dir({ 'vocab.txt': VOCAB.join('\n') });
    const spec = join(d, 'm.yaml');
    writeFileSync(spec, `extends: ${modelsDir()}/bert.yaml\nconfig: {vocab_size: ${VOCAB.length}, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 32}\n`);
    const out = join(d, 'out.safetensors');
    const result = (await tcc('run', '--model', spec, '--vocab', join(d, 'vocab.txt'), '--text', 'the capital of france is [MASK].', '--out', out));
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/tokens \[CLS\] the capital of france is \[MASK\] \. \[SEP\]/);
    expect(result.stderr).toMatch(/\[MASK\] at 6: (\S+ 0\.\d{3}, ){4}\S+ 0\.\d{3}/);
    expect(readSafetensors(readFileSync(out)).tensors.get('prediction_logits')!.shape).toEqual([1, 9, VOCAB.length]);
  });
});
