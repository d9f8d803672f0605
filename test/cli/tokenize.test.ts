import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bpeTokenizer } from '../../bench/fuzz/kinds.js';
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

  it('reads a tokenizer.json: offsets beside the ids, a bad field refused at its line', async () => {
    const d = dir({ 'tokenizer.json': JSON.stringify(bpeTokenizer(), null, 2) });
    const result = await tcc('tokenize', '--tokenizer', join(d, 'tokenizer.json'), '--text', 'the cat  ran', '--text-pair', 'a dog', '--json');
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      tokens: ['<s>', 't', 'h', 'e', 'Ġcat', 'Ġ', 'Ġran', '</s>', '</s>', 'a', 'Ġdog', '</s>'],
      token_type_ids: new Array(12).fill(0),
      offsets: [[0, 0], [0, 1], [1, 2], [2, 3], [4, 7], [8, 8], [9, 12], [0, 0], [0, 0], [0, 1], [2, 5], [0, 0]],
    });
    const bad = bpeTokenizer() as { pre_tokenizer: { type: string } };
    bad.pre_tokenizer.type = 'UnicodeScripts';
    writeFileSync(join(d, 'bad.json'), JSON.stringify(bad, null, 2));
    const refused = await tcc('tokenize', '--tokenizer', join(d, 'bad.json'), '--text', 'x');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/bad\.json:\d+:\d+: error: pre_tokenizer\.type: expected one of BertPreTokenizer, .*got 'UnicodeScripts'/);
  });

  it('runs a model whose directory holds a tokenizer.json, and refuses one with more tokens than the model', async () => {
    const json = bpeTokenizer();
    const size = new Set(Object.values((json as { model: { vocab: Record<string, number> } }).model.vocab)).size;
    const d = dir({ 'tokenizer.json': JSON.stringify(json) });
    const spec = (vocab: number) => {
      const file = join(d, `m${vocab}.yaml`);
      writeFileSync(file, `extends: ${modelsDir()}/bert.yaml\nconfig: {vocab_size: ${vocab}, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 32}\n`);
      return file;
    };
    // More rows than tokens, as nomic-embed pads its embeddings: fine.
    const ran = await tcc('run', '--model', spec(size + 8), '--text', 'the cat <mask> fast', '--backend', 'js');
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stderr).toMatch(/tokens <s> t h e Ġcat <mask> Ġfast <\/s>/);
    expect(ran.stderr).toMatch(/<mask> at 5: /);
    const small = await tcc('run', '--model', spec(16), '--text', 'the cat', '--backend', 'js');
    expect(small.code).toBe(2);
    expect(small.stderr).toMatch(new RegExp(`tokenizer\\.json has ${size} tokens, but the model's vocab_size is 16: give the model's own tokenizer\\.json \\(--tokenizer\\)`));
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
    const empty = dir({});
    expect((await tcc('tokenize', '--model', join(empty, 'nothing.yaml'), '--text', 'x')).stderr).toBe(`tcc: error: no vocab.txt in ${empty} for ${join(empty, 'nothing.yaml')}: pass --vocab vocab.txt\n`);
    // The shipped specs find bert-base-uncased's vocabulary beside them.
    expect((await tcc('tokenize', '--model', 'models/bert-tiny.yaml', '--text', 'Hello!', '--json')).stdout).toContain('"input_ids":[101,7592,999,102]');
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

  it('is a pipeline: a compiled program pads a shorter text, takes tokenize --json as inputs, and refuses a vocabulary of another size', async () => {
    const d = dir({ 'vocab.txt': VOCAB.join('\n') });
    const spec = join(d, 'm.yaml');
    writeFileSync(spec, `extends: ${modelsDir()}/bert.yaml\nconfig: {vocab_size: ${VOCAB.length}, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 32}\n`);
    const program = join(d, 'program');
    expect((await tcc('compile', spec, '--seq', '16', '-o', program)).code).toBe(0);
    // The vocabulary travels with the program: --text needs nothing else.
    const padded = await tcc('run', '--model', program, '--text', 'the capital of france is [MASK].', '--backend', 'js', '--seed', '4');
    expect(padded.code, padded.stderr).toBe(0);
    expect(padded.stderr).toMatch(/batch 1 × seq 16 on cpu/);
    const exact = await tcc('run', '--model', spec, '--text', 'the capital of france is [MASK].', '--backend', 'js', '--seed', '4');
    const mask = (r: { stderr: string }) => (/\[MASK\] at 6: (.*)/.exec(r.stderr) ?? [r.stderr, r.stderr])[1];
    expect(mask(padded)).toBe(mask(exact));
    // tokenize --json, one text and JSON lines of several, is what run --inputs reads.
    writeFileSync(join(d, 'one.json'), (await tcc('tokenize', '--vocab', join(d, 'vocab.txt'), '--text', 'the capital of france is [MASK].', '--json')).stdout);
    const fromJson = await tcc('run', '--model', program, '--inputs', join(d, 'one.json'), '--backend', 'js', '--seed', '4');
    expect(fromJson.code, fromJson.stderr).toBe(0);
    expect(mask(fromJson)).toBe(mask(exact));
    writeFileSync(join(d, 'texts.jsonl'), '"paris is the capital [MASK] france"\n{"text": "hello world"}\n');
    writeFileSync(join(d, 'many.jsonl'), (await tcc('tokenize', '--vocab', join(d, 'vocab.txt'), '--file', join(d, 'texts.jsonl'))).stdout);
    const batch = await tcc('run', '--model', spec, '--inputs', join(d, 'many.jsonl'), '--backend', 'js');
    expect(batch.code, batch.stderr).toBe(0);
    expect(batch.stderr).toMatch(/batch 2 × seq 8/);
    expect(batch.stderr).toMatch(/row 0: \[MASK\] at 5: /);
    writeFileSync(join(d, 'big.txt'), [...VOCAB, 'extra'].join('\n'));
    const other = await tcc('run', '--model', spec, '--vocab', join(d, 'big.txt'), '--text', 'hello', '--backend', 'js');
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/big\.txt has 17 tokens, but the model's vocab_size is 16: give the model's own vocab\.txt \(--vocab\)/);
  });

  it('names a classifier\'s label from id2label, tags tokens, and answers a question with a span of the context', async () => {
    const d = dir({ 'vocab.txt': VOCAB.join('\n') });
    const base = { hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 32, vocab_size: VOCAB.length, max_position_embeddings: 32 };
    const hf = (name: string, config: object) => {
      const at = join(d, name);
      mkdirSync(at);
      writeFileSync(join(at, 'config.json'), JSON.stringify({ ...base, ...config }));
      writeFileSync(join(at, 'vocab.txt'), VOCAB.join('\n'));
      return at;
    };
    const sentiment = hf('sentiment', { architectures: ['BertForSequenceClassification'], id2label: { 0: 'negative', 1: 'positive' } });
    const label = await tcc('run', '--model', sentiment, '--text', 'hello world!', '--backend', 'js');
    expect(label.code, label.stderr).toBe(0);
    expect(label.stderr).toMatch(/^ {2}label (negative|positive) 0\.\d{3} \((negative|positive) 0\.\d{3}\)$/m);
    const tagger = hf('tagger', { architectures: ['BertForTokenClassification'], id2label: { 0: 'O', 1: 'B-LOC', 2: 'I-LOC' } });
    const tags = await tcc('run', '--model', tagger, '--text', 'paris is nice', '--backend', 'js');
    expect(tags.stderr).toMatch(/^ {2}tags paris\/(O|B-LOC|I-LOC) is\/(O|B-LOC|I-LOC) \[UNK\]\/(O|B-LOC|I-LOC)$/m);
    const qa = hf('qa', { architectures: ['BertForQuestionAnswering'] });
    const answer = await tcc('run', '--model', qa, '--text', 'what is the capital of france?', '--text-pair', 'paris is the capital of france.', '--backend', 'js');
    expect(answer.code, answer.stderr).toBe(0);
    const span = /answer "(.*)" \(tokens (\d+)–(\d+), score/.exec(answer.stderr)!;
    expect(Number(span[2])).toBeGreaterThanOrEqual(10);
    expect('paris is the capital of france .').toContain(span[1]);
  });
});
