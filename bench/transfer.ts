// `npm run bench -- transfer`: does a pretraining on this machine pay? For
// each shape, a pretraining of the public-domain text that installs here
// (`tcc dataset text`: the Brown Corpus, WordNet's glosses and GCIDE's
// definitions; the baseline row, Brown alone), then the same fine-tuning of
// the pretrained model and of randomly initialized weights on three sentence
// tasks: SST-2 and TREC
// (../shared/data, Kim 2014's versions) and Brown genre (news vs romance,
// sentences of held-out documents). Each fine-tuning is the best of the same
// learning-rate grid on the task's dev set; the table gives its test
// accuracy. Everything runs through the tcc command, as a user would; a
// pretraining already in the work folder with the same recipe is reused.
//
// The work folder is TCC_TRANSFER_DIR (default: transfer-runs in the
// system's temporary folder); TCC_TRANSFER_SHAPES picks recipes by name.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const DATA = join('..', 'shared', 'data');
const TCC = resolve('dist', 'cli', 'tcc.js');

export interface Recipe {
  readonly name: string;
  /** The model: a spec extending one of tcc's. */
  readonly spec: string;
  readonly steps: number;
  readonly batch: number;
  readonly seq: number;
  readonly lr: number;
  readonly warmup: number;
  readonly dropout: number;
  readonly maskRate: number;
  /** What it reads: Brown alone (`tcc dataset brown`'s training documents) instead of the whole text. */
  readonly corpus?: 'brown';
  /** Pieces in its WordPiece vocabulary, fitted on the whole text (the spec's vocab_size). */
  readonly vocab: number;
}

/** The pretraining text: Brown (with tcc) and the two Debian packages (apt-get install wordnet-base dict-gcide). */
const SOURCES = ['brown', 'wordnet', 'gcide'];

/**
 * A tcc shape with ALiBi (Press et al. 2022) in place of learned positions
 * (each head's scores take -slope(head) · |i - j|, so attention starts out
 * local), pre-LN, and the masked LM alone on full sentences (no
 * next-sentence task): the recipe that left the unigram plateau soonest on
 * Brown (learned positions: validation MLM accuracy 12.5% after 1,000 steps
 * of 32 × 128; ALiBi: 16.4% after 500).
 */
const alibiMlm = (base: string, name: string, vocab: number) => `extends: tcc:${base}.yaml
name: ${name}
config: {vocab_size: ${vocab}, norm_placement: pre}
blocks:
  bert_embeddings:
    description: word and token type embeddings, no positions (ALiBi's bias is in attention), LayerNorm and dropout
    inputs: [input_ids, token_type_ids]
    body:
      words: {op: embedding, in: input_ids, name: word_embeddings, rows: vocab_size, dim: hidden_size}
      types: {op: embedding, in: token_type_ids, name: token_type_embeddings, rows: type_vocab_size, dim: hidden_size}
      summed: {op: add, in: [words, types]}
      normed: {op: layer_norm, in: summed, name: LayerNorm, eps: layer_norm_eps}
      out: {op: dropout, in: normed, rate: hidden_dropout_prob}
    outputs: [out]
  self_attention:
    description: multi-head self-attention with ALiBi's bias on the scores, besides the padding mask
    inputs: [x, mask]
    body:
      q: {op: linear, in: x, name: query, out: hidden_size}
      k: {op: linear, in: x, name: key, out: hidden_size}
      v: {op: linear, in: x, name: value, out: hidden_size}
      qh: {op: split_heads, in: q}
      kh: {op: split_heads, in: k}
      vh: {op: split_heads, in: v}
      bias: {op: alibi, heads: num_attention_heads, queries: seq, keys: seq}
      biased: {op: add, in: [mask, bias]}
      scores: {op: matmul, in: [qh, kh], transpose_b: true}
      scaled: {op: affine, in: scores, scale: "1 / sqrt(hidden_size / num_attention_heads)"}
      masked: {op: add, in: [scaled, biased]}
      probs: {op: softmax, in: masked, axis: -1}
      dropped: {op: dropout, in: probs, rate: attention_probs_dropout_prob}
      context: {op: matmul, in: [dropped, vh]}
      out: {op: merge_heads, in: context}
    outputs: [out]
heads:
  nsp: null
training:
  inputs:
    next_sentence_label: null
  losses:
    nsp_loss: null
  metrics:
    nsp_acc: null
`;

/** A recipe's model: `alibiMlm` of a tcc shape with its vocabulary size, which the recipe's vocabulary file has too. */
const model = (base: string, name: string, vocab: number) => ({ spec: alibiMlm(base, name, vocab), vocab });

const MINI: Recipe = { name: 'bert-mini', ...model('bert-mini', 'mini-alibi', 8000), steps: 4800, batch: 32, seq: 128, lr: 1e-3, warmup: 0.06, dropout: 0, maskRate: 0.15 };

export const RECIPES: readonly Recipe[] = [
  MINI,
  { ...MINI, name: 'bert-tiny', ...model('bert-tiny', 'tiny-alibi', 8000) },
  // The baseline: bert-mini's recipe, model and vocabulary on Brown alone, so that the row above it shows what the other text adds.
  { ...MINI, name: 'bert-mini-brown', corpus: 'brown' },
  // Four times the pieces: the words of film reviews (funny, boring, charming, …) whole rather than split, as long as the hour allows.
  { ...MINI, name: 'bert-mini-32k', ...model('bert-mini', 'mini-alibi-32k', 32000), steps: 5400 },
];

/** The WordPiece vocabulary of `size` pieces in the work folder (the 8,000 of the first recipes keep their name). */
const vocabFile = (work: string, size: number) => join(work, size === 8000 ? 'vocab.txt' : `vocab-${size}.txt`);

interface Task {
  readonly name: string;
  readonly files: { train: string; dev: string; test: string };
}

export const FINETUNE = { epochs: 3, batch: 32, seq: 64, lrs: [1e-4, 3e-4] };
/** Kim (2014), CNN-rand, test accuracy. */
const KIM: Readonly<Record<string, number>> = { 'SST-2': 82.7, TREC: 91.2 };

function tcc(args: string[], log: (line: string) => void): string {
  log(`tcc ${args.join(' ')}`);
  return execFileSync(process.execPath, [TCC, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 28 });
}

/** `LABEL SENTENCE` lines (../shared/data) as tcc's TSV (text, label). */
function tsv(lines: readonly string[]): string {
  return ['text\tlabel', ...lines.map((l) => `${l.slice(l.indexOf(' ') + 1).replace(/\t/g, ' ')}\t${l.slice(0, l.indexOf(' '))}`)].join('\n') + '\n';
}

function prepareTasks(work: string, log: (line: string) => void): Task[] {
  const read = (f: string) => readFileSync(join(DATA, f), 'utf8').split('\n').filter((l) => l.trim());
  for (const f of ['sst2/train.txt', 'sst2/dev.txt', 'sst2/test.txt', 'trec/train.txt', 'trec/test.txt']) if (!existsSync(join(DATA, f))) throw new Error(`${join(DATA, f)} is missing: the transfer bench fine-tunes on ../shared/data`);
  const dir = join(work, 'tasks');
  mkdirSync(dir, { recursive: true });
  const write = (name: string, text: string) => (writeFileSync(join(dir, name), text), join(dir, name));
  // TREC has no dev split: every tenth training question is held out as one.
  const trec = read('trec/train.txt');
  const tasks: Task[] = [
    { name: 'SST-2', files: { train: write('sst2-train.tsv', tsv(read('sst2/train.txt'))), dev: write('sst2-dev.tsv', tsv(read('sst2/dev.txt'))), test: write('sst2-test.tsv', tsv(read('sst2/test.txt'))) } },
    { name: 'TREC', files: { train: write('trec-train.tsv', tsv(trec.filter((_, i) => i % 10 !== 9))), dev: write('trec-dev.tsv', tsv(trec.filter((_, i) => i % 10 === 9))), test: write('trec-test.tsv', tsv(read('trec/test.txt'))) } },
  ];
  // Brown genre: sentences of held-out documents, half of them a dev set, half the test set.
  tcc(['dataset', 'brown', '-o', join(work, 'brown'), '--genres', 'news,romance', '--train-size', '2000', '--eval-size', '1000'], log);
  const held = readFileSync(join(work, 'brown', 'genre-eval.tsv'), 'utf8').trim().split('\n').slice(1);
  const header = 'text\tlabel\n';
  tasks.push({ name: 'Brown genre', files: { train: join(work, 'brown', 'genre-train.tsv'), dev: write('genre-dev.tsv', header + held.filter((_, i) => i % 2 === 0).join('\n') + '\n'), test: write('genre-test.tsv', header + held.filter((_, i) => i % 2 === 1).join('\n') + '\n') } });
  return tasks;
}

interface Pretrained {
  readonly dir: string;
  readonly minutes: number;
  readonly tokens: number;
  readonly valLoss: number;
  readonly valAcc: number;
}

function pretrain(work: string, recipe: Recipe, corpus: string, validation: string, log: (line: string) => void): Pretrained {
  const dir = join(work, recipe.name);
  const stamp = join(dir, 'recipe.json');
  const record = join(dir, 'pretrained.json');
  const key = JSON.stringify(recipe);
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === key && existsSync(record)) return JSON.parse(readFileSync(record, 'utf8')) as Pretrained;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'model.yaml'), recipe.spec);
  const start = performance.now();
  tcc(['pretrain', join(dir, 'model.yaml'), '--corpus', corpus, '--vocab', vocabFile(work, recipe.vocab), '-o', join(dir, 'run'), '--overwrite',
    '--steps', String(recipe.steps), '--batch', String(recipe.batch), '--seq', String(recipe.seq), '--lr', String(recipe.lr), '--warmup', String(recipe.warmup),
    '--dropout', String(recipe.dropout), '--mask-rate', String(recipe.maskRate), '--validation', validation, '--eval-every', String(Math.ceil(recipe.steps / 5)), '--save-every', String(recipe.steps)], log);
  const minutes = (performance.now() - start) / 60_000;
  const last = readFileSync(join(dir, 'run', 'validation.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { val_mlm_loss: number; val_mlm_acc: number }).at(-1)!;
  const result: Pretrained = { dir: join(dir, 'run', 'final'), minutes, tokens: recipe.steps * recipe.batch * recipe.seq, valLoss: last.val_mlm_loss, valAcc: last.val_mlm_acc };
  writeFileSync(record, JSON.stringify(result));
  writeFileSync(stamp, key);
  return result;
}

/** Test accuracy (%) of the fine-tuning whose best epoch scored highest on dev, over the learning-rate grid. */
function finetune(model: string[], task: Task, out: string, log: (line: string) => void): Score {
  let best: Score | undefined;
  for (const lr of FINETUNE.lrs) {
    const dir = `${out}-${lr}`;
    const args = ['finetune', ...model, '--task', 'classification', '--train', task.files.train, '--eval', task.files.dev, '--test', task.files.test, '-o', dir, '--overwrite', '--packed',
      '--epochs', String(FINETUNE.epochs), '--batch', String(FINETUNE.batch), '--seq', String(FINETUNE.seq), '--lr', String(lr)];
    // A fine-tuning already done with these arguments (on the same pretraining) is read back.
    const stamp = join(dir, 'bench-args.json');
    if (!(existsSync(stamp) && readFileSync(stamp, 'utf8') === JSON.stringify(args) && existsSync(join(dir, 'test.json')))) {
      tcc(args, log);
      writeFileSync(stamp, JSON.stringify(args));
    }
    const dev = Math.max(...readFileSync(join(dir, 'eval.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { accuracy: number }).accuracy)) * 100;
    const test = (JSON.parse(readFileSync(join(dir, 'test.json'), 'utf8')) as { accuracy: number }).accuracy * 100;
    log(`  ${task.name} lr ${lr}: dev ${dev.toFixed(2)}, test ${test.toFixed(2)}`);
    if (!best || dev > best.dev) best = { test, dev, lr };
  }
  return best!;
}

export interface TransferRow {
  readonly recipe: Recipe;
  readonly pretrained: Pretrained;
  /** Test accuracy by task, from the pretrained weights, and from random ones where no earlier row has the same model. */
  readonly scores: Record<string, { pretrained: Score; random?: Score }>;
}

type Score = { test: number; dev: number; lr: number };

export async function benchTransfer(log: (line: string) => void): Promise<{ rows: TransferRow[]; sources: string; tasks: string[] }> {
  const work = resolve(process.env.TCC_TRANSFER_DIR ?? join(tmpdir(), 'transfer-runs'));
  mkdirSync(work, { recursive: true });
  log(`work folder ${work}`);
  const tasks = prepareTasks(work, log);
  const text = join(work, 'text');
  const sources = tcc(['dataset', 'text', '-o', text, '--sources', SOURCES.join(',')], log);
  const wanted = process.env.TCC_TRANSFER_SHAPES?.split(',');
  const recipes = RECIPES.filter((r) => !wanted || wanted.includes(r.name));
  for (const size of new Set(recipes.map((r) => r.vocab))) tcc(['vocab', '--corpus', join(text, 'corpus.txt'), '--size', String(size), '-o', vocabFile(work, size)], log);
  const rows: TransferRow[] = [];
  const specs = new Set<string>();
  for (const recipe of recipes) {
    const vocab = vocabFile(work, recipe.vocab);
    const corpus = recipe.corpus === 'brown' ? join(work, 'brown', 'corpus.txt') : join(text, 'corpus.txt');
    const pretrained = pretrain(work, recipe, corpus, join(work, 'brown', 'valid.txt'), log);
    // Random weights of a model an earlier row fine-tuned already score the same: once per spec.
    const random = !specs.has(recipe.spec);
    specs.add(recipe.spec);
    log(`${recipe.name}: pretrained in ${pretrained.minutes.toFixed(1)} min, validation MLM loss ${pretrained.valLoss.toFixed(3)}, accuracy ${(pretrained.valAcc * 100).toFixed(1)}%`);
    const scores: TransferRow['scores'] = {};
    for (const task of tasks) {
      const slug = task.name.toLowerCase().replace(/\W+/g, '-');
      scores[task.name] = {
        pretrained: finetune([join(work, recipe.name, 'model.yaml'), '--init', pretrained.dir, '--vocab', vocab], task, join(work, recipe.name, `ft-${slug}-pretrained`), log),
        ...(random ? { random: finetune([join(work, recipe.name, 'model.yaml'), '--vocab', vocab], task, join(work, recipe.name, `ft-${slug}-random`), log) } : {}),
      };
    }
    rows.push({ recipe, pretrained, scores });
  }
  return { rows, sources, tasks: tasks.map((t) => t.name) };
}

/** The README's table: one row per shape and initialization, Kim's CNN-rand below. */
export function transferTable(rows: readonly TransferRow[], tasks: readonly string[]): string {
  const lines = [
    `| model | pretraining | minutes | val. MLM loss / acc. | init | ${tasks.join(' | ')} |`,
    `|---|---|---|---|---|${tasks.map(() => '---|').join('')}`,
  ];
  for (const { recipe, pretrained, scores } of rows) {
    const what = `${(pretrained.tokens / 1e6).toFixed(1)} M tokens (${recipe.steps} × ${recipe.batch} × ${recipe.seq})${recipe.corpus === 'brown' ? ' of Brown alone' : ''}, ${recipe.vocab / 1000}k pieces, lr ${recipe.lr}`;
    lines.push(`| ${recipe.name} | ${what} | ${pretrained.minutes.toFixed(0)} | ${pretrained.valLoss.toFixed(2)} / ${(pretrained.valAcc * 100).toFixed(1)}% | pretrained | ${tasks.map((t) => scores[t]!.pretrained.test.toFixed(1)).join(' | ')} |`);
    if (tasks.every((t) => scores[t]!.random)) lines.push(`| ${recipe.name} | none | | | random | ${tasks.map((t) => scores[t]!.random!.test.toFixed(1)).join(' | ')} |`);
  }
  lines.push(`| Kim (2014) CNN-rand | | | | random | ${tasks.map((t) => (KIM[t] === undefined ? '' : KIM[t]!.toFixed(1))).join(' | ')} |`);
  return lines.join('\n');
}
