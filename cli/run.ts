// `tcc run --model SPEC [--weights FILE] --inputs inputs.json --out out.safetensors [--backend cpu|native|js|webgpu] [--threads N] [--seed N]`

import { performance } from 'node:perf_hooks';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readSafetensors, writeSafetensors } from '../runtime/safetensors.js';
import { isHfDirectory as isModelDirectoryPath } from '../runtime/hf-config.js';
import { localModel, localModelFlag, localVocabFlag } from './hub.js';
import type { Tensor } from '../runtime/session.js';
import type { Encoding, WordPieceTokenizer } from '../train/tokenizer.js';
import { loadTokenizer } from './tokenizer.js';
import { maskPredictions } from '../train/predictions.js';
import { matchWeights } from '../runtime/weights.js';
import { oneOf, parse, seedFlag } from './args.js';
import { BACKEND_HELP, backendFlags, sessionFor, sessionOn } from './backend.js';
import { InputError } from '../runtime/errors.js';
import { loadProgram } from '../runtime/program-dir.js';
import type { LoadedProgram } from '../runtime/program.js';
import { UsageError, type Io } from './errors.js';
import { initWithProgress } from './progress.js';
import { outputFile, readInputFile, writeAtomic, readTextFile } from './files.js';

export const runUsage = `usage: tcc run --model SPEC_OR_HF_DIR [--weights FILE] (--inputs inputs.json | --text "..." [--text-pair "..."]) --out out.safetensors [--backend NAME] [--threads N] [--seed N]

Runs a model's forward pass and writes its outputs (F32) to a safetensors file.
  --model SPEC       a model spec (YAML or DSL), a HuggingFace model directory
                     (config.json, model.safetensors), or a program directory
                     that tcc compile -o wrote (run without compiling again;
                     the inputs must have its batch and seq)
  --weights FILE     safetensors checkpoint with HuggingFace names (default: the
                     directory's model.safetensors); without any, weights are
                     initialized from --seed as BERT does
  --inputs FILE      JSON {"input_ids": [[...], ...], "token_type_ids": ..., "attention_mask": ...};
                     token_type_ids default to zeros and attention_mask to ones
  --text, --text-pair  text to tokenize with the model's vocab.txt (or --vocab FILE,
                     --lowercase true|false); prints the top predictions at [MASK]
  --out FILE         where the outputs go
${BACKEND_HELP}
  --seed N           initialization seed (default 0)`;

type Rows = number[][];

/** An attention mask holds 0 (padding) and 1 (attend) only; anything else is named with its place. */
export function checkMask(rows: readonly (readonly number[])[], what: string): void {
  rows.forEach((row, i) => {
    const j = row.findIndex((v) => v !== 0 && v !== 1);
    if (j >= 0) throw new UsageError(`${what}[${i}][${j}] = ${row[j]}: a mask holds 0 (padding) and 1 (attend) only`);
  });
}

/** input_ids (required), token_type_ids and attention_mask as [batch][seq] integer lists. */
export function readInputs(path: string): { batch: number; seq: number; tensors: Record<string, Int32Array> } {
  let json: unknown;
  try {
    json = JSON.parse(readTextFile(path));
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new UsageError(`${path}: expected an object with input_ids`);
  const fields = json as Record<string, unknown>;
  const known = ['input_ids', 'token_type_ids', 'attention_mask'];
  const extra = Object.keys(fields).filter((k) => !known.includes(k));
  if (extra.length) throw new UsageError(`${path}: unknown field '${extra[0]}' (expected ${known.join(', ')})`);
  const rows = (name: string): Rows | undefined => {
    const v = fields[name];
    if (v === undefined) return undefined;
    const ok = Array.isArray(v) && v.length > 0 && v.every((r) => Array.isArray(r) && r.length > 0 && r.every((x) => Number.isInteger(x) && x >= -(2 ** 31) && x < 2 ** 31));
    if (!ok) throw new UsageError(`${path}: ${name} must be a non-empty [batch][seq] list of 32-bit integers`);
    return v as Rows;
  };
  const ids = rows('input_ids');
  if (!ids) throw new UsageError(`${path}: input_ids is required`);
  const [batch, seq] = [ids.length, ids[0]!.length];
  const tensors: Record<string, Int32Array> = {};
  for (const name of known) {
    const r = rows(name) ?? Array.from({ length: batch }, () => new Array<number>(seq).fill(name === 'attention_mask' ? 1 : 0));
    if (r.length !== batch || r.some((row) => row.length !== seq)) throw new UsageError(`${path}: ${name} must be ${batch}×${seq} like input_ids`);
    // A mask of 2 or -3 is no mask: HuggingFace's additive mask of it overflows to NaN.
    if (name === 'attention_mask') checkMask(r, `${path}: attention_mask`);
    tensors[name] = Int32Array.from(r.flat());
  }
  return { batch, seq, tensors };
}

/** Whether --model names a program directory that `tcc compile -o` wrote. */
function isProgramDirectory(model: string): boolean {
  return existsSync(join(model, 'program.json'));
}

/** A compiled inference program, which must have been compiled for the inputs' shape. */
function compiledProgram(dir: string, inputs: { batch: number; seq: number }): LoadedProgram {
  let loaded: LoadedProgram;
  try {
    loaded = loadProgram(dir);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const { mode, dims } = loaded.program;
  if (mode !== 'infer') throw new UsageError(`${dir} holds a ${mode} program; tcc run runs inference programs (tcc compile --mode infer)`);
  if (dims['batch'] !== inputs.batch || dims['seq'] !== inputs.seq) {
    throw new UsageError(`${dir} was compiled for batch ${dims['batch']} × seq ${dims['seq']}, the inputs are ${inputs.batch} × ${inputs.seq} (recompile with --batch ${inputs.batch} --seq ${inputs.seq})`);
  }
  return loaded;
}

/** A HuggingFace directory's own weights, if it has them in a format tcc reads. */
async function defaultWeights(model: string): Promise<string | undefined> {
  const { isModelDirectory } = await import('../compiler/compile.js');
  if (!isModelDirectory(model)) return undefined;
  const file = join(model, 'model.safetensors');
  if (existsSync(file)) return file;
  if (existsSync(join(model, 'pytorch_model.bin'))) {
    throw new UsageError(`${model} has only pytorch_model.bin; tcc reads safetensors (save the model with safe_serialization=True)`);
  }
  return undefined;
}

function fromEncoding(e: Encoding): { batch: number; seq: number; tensors: Record<string, Int32Array> } {
  return {
    batch: 1,
    seq: e.input_ids.length,
    tensors: { input_ids: Int32Array.from(e.input_ids), token_type_ids: Int32Array.from(e.token_type_ids), attention_mask: Int32Array.from(e.attention_mask) },
  };
}

/** The five likeliest tokens at each [MASK], from the MLM head's logits, as lines. */
function maskLines(tokenizer: WordPieceTokenizer, e: Encoding, logits: Tensor | undefined): string[] {
  if (!logits) return [];
  return maskPredictions(tokenizer.vocab, e.tokens, logits.data, logits.shape[logits.shape.length - 1]!).map(
    (p) => `[MASK] at ${p.position}: ${p.top.map((t) => `${t.token} ${t.probability.toFixed(3)}`).join(', ')}`,
  );
}

export async function runRun(argv: string[], debug: boolean, io: Io): Promise<number> {
  const { values, positionals } = parse(argv, {
    model: { type: 'string' },
    weights: { type: 'string' },
    inputs: { type: 'string' },
    text: { type: 'string' },
    'text-pair': { type: 'string' },
    vocab: { type: 'string' },
    lowercase: { type: 'string' },
    out: { type: 'string' },
    backend: { type: 'string' },
    threads: { type: 'string' },
    seed: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.stdout.write(runUsage + '\n');
    return 0;
  }
  if (positionals.length) throw new UsageError(`run takes no positional arguments, got '${positionals[0]}'`);
  if (!values.model) throw new UsageError('run needs --model SPEC');
  // A HuggingFace Hub id: from the local HuggingFace cache, or downloaded into it.
  values.model = await localModel(values.model, io);
  values.vocab = await localVocabFlag(values.vocab, io);
  values.weights = await localModelFlag(values.weights, io);
  if (values.weights !== undefined && isModelDirectoryPath(values.weights)) values.weights = join(values.weights, 'model.safetensors');
  if ((values.inputs === undefined) === (values.text === undefined)) throw new UsageError('run needs exactly one of --inputs FILE and --text "..."');
  if (values.out !== undefined) outputFile(values.out);
  const backend = backendFlags(values);
  const seed = seedFlag(values.seed);
  const tokenizer = values.text === undefined ? undefined : loadTokenizer({ vocab: values.vocab, model: values.model, lowercase: values.lowercase });
  const encoding = tokenizer?.encode(values.text!, { pair: values['text-pair'] });
  const inputs = encoding ? fromEncoding(encoding) : readInputs(values.inputs!);

  // A program directory runs without the compiler (which is not even loaded).
  const programDir = isProgramDirectory(values.model);
  const session = programDir
    ? await sessionOn(compiledProgram(values.model, inputs), backend, io)
    : await sessionFor((await import('../compiler/compile.js')).compileFile(values.model, { batch: inputs.batch, seq: inputs.seq, verify: debug }).graph, backend, io, debug);
  const { program } = session;
  const programReady = performance.now();
  let weightsNote: string;
  const weightsFile = values.weights ?? (programDir ? undefined : await defaultWeights(values.model));
  if (weightsFile) {
    const file = readSafetensors(readInputFile(weightsFile), weightsFile);
    const matched = matchWeights(program.params, file.tensors, weightsFile);
    if (matched.missing.length) {
      throw new UsageError(`${weightsFile} lacks ${matched.missing.length} of the model's parameters, e.g. '${matched.missing[0]}'`);
    }
    session.setParams(matched.values);
    weightsNote = `weights ${weightsFile}${matched.unused.length ? ` (${matched.unused.length} tensors unused, e.g. '${matched.unused[0]}')` : ''}`;
  } else {
    session.setParams(initWithProgress(io, program.params, seed));
    weightsNote = `random weights (seed ${seed})`;
  }
  const start = performance.now();
  const outputs = await session.run(inputs.tensors).catch((e: unknown): never => {
    // An id out of the model's range: the file (or the text) it came from.
    throw e instanceof InputError ? new InputError(`${values.inputs ?? 'the tokens of --text'}: ${e.message}`) : e;
  });
  const ms = performance.now() - start;
  const tensors = Object.fromEntries(Object.entries(outputs).map(([name, t]) => [name, { dtype: 'F32' as const, shape: t.shape, data: t.data }]));
  if (values.out !== undefined) writeAtomic(values.out, writeSafetensors(tensors, { model: program.model, producer: 'tcc' }));
  io.stderr.write(`${program.model}: batch ${inputs.batch} × seq ${inputs.seq} on ${session.executor.device}, ${weightsNote}\n`);
  if (tokenizer && encoding) {
    io.stderr.write(`  tokens ${encoding.tokens.join(' ')}\n`);
    for (const line of maskLines(tokenizer, encoding, outputs['prediction_logits'])) io.stderr.write(`  ${line}\n`);
  }
  const shapes = Object.entries(outputs).map(([name, t]) => `${name} [${t.shape.join(',')}]`).join(', ');
  io.stderr.write(`  program ready ${programReady.toFixed(0)} ms after start, weights ${(start - programReady).toFixed(0)} ms more; forward pass ${ms.toFixed(1)} ms; ${values.out === undefined ? 'outputs' : `wrote ${values.out}:`} ${shapes}\n`);
  return 0;
}
