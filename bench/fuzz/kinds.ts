// The input kinds the fuzzer mutates, each a seed file that tcc accepts and
// the command that reads it, and the verdict on one case: what tcc promises
// is exit 0, or exit 2 with one error line that names the file; anything
// else (exit 1, a stack trace, an unnamed file, a thrown error, a hang or a
// signal, which the runner sees from outside) breaks the promise.

import { BYTE_CHARS } from '../../train/hf-tokenizer/unicode.js';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import fc from 'fast-check';
import { mainCaptured, type Captured } from '../../cli/main.js';
import { edits, mutate, wordsOf, type Edit, type Format } from './mutate.js';

export interface Kind {
  readonly name: string;
  /** The files of the case directory, relative to it; one of them is mutated per case. */
  readonly files: readonly { readonly path: string; readonly format: Format }[];
  /** The command, given the case directory (holding the files) and the seed directory. */
  readonly argv: (caseDir: string, seedDir: string) => string[];
}

const SMALL_CONFIG: Readonly<Record<string, string>> = {
  vocab_size: '64', hidden_size: '16', num_hidden_layers: '1', num_attention_heads: '2', intermediate_size: '32', max_position_embeddings: '32',
};

const WORDS = 'the a cat dog sat on mat ran fast slow big small red blue green is was and or not'.split(' ');

const js = ['--backend', 'js'];

export const KINDS: readonly Kind[] = [
  { name: 'YAML spec', files: [{ path: 'm.yaml', format: 'text' }, { path: 'lib/bert.yaml', format: 'text' }], argv: (c) => ['compile', join(c, 'm.yaml'), '--seq', '8'] },
  { name: 'DSL spec', files: [{ path: 'm.tcc', format: 'text' }, { path: 'lib/bert.tcc', format: 'text' }], argv: (c) => ['compile', join(c, 'm.tcc'), '--seq', '8'] },
  { name: 'safetensors', files: [{ path: 'model.safetensors', format: 'safetensors' }], argv: (c, s) => ['run', '--model', join(s, 'prog'), '--weights', join(c, 'model.safetensors'), '--inputs', join(s, 'inputs.json'), '--out', join(c, 'out.safetensors'), ...js] },
  { name: 'config.json', files: [{ path: 'config.json', format: 'json' }], argv: (c) => ['compile', c, '--seq', '8'] },
  { name: 'vocab.txt', files: [{ path: 'vocab.txt', format: 'text' }], argv: (c) => ['tokenize', '--vocab', join(c, 'vocab.txt'), '--text', 'The cats ran [MASK] fast, the dog sat.', '--max-length', '12'] },
  { name: 'tokenizer.json (BPE)', files: [{ path: 'bpe.json', format: 'json' }], argv: (c) => ['tokenize', '--tokenizer', join(c, 'bpe.json'), '--text', 'The cats ran <mask> fast,  the dog sat. Café 東京', '--text-pair', 'a dog', '--max-length', '24', '--pad'] },
  { name: 'tokenizer.json (Unigram)', files: [{ path: 'unigram.json', format: 'json' }], argv: (c) => ['tokenize', '--tokenizer', join(c, 'unigram.json'), '--text', "The cats ran [MASK] fast, the dog ``sat''. Café", '--max-length', '24', '--pad'] },
  { name: 'inputs.json', files: [{ path: 'inputs.json', format: 'json' }], argv: (c, s) => ['run', '--model', join(s, 'prog'), '--inputs', join(c, 'inputs.json'), '--out', join(c, 'out.safetensors'), ...js] },
  { name: 'finetune TSV', files: [{ path: 'train.tsv', format: 'text' }], argv: (c, s) => finetune(s, 'classification', join(c, 'train.tsv'), join(s, 'train.tsv'), c) },
  { name: 'finetune JSON lines', files: [{ path: 'tags.jsonl', format: 'jsonl' }], argv: (c, s) => finetune(s, 'token-classification', join(c, 'tags.jsonl'), join(s, 'tags.jsonl'), c) },
  { name: 'finetune SQuAD', files: [{ path: 'squad.json', format: 'json' }], argv: (c, s) => finetune(s, 'qa', join(c, 'squad.json'), join(s, 'squad.json'), c) },
  { name: 'prepared data', files: [{ path: 'data.jsonl', format: 'jsonl' }], argv: (c, s) => ['pretrain', join(s, 'm.yaml'), '--vocab', join(s, 'vocab.txt'), '--data', join(c, 'data.jsonl'), '--steps', '1', '--batch', '2', '--seq', '16', '-o', join(c, 'out'), ...js] },
  { name: 'program directory', files: [{ path: 'prog/program.json', format: 'json' }, { path: 'prog/kernels.js', format: 'text' }], argv: (c, s) => ['run', '--model', join(c, 'prog'), '--inputs', join(s, 'inputs.json'), '--out', join(c, 'out.safetensors'), ...js] },
];

function finetune(seedDir: string, task: string, train: string, evaluation: string, caseDir: string): string[] {
  return ['finetune', join(seedDir, 'm.yaml'), '--vocab', join(seedDir, 'vocab.txt'), '--task', task, '--train', train, '--eval', evaluation, '-o', join(caseDir, 'out'), '--epochs', '1', '--batch', '4', '--seq', '16', ...js];
}

/** What tcc printed and returned for one command, run in this process. */
export type Outcome = Captured;

export async function tccInProcess(argv: string[]): Promise<Outcome> {
  try {
    return await mainCaptured(argv);
  } catch (e) {
    // main catches everything; an escape is a verdict of its own.
    return { code: -1, stdout: '', stderr: `escaped main: ${(e as Error)?.stack ?? String(e)}` };
  }
}

async function must(argv: string[]): Promise<void> {
  const { code, stderr } = await tccInProcess(argv);
  if (code !== 0) throw new Error(`fuzz seed: tcc ${argv.join(' ')} failed: ${stderr}`);
}

const added = (content: string, id: number, special = true) => ({ id, content, single_word: false, lstrip: content === '<mask>', rstrip: false, normalized: !special, special });

/** A small byte-level BPE tokenizer.json (RoBERTa's layout): every byte, merges of the seed words. */
export function bpeTokenizer(): object {
  const vocab: Record<string, number> = { '<s>': 0, '<pad>': 1, '</s>': 2, '<unk>': 3 };
  for (const c of BYTE_CHARS) vocab[c] ??= Object.keys(vocab).length;
  const merges: string[] = [];
  for (const word of ['Ġthe', 'Ġcat', 'Ġdog', 'Ġran', 'Ġfast', 'Ġsat']) {
    let token = word[0]!;
    for (const c of word.slice(1)) {
      merges.push(`${token} ${c}`);
      token += c;
      vocab[token] ??= Object.keys(vocab).length;
    }
  }
  vocab['<mask>'] = Object.keys(vocab).length;
  const addedTokens = ['<s>', '<pad>', '</s>', '<unk>', '<mask>'].map((t) => added(t, vocab[t]!));
  return {
    version: '1.0', truncation: null, padding: null, added_tokens: addedTokens,
    normalizer: { type: 'NFC' },
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'RobertaProcessing', sep: ['</s>', 2], cls: ['<s>', 0], trim_offsets: true, add_prefix_space: false },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges },
  };
}

/** A small SentencePiece Unigram tokenizer.json (ALBERT's layout). */
export function unigramTokenizer(): object {
  const pieces: [string, number][] = [['<pad>', 0], ['<unk>', 0], ['[CLS]', 0], ['[SEP]', 0], ['[MASK]', 0], ['▁', -2]];
  for (const [i, w] of WORDS.entries()) pieces.push([`▁${w}`, -3 - i / 10], [w, -6 - i / 10]);
  for (const c of 'abcdefghijklmnopqrstuvwxyz,.\'"') pieces.push([c, -8]);
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: ['<pad>', '<unk>', '[CLS]', '[SEP]', '[MASK]'].map((t, i) => added(t, i)),
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Replace', pattern: { String: '``' }, content: '"' }, { type: 'Replace', pattern: { String: "''" }, content: '"' }, { type: 'NFKD' }, { type: 'StripAccents' }, { type: 'Lowercase' }] },
    pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' }, { type: 'Metaspace', replacement: '▁', add_prefix_space: true, prepend_scheme: 'always' }] },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }, { SpecialToken: { id: '[SEP]', type_id: 1 } }],
      special_tokens: { '[CLS]': { id: '[CLS]', ids: [2], tokens: ['[CLS]'] }, '[SEP]': { id: '[SEP]', ids: [3], tokens: ['[SEP]'] } },
    },
    decoder: { type: 'Metaspace', replacement: '▁', add_prefix_space: true, prepend_scheme: 'always' },
    model: { type: 'Unigram', unk_id: 1, vocab: pieces, byte_fallback: false },
  };
}

/** Writes the seed files every kind starts from into `dir`: a small BERT, its weights, program, data. */
export async function writeSeeds(dir: string, models: string): Promise<void> {
  mkdirSync(join(dir, 'lib'), { recursive: true });
  for (const ext of ['yaml', 'tcc']) {
    cpSync(join(models, 'lib', `bert.${ext}`), join(dir, 'lib', `bert.${ext}`));
    let spec = readFileSync(join(models, `bert.${ext}`), 'utf8');
    for (const [key, value] of Object.entries(SMALL_CONFIG)) spec = spec.replace(new RegExp(`(${key}\\s*[:=]\\s*)\\d+`), `$1${value}`);
    writeFileSync(join(dir, `m.${ext}`), spec);
  }
  const vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...WORDS, '##s', '##ed', '##ing', ',', '.', '?'];
  while (vocab.length < Number(SMALL_CONFIG['vocab_size'])) vocab.push(`w${vocab.length}`);
  writeFileSync(join(dir, 'vocab.txt'), vocab.join('\n') + '\n');
  writeFileSync(join(dir, 'bpe.json'), JSON.stringify(bpeTokenizer(), null, 2));
  writeFileSync(join(dir, 'unigram.json'), JSON.stringify(unigramTokenizer(), null, 2));
  let state = 1;
  const next = () => (state = (state * 48271) % 2147483647) / 2147483647;
  const sentence = (n: number) => Array.from({ length: n }, () => WORDS[Math.floor(next() * WORDS.length)]!);
  writeFileSync(join(dir, 'train.tsv'), 'text\tlabel\n' + Array.from({ length: 8 }, (_, i) => `${sentence(5).join(' ')}\t${i % 2 ? 'pos' : 'neg'}\n`).join(''));
  writeFileSync(join(dir, 'tags.jsonl'), Array.from({ length: 8 }, () => {
    const tokens = sentence(5);
    return JSON.stringify({ tokens, tags: tokens.map((t) => (t.length > 3 ? 'B-LONG' : 'O')) });
  }).join('\n') + '\n');
  writeFileSync(join(dir, 'squad.json'), JSON.stringify({ data: [{ title: 't', paragraphs: Array.from({ length: 6 }, (_, i) => {
    const words = sentence(7);
    const before = words.slice(0, 3).join(' ');
    return { context: words.join(' '), qas: [{ id: `q${i}`, question: 'what is it ?', answers: [{ text: words[3]!, answer_start: before.length + 1 }] }] };
  }) }] }, null, 2));
  writeFileSync(join(dir, 'corpus.txt'), Array.from({ length: 4 }, () => Array.from({ length: 5 }, () => `${sentence(6).join(' ')} .\n`).join('')).join('\n'));
  writeFileSync(join(dir, 'inputs.json'), JSON.stringify({ input_ids: [[2, 5, 6, 4, 7, 8, 3, 0]], token_type_ids: [[0, 0, 0, 0, 0, 0, 0, 0]], attention_mask: [[1, 1, 1, 1, 1, 1, 1, 0]] }, null, 2));
  await must(['prepare', '--corpus', join(dir, 'corpus.txt'), '--vocab', join(dir, 'vocab.txt'), '--seq', '16', '-o', join(dir, 'data.jsonl')]);
  await must(['compile', join(dir, 'm.yaml'), '--seq', '8', '-o', join(dir, 'prog')]);
  await must(['export', join(dir, 'm.yaml'), '--format', 'hf', '--vocab', join(dir, 'vocab.txt'), '-o', join(dir, 'hf')]);
  cpSync(join(dir, 'hf', 'model.safetensors'), join(dir, 'model.safetensors'));
  cpSync(join(dir, 'hf', 'config.json'), join(dir, 'config.json'));
}

/** One drawn case: which of the kind's files is mutated, and how. */
export interface Case {
  readonly file: number;
  readonly edits: readonly Edit[];
}

/** The cases of a kind for a seed, all drawn at once so that case i is the same in any run with that seed. */
export function drawCases(kind: Kind, seedDir: string, count: number, seed: number): Case[] {
  const arbitrary = fc.oneof(...kind.files.map((f, file) => {
    const words = f.format === 'safetensors' ? [] : wordsOf(readFileSync(join(seedDir, f.path), 'utf8'));
    return edits(f.format, words).map((list): Case => ({ file, edits: list }));
  }));
  return fc.sample(arbitrary, { seed: seed + KINDS.indexOf(kind) * 7919, numRuns: count });
}

export type Verdict = 'ok' | 'located' | 'broken';

export interface Result extends Outcome {
  readonly verdict: Verdict;
  readonly why?: string;
}

/** Whether an outcome keeps the promise: exit 0, or exit 2 whose first error line names one of the kind's files. */
export function judge(kind: Kind, outcome: Outcome): Result {
  const { code, stderr } = outcome;
  if (code === 0) return { ...outcome, verdict: 'ok' };
  const broken = (why: string): Result => ({ ...outcome, verdict: 'broken', why });
  if (code !== 2) return broken(`exit ${code}`);
  if (/^\s+at .*:\d+:\d+\)?$/m.test(stderr)) return broken('stack trace');
  const first = stderr.split('\n').find((l) => /\berror:/.test(l));
  if (first === undefined) return broken('no error line');
  const names = kind.files.map((f) => basename(f.path));
  if (!names.some((n) => first.includes(n))) return broken('error line names no input file');
  return { ...outcome, verdict: 'located' };
}

/** Writes the case's files into `caseDir` (fresh) and runs its command. */
export async function runCase(kind: Kind, seedDir: string, caseDir: string, c: Case): Promise<Result> {
  rmSync(caseDir, { recursive: true, force: true });
  for (const [i, f] of kind.files.entries()) {
    mkdirSync(join(caseDir, f.path, '..'), { recursive: true });
    const seed = readFileSync(join(seedDir, f.path));
    writeFileSync(join(caseDir, f.path), i === c.file ? mutate(f.format, seed, c.edits) : seed);
  }
  if (kind.name === 'program directory') {
    for (const extra of ['kernels.c', 'graph.txt', 'graph.json']) cpSync(join(seedDir, 'prog', extra), join(caseDir, 'prog', extra));
  }
  return judge(kind, await tccInProcess(kind.argv(caseDir, seedDir)));
}
