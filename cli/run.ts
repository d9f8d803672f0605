// `tcc run --model MODEL (--inputs FILE | --text "…" [--text-pair "…"]) [--out FILE] …`: a forward
// pass as a pipeline. Text is tokenized with the model's vocabulary (padded
// and truncated to a compiled program's length); the outputs are written if
// asked, and said in words: the likeliest tokens at each [MASK], a
// classifier's labels (named by config.json's id2label), each token's tag,
// a question's answer span, whether a sentence follows another.

import { performance } from 'node:perf_hooks';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeSafetensors } from '../runtime/safetensors.js';
import { isHfDirectory } from '../runtime/hf-config.js';
import type { Tensor } from '../runtime/session.js';
import type { Program } from '../runtime/program.js';
import { vocabTokens, type TextTokenizer } from '../train/tokenizer.js';
import { bestSpan, classify, joinPieces, maskPredictions } from '../train/predictions.js';
import { InputError } from '../runtime/errors.js';
import { loadProgram } from '../runtime/program-dir.js';
import { isPacked, packPadded, unpackOutputs, type PackedBatch } from '../runtime/packed.js';
import { parse, seedFlag } from './args.js';
import { BACKEND_HELP, backendFlags, sessionFor, sessionOn } from './backend.js';
import { UsageError, type Io } from './errors.js';
import { outputFile, readTextFile, writeAtomic } from './files.js';
import { localModel, localModelFlag, localTokenizerFlag, localVocabFlag } from './hub.js';
import { fitInputs, readInputsFile, type RunInputs } from './run-inputs.js';
import { loadTokenizer } from './tokenizer.js';
import { checkTokenizerSize, setWeights } from './model-session.js';


export const runUsage = `usage: tcc run --model MODEL (--inputs FILE | --text "..." [--text-pair "..."] [--truncate]) [--out FILE] [--weights FILE] [--backend NAME] [--threads N] [--seed N]

Runs a model's forward pass and says what it found: the likeliest tokens at each
[MASK], a classifier's labels (named by config.json's id2label), each token's tag,
a question's answer (--text QUESTION --text-pair CONTEXT); --out writes every output.
  --model MODEL      a spec (YAML or DSL), a HuggingFace model directory or Hub id
                     (bert-base-uncased: from the HuggingFace cache, else downloaded),
                     or a program directory that tcc compile -o wrote (inputs are
                     padded to its batch and seq)
  --weights FILE     safetensors checkpoint, HuggingFace directory or Hub id (default:
                     the model directory's model.safetensors); without any, weights are
                     drawn from --seed as BERT does
  --inputs FILE      JSON of input_ids (a list, or [batch][seq] lists), token_type_ids
                     (default zeros) and attention_mask (default ones), or JSON lines of
                     them: tcc tokenize --json writes either
  --text, --text-pair  text to tokenize with the model's tokenizer.json, else its
                     vocab.txt (or --tokenizer tokenizer.json, --vocab FILE or Hub id,
                     --lowercase true|false for a vocab.txt)
  --truncate         cut a text longer than a program directory's seq to it (else
                     such a text is refused, with both lengths)
  --out FILE         write the outputs (F32) to a safetensors file
${BACKEND_HELP}
  --seed N           initialization seed (default 0)`;

/** The model's weights file: --weights (a file or a directory's model.safetensors), else a HuggingFace or program directory's own. */
export function weightsFile(flag: string | undefined, model: string, programDir: boolean): string | undefined {
  if (flag !== undefined) return isHfDirectory(flag) ? join(flag, 'model.safetensors') : flag;
  if (programDir) return existsSync(join(model, 'model.safetensors')) ? join(model, 'model.safetensors') : undefined;
  if (!isHfDirectory(model)) return undefined;
  const file = join(model, 'model.safetensors');
  if (existsSync(file)) return file;
  if (existsSync(join(model, 'pytorch_model.bin'))) throw new UsageError(`${model} has only pytorch_model.bin; tcc reads safetensors (save the model with safe_serialization=True)`);
  return undefined;
}

/** id2label of the config.json beside the weights or in the model directory, if one names its labels. */
export function labelNames(...dirs: (string | undefined)[]): ((id: number) => string) | undefined {
  for (const dir of dirs) {
    const file = dir && join(dir, 'config.json');
    if (!file || !existsSync(file)) continue;
    let config: unknown;
    try {
      config = JSON.parse(readTextFile(file, 64 * 2 ** 20, 'config.json'));
    } catch {
      continue;
    }
    const names = (config as { id2label?: unknown } | null)?.id2label;
    if (names && typeof names === 'object' && !Array.isArray(names)) {
      // Labels come from a file that may have come from anywhere: printed as one short line of printable text.
      const map = new Map(Object.entries(names as Record<string, unknown>).map(([k, v]) => [k, String(v).replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '?').slice(0, 100)]));
      return (id) => map.get(String(id)) ?? `LABEL_${id}`;
    }
  }
  return undefined;
}

/** What the outputs say, as lines: per row of the batch that the user gave. */
function resultLines(outputs: Record<string, Tensor>, inputs: RunInputs, tokenizer: TextTokenizer | undefined, names: ((id: number) => string) | undefined, pair: boolean): string[] {
  const lines: string[] = [];
  const rows = inputs.batch;
  const many = rows > 1;
  const row = (t: Tensor, r: number) => {
    const width = t.data.length / t.shape[0]!;
    return t.data.subarray(r * width, (r + 1) * width);
  };
  const label = names ?? ((id: number) => `LABEL_${id}`);
  for (let r = 0; r < rows; r++) {
    const at = many ? `row ${r}: ` : '';
    const tokens = inputs.tokens?.[r];
    const mlm = outputs['prediction_logits'];
    if (mlm && tokens && tokenizer) {
      const mask = tokenizer.specials.mask ?? '[MASK]';
      for (const p of maskPredictions(tokenizer.vocab, tokens, row(mlm, r), mlm.shape.at(-1)!, 5, mask)) lines.push(`${at}${mask} at ${p.position}: ${p.top.map((t) => `${t.token} ${t.probability.toFixed(3)}`).join(', ')}`);
    }
    const logits = outputs['logits'];
    if (logits?.shape.length === 2) {
      const [best, ...rest] = classify(row(logits, r), logits.shape[1]!, label)[0]!;
      lines.push(`${at}label ${best!.label} ${best!.probability.toFixed(3)}${rest.length ? ` (${rest.map((s) => `${s.label} ${s.probability.toFixed(3)}`).join(', ')})` : ''}`);
    }
    if (logits?.shape.length === 3 && tokens) {
      const tags = classify(row(logits, r), logits.shape[2]!, label, 1);
      const special = new Set(Object.values(tokenizer?.specials ?? { cls: '[CLS]', sep: '[SEP]', pad: '[PAD]' }));
      const shown = tokens.map((t, i) => (special.has(t) ? '' : `${t}/${tags[i]![0]!.label}`)).filter(Boolean);
      lines.push(`${at}tags ${shown.join(' ')}`);
    }
    const [start, end] = [outputs['start_logits'], outputs['end_logits']];
    if (start && end && tokens) {
      const types = Array.from(inputs.tensors['token_type_ids']!.subarray(r * inputs.seq, (r + 1) * inputs.seq));
      const span = bestSpan(row(start, r), row(end, r), tokens, types);
      lines.push(`${at}${span ? `answer "${joinPieces(tokens.slice(span.start, span.end + 1))}" (tokens ${span.start}–${span.end}, score ${span.score.toFixed(2)})` : 'no answer span in the context (give the question as --text and the context as --text-pair)'}`);
    }
    const nsp = outputs['seq_relationship_logits'];
    if (nsp && pair) {
      const [best] = classify(row(nsp, r), 2, (id) => (id === 0 ? 'follows' : 'does not follow'), 1)[0]!;
      lines.push(`${at}the second text ${best!.label} the first: ${best!.probability.toFixed(3)}`);
    }
  }
  return lines;
}

/** Outputs of the rows the user gave: a program compiled for a larger batch ran rows of padding too. */
function userRows(outputs: Record<string, Tensor>, program: Program, rows: number): Record<string, Tensor> {
  const batch = program.dims['batch'];
  if (batch === undefined || rows === batch) return outputs;
  return Object.fromEntries(Object.entries(outputs).map(([name, t]) => {
    if (t.shape[0] !== batch) return [name, t];
    const width = t.data.length / batch;
    return [name, { ...t, shape: [rows, ...t.shape.slice(1)], data: t.data.subarray(0, rows * width) }];
  }));
}

export async function runRun(argv: string[], debug: boolean, io: Io): Promise<number> {
  const { values, positionals } = parse(argv, {
    model: { type: 'string' }, weights: { type: 'string' }, inputs: { type: 'string' }, text: { type: 'string' }, 'text-pair': { type: 'string' }, truncate: { type: 'boolean' },
    vocab: { type: 'string' }, tokenizer: { type: 'string' }, lowercase: { type: 'string' }, out: { type: 'string' }, backend: { type: 'string' },
    threads: { type: 'string' }, seed: { type: 'string' }, help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.stdout.write(runUsage + '\n');
    return 0;
  }
  if (positionals.length) throw new UsageError(`run takes no positional arguments, got '${positionals[0]}'`);
  if (!values.model) throw new UsageError('run needs --model MODEL');
  if ((values.inputs === undefined) === (values.text === undefined)) throw new UsageError('run needs exactly one of --inputs FILE and --text "..."');
  if (values['text-pair'] !== undefined && values.text === undefined) throw new UsageError('--text-pair goes with --text');
  if (values.truncate && values.text === undefined) throw new UsageError('--truncate goes with --text');
  if (values.out !== undefined) outputFile(values.out);
  const backend = backendFlags(values);
  const seed = seedFlag(values.seed);
  // A HuggingFace Hub id: from the local HuggingFace cache, or downloaded into it.
  const model = await localModel(values.model, io);
  // A program directory runs without the compiler (which is not even loaded), at its own batch and seq.
  const programDir = existsSync(join(model, 'program.json'));
  const weights = weightsFile(await localModelFlag(values.weights, io), model, programDir);
  const vocab = await localVocabFlag(values.vocab, io);
  // Text needs the vocabulary; token ids from a file use it, where there is one, to name the tokens they predict.
  const tokenizer = values.text !== undefined || vocab !== undefined || values.tokenizer !== undefined || hasVocab(model)
    ? loadTokenizer({ vocab, tokenizer: await localTokenizerFlag(values.tokenizer, io), model, lowercase: values.lowercase })
    : undefined;

  let inputs: RunInputs;
  let session;
  /** A padding-free program directory's batch: its rows as one stream of their real tokens. */
  let stream: PackedBatch | undefined;
  // The rows the user gave (a program of a larger batch runs rows of padding after them).
  let given: number | undefined;
  const what = values.inputs ?? 'the tokens of --text';
  if (programDir) {
    const loaded = loadProgram(model);
    const { mode, dims } = loaded.program;
    if (mode !== 'infer') throw new UsageError(`${model} holds a ${mode} program; tcc run runs inference programs (tcc compile --mode infer)`);
    const [batch, seq] = [dims['batch'] ?? 1, dims['seq'] ?? 1];
    const pad = tokenizer?.id(tokenizer.specials.pad ?? '') ?? 0;
    // Text longer than the program's length is refused with both numbers (fitInputs, packSequences), or cut to it with --truncate.
    inputs = tokenizer && values.text !== undefined ? fromText(tokenizer, values.text, values['text-pair'], values.truncate ? seq : undefined) : readInputsFile(values.inputs!);
    given = inputs.batch;
    const truncate = (e: unknown) => (e instanceof Error && values.text !== undefined ? new UsageError(e.message.replace(/\)$/, ', or give --truncate to cut the text)')) : e);
    if (isPacked(loaded.program)) {
      // A padding-free program takes each row as it is: its tokens where attention_mask is 1.
      try {
        stream = packRows(loaded.program, inputs);
      } catch (e) {
        if (!(e instanceof InputError)) throw e;
        const cut = values.text !== undefined && /\(--seq\)$/.test(e.message) ? '; give --truncate to cut the text' : '';
        throw new InputError(`${what}: ${e.message}${cut}`);
      }
    } else {
      try {
        inputs = fitInputs(inputs, batch, seq, pad, what);
      } catch (e) {
        throw e instanceof UsageError ? truncate(e) : e;
      }
    }
    session = await sessionOn(loaded, backend, io, debug);
  } else {
    inputs = tokenizer && values.text !== undefined ? fromText(tokenizer, values.text, values['text-pair']) : readInputsFile(values.inputs!);
    const { compileFile } = await import('../compiler/compile.js');
    session = await sessionFor(compileFile(model, { batch: inputs.batch, seq: inputs.seq, verify: debug }).graph, backend, io, debug);
  }
  const { program } = session;
  checkTokenizerSize(tokenizer, program);
  const programReady = performance.now();
  const weightsNote = setWeights(session, weights, seed, io);
  const start = performance.now();
  const ran = await (stream ? session.run(stream.inputs, { seed: 0, step: 0, sizes: stream.sizes }) : session.run(inputs.tensors)).catch((e: unknown): never => {
    // An id out of the model's range: the file (or the text) it came from.
    throw e instanceof InputError ? new InputError(`${what}: ${e.message}`) : e;
  });
  const ms = performance.now() - start;
  const rows = given ?? inputs.batch;
  const outputs = stream ? unpackOutputs(program, stream, ran, inputs.seq) : userRows(ran, program, rows);
  if (values.out !== undefined) {
    const tensors = Object.fromEntries(Object.entries(outputs).map(([name, t]) => [name, { dtype: 'F32' as const, shape: t.shape, data: t.data }]));
    writeAtomic(values.out, writeSafetensors(tensors, { model: program.model, producer: 'tcc' }));
  }
  io.stderr.write(`${program.model}: batch ${rows} × seq ${inputs.seq} on ${session.executor.device}, ${weightsNote}\n`);
  for (const tokens of inputs.tokens ?? []) io.stderr.write(`  tokens ${tokens.filter((t) => t !== (tokenizer?.specials.pad ?? '[PAD]')).join(' ')}\n`);
  const names = labelNames(weights && dirname(weights), isHfDirectory(model) ? model : undefined);
  for (const line of resultLines(outputs, { ...inputs, batch: rows }, tokenizer ?? undefined, names, values['text-pair'] !== undefined)) io.stderr.write(`  ${line}\n`);
  const shapes = Object.entries(outputs).map(([name, t]) => `${name} [${t.shape.join(',')}]`).join(', ');
  io.stderr.write(`  program ready ${programReady.toFixed(0)} ms after start, weights ${(start - programReady).toFixed(0)} ms more; forward pass ${ms.toFixed(1)} ms; ${values.out === undefined ? 'outputs' : `wrote ${values.out}:`} ${shapes}\n`);
  return 0;
}

/** The rows of a padded batch as a padding-free program's stream: each row's real tokens (realLength); token types 0 where none are given. */
function packRows(program: Program, inputs: RunInputs): PackedBatch {
  return packPadded(program, { token_type_ids: new Int32Array(inputs.batch * inputs.seq), ...inputs.tensors }, inputs.batch, inputs.seq);
}

/** Whether the model has a tokenizer where loadTokenizer looks: in its directory, or beside its spec. */
function hasVocab(model: string): boolean {
  return ['vocab.txt', 'tokenizer.json'].some((f) => existsSync(join(model, f)) || existsSync(join(dirname(model), f)));
}

/** Text tokenized with the model's vocabulary: at `seq` tokens at most (truncated longest first), padded to it. */
function fromText(tokenizer: TextTokenizer, text: string, pair: string | undefined, seq?: number): RunInputs {
  const e = tokenizer.encode(text, { ...(pair === undefined ? {} : { pair }), ...(seq === undefined ? {} : { maxLength: seq, pad: true }) });
  return {
    batch: 1,
    seq: e.input_ids.length,
    tensors: { input_ids: Int32Array.from(e.input_ids), token_type_ids: Int32Array.from(e.token_type_ids), attention_mask: Int32Array.from(e.attention_mask) },
    tokens: [vocabTokens(tokenizer, e)],
  };
}
