// `tcc embed MODEL (--text "…" | --file F) [-o OUT]`: sentence embeddings.
// MODEL is a sentence-transformers directory (or Hub id), whose pooling and
// normalization the importer compiles into the program as the output
// `sentence_embedding`, or any spec with that output. Texts are tokenized
// with the model's tokenizer, truncated to its max_seq_length, and run in
// batches padded to the longest text; the embeddings are written as JSON
// lines (one {"text", "embedding"} per text) or, for a .safetensors OUT, as
// one [texts, dim] tensor.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { writeSafetensors } from '../runtime/safetensors.js';
import { InputError } from '../runtime/errors.js';
import type { TextTokenizer } from '../train/tokenizer.js';
import { parse, positiveInt, seedFlag } from './args.js';
import { BACKEND_HELP, BACKEND_OPTIONS, backendFlags, sessionFor } from './backend.js';
import { UsageError, type Io } from './errors.js';
import { outputFile, readTextFile, writeAtomic } from './files.js';
import { localModel, localModelFlag } from './hub.js';
import { checkTokenizerSize, setWeights } from './model-session.js';
import { weightsFile } from './run.js';
import { loadTokenizer } from './tokenizer.js';

export const embedUsage = `usage: tcc embed MODEL (--text "..." | --file F) [-o OUT] [--batch N] [--max-length N] [--weights FILE] [--backend NAME] [--threads N]

Writes sentence embeddings. MODEL is a sentence-transformers directory or Hub
id (modules.json: its Pooling module's cls, mean or max pooling and its
Normalize module are compiled into the program), or a spec with an output
sentence_embedding.
  --text T           one text
  --file F           one text per line (empty lines are skipped)
  -o OUT             OUT.safetensors: one F32 tensor "embeddings" [texts, dim];
                     anything else (and stdout): JSON lines {"text", "embedding"}
  --batch N          texts per forward pass (default 32)
  --max-length N     tokens per text, special tokens included (default the
                     model's max_seq_length in sentence_bert_config.json, else
                     its max_position_embeddings)
  --weights FILE     default: the directory's model.safetensors
${BACKEND_HELP}`;

/** The model's own limit: sentence_bert_config.json's max_seq_length, else the positions it has. */
export function maxSeqLength(model: string): number | undefined {
  const file = join(model, 'sentence_bert_config.json');
  if (existsSync(file)) {
    let config: unknown;
    try {
      config = JSON.parse(readTextFile(file, 1 << 20, 'sentence-transformers configuration'));
    } catch (e) {
      if (e instanceof UsageError) throw e;
      throw new UsageError(`${file}: not valid JSON`);
    }
    const n = (config as { max_seq_length?: unknown } | null)?.max_seq_length;
    if (n !== undefined && !(Number.isInteger(n) && (n as number) > 0)) throw new UsageError(`${file}: max_seq_length must be a positive integer, got ${JSON.stringify(n)}`);
    if (n !== undefined) return n as number;
  }
  return undefined;
}

function texts(values: { text?: string; file?: string }): string[] {
  if (values.text !== undefined) return [values.text];
  const lines = readTextFile(values.file!).split('\n').map((l) => l.replace(/\r$/, '')).filter((l) => l.trim());
  if (!lines.length) throw new UsageError(`${values.file} holds no text`);
  return lines;
}

export async function runEmbed(argv: string[], debug: boolean, io: Io): Promise<number> {
  const { values, positionals } = parse(argv, {
    text: { type: 'string' }, file: { type: 'string' }, out: { type: 'string', short: 'o' }, batch: { type: 'string' }, 'max-length': { type: 'string' },
    weights: { type: 'string' }, seed: { type: 'string' }, ...BACKEND_OPTIONS, help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.stdout.write(embedUsage + '\n');
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('embed takes one MODEL (a sentence-transformers directory, a Hub id or a spec)');
  if ((values.text === undefined) === (values.file === undefined)) throw new UsageError('embed needs exactly one of --text and --file');
  if (values.out !== undefined) outputFile(values.out);
  const backend = backendFlags(values);
  const model = await localModel(positionals[0]!, io);
  const weights = weightsFile(await localModelFlag(values.weights, io), model, false);
  const tokenizer = loadTokenizer({ model });
  const all = texts(values);
  const limit = values['max-length'] ? positiveInt(values['max-length'], '--max-length', 2) : maxSeqLength(model);
  const encodings = all.map((t) => tokenizer.encode(t, limit === undefined ? {} : { maxLength: limit }));
  const seq = Math.max(...encodings.map((e) => e.input_ids.length));
  const batch = Math.min(all.length, values.batch ? positiveInt(values.batch, '--batch', 1) : 32);

  const { compileFile } = await import('../compiler/compile.js');
  const session = await sessionFor(compileFile(model, { batch, seq, verify: debug }).graph, backend, io, debug);
  const { program } = session;
  const output = program.outputs.find((o) => o.name === 'sentence_embedding');
  if (!output) throw new UsageError(`${model} has no output sentence_embedding: a sentence-transformers directory (modules.json with a Pooling module) has one`);
  checkTokenizerSize(tokenizer, program);
  const weightsNote = setWeights(session, weights, seedFlag(values.seed), io);
  const dim = output.shape.at(-1)!;
  const embeddings = new Float32Array(all.length * dim);
  const start = performance.now();
  for (let first = 0; first < all.length; first += batch) {
    const rows = encodings.slice(first, first + batch);
    const tensors = batchTensors(rows, batch, seq, tokenizer, program.inputs.map((i) => i.name));
    const ran = await session.run(tensors).catch((e: unknown): never => {
      throw e instanceof InputError ? new InputError(`texts ${first + 1}–${first + rows.length}: ${e.message}`) : e;
    });
    embeddings.set(ran['sentence_embedding']!.data.subarray(0, rows.length * dim) as Float32Array, first * dim);
  }
  const ms = performance.now() - start;
  if (values.out?.endsWith('.safetensors')) {
    writeAtomic(values.out, writeSafetensors({ embeddings: { dtype: 'F32', shape: [all.length, dim], data: embeddings } }, { model: program.model, producer: 'tcc' }));
  } else {
    const lines = all.map((text, i) => JSON.stringify({ text, embedding: Array.from(embeddings.subarray(i * dim, (i + 1) * dim)) })).join('\n') + '\n';
    if (values.out === undefined) io.stdout.write(lines);
    else writeAtomic(values.out, lines);
  }
  io.stderr.write(`${program.model}: ${all.length} text${all.length === 1 ? '' : 's'} → ${dim}-dimensional embeddings on ${session.executor.device}, batches of ${batch} × ${seq} tokens, ${weightsNote}; ${ms.toFixed(0)} ms (${((all.length / ms) * 1000).toFixed(1)} texts/s)${values.out === undefined ? '' : `; wrote ${values.out}`}\n`);
  return 0;
}

/** One batch of encodings as the program's inputs, rows and tokens padded (padding rows are all padding, mask 0). */
export function batchTensors(rows: readonly { readonly input_ids: readonly number[]; readonly token_type_ids: readonly number[]; readonly attention_mask: readonly number[] }[], batch: number, seq: number, tokenizer: TextTokenizer, names: readonly string[]): Record<string, Int32Array> {
  const pad = tokenizer.id(tokenizer.specials.pad ?? '') ?? 0;
  const fill = { input_ids: pad, token_type_ids: 0, attention_mask: 0 } as const;
  const tensors: Record<string, Int32Array> = {};
  for (const name of names) {
    if (!(name in fill)) throw new UsageError(`the model takes an input '${name}'; tcc embed gives input_ids, token_type_ids and attention_mask`);
    const key = name as keyof typeof fill;
    const data = new Int32Array(batch * seq).fill(fill[key]);
    rows.forEach((e, r) => data.set(e[key], r * seq));
    tensors[name] = data;
  }
  return tensors;
}
