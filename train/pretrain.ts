// A pretraining run: batches from the data in order (the step alone decides
// which examples and which masks, so a resumed run sees exactly what an
// uninterrupted one would), one trainer step each, metrics appended to
// DIR/metrics.jsonl, checkpoints every N steps and at the end.

import { isPacked, PACKED_INPUTS, packPadded } from '../runtime/packed.js';
import { existsSync, readFileSync } from 'node:fs';
import { nonFiniteHint } from '../backends/registry.js';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { appendRecord, fileSystemReason, latestCheckpoint, pruneCheckpoints, readTrainerState, removeStaleTemporaries, writeAtomic, writeCheckpoint, type TrainerState } from '../runtime/checkpoint.js';
import { checkFinite } from '../runtime/weights.js';
import { InputError, RunFailure } from '../runtime/errors.js';
import type { ProgramInput } from '../runtime/program.js';
import type { Instance } from './corpus.js';
import { encodeExample, IGNORE_INDEX, type PretrainingExample } from './instances.js';
import { MASK_RATE, maskTokens, maxMaskedPositions, type MaskingStrategy } from './masking.js';
import { Rng, STREAMS } from './rng.js';
import type { TextTokenizer } from './tokenizer.js';
import type { Metrics, Trainer } from './trainer.js';
import type { Session } from '../runtime/session.js';

/** Examples by index; masks may differ per epoch (dynamic masking). */
export interface PretrainData {
  readonly count: number;
  /** The most labelled positions an example has (the program computes the masked-LM head at batch × this many rows). */
  readonly maxPredictions: number;
  example(index: number, epoch: number): PretrainingExample;
}

/** Draws reserved for one instance's masking, so each instance's masks have their own place in the stream. */
const DRAWS_PER_INSTANCE = 1 << 16;

/** Instances from a corpus, masked per epoch (dynamic and the unit strategies) or once (static). */
export function corpusData(instances: readonly Instance[], tokenizer: TextTokenizer, strategy: MaskingStrategy, seed: number, seqLength: number, rate = MASK_RATE): PretrainData {
  // Static masks depend on the instance alone (duplicates made by --dupe-factor differ by index); dynamic ones also on the epoch.
  const mask = (instance: Instance, index: number, epoch: number) => {
    const rng = new Rng(seed, STREAMS.masking + (strategy === 'static' ? 0 : epoch), index * DRAWS_PER_INSTANCE);
    return encodeExample(tokenizer, instance, maskTokens(instance.tokens, strategy === 'static' ? 'dynamic' : strategy, rng, tokenizer, rate), seqLength);
  };
  return { count: instances.length, maxPredictions: maxMaskedPositions(seqLength, rate), example: (index, epoch) => mask(instances[index]!, index, epoch) };
}

export function examplesData(examples: readonly PretrainingExample[]): PretrainData {
  const labelled = (e: PretrainingExample) => e.labels.reduce((n: number, l: number) => n + (l === IGNORE_INDEX ? 0 : 1), 0);
  return { count: examples.length, maxPredictions: examples.reduce((most, e) => Math.max(most, labelled(e)), 1), example: (index) => examples[index]! };
}

/** Parses prepared data (JSON lines with HuggingFace's field names); every line must fit the sequence length. */
/** Prepared examples (tcc prepare's JSON lines) and the line each came from. */
export function readExamples(text: string, file: string, seqLength: number): { examples: PretrainingExample[]; lines: number[] } {
  const fields = ['input_ids', 'token_type_ids', 'attention_mask', 'labels'] as const;
  const examples: PretrainingExample[] = [];
  const lines: number[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    const where = `${file}:${i + 1}`;
    let value: Record<string, unknown>;
    try {
      value = JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new InputError(`${where}: not a JSON object`);
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new InputError(`${where}: not a JSON object`);
    for (const f of fields) {
      const v = value[f];
      if (!Array.isArray(v) || v.length !== seqLength || !v.every((x) => Number.isInteger(x) && Math.abs(x) < 2 ** 31)) throw new InputError(`${where}: ${f} must be a list of ${seqLength} integers`);
    }
    // Sentence pairs carry their next-sentence label; packed sentences have none.
    if ('next_sentence_label' in value && value['next_sentence_label'] !== 0 && value['next_sentence_label'] !== 1) throw new InputError(`${where}: next_sentence_label must be 0 or 1`);
    const mask = value['attention_mask'] as number[];
    const bad = mask.findIndex((v) => v !== 0 && v !== 1);
    if (bad >= 0) throw new InputError(`${where}: attention_mask[${bad}] = ${mask[bad]}: a mask holds 0 (padding) and 1 (attend) only`);
    examples.push(value as unknown as PretrainingExample);
    lines.push(i + 1);
  });
  if (!examples.length) throw new InputError(`${file} has no examples`);
  return { examples, lines };
}

/** Checks prepared examples against the program's index inputs (ids within the vocabulary, labels or -100), naming the line of the first that is not. */
export function checkExamples(read: { examples: readonly PretrainingExample[]; lines: readonly number[] }, file: string, inputs: readonly ProgramInput[]): void {
  read.examples.forEach((example, k) => {
    for (const input of inputs) {
      // A derived input's values are its label input's (labels.labels: the labels at the labelled rows); a padding-free stream's own inputs come from the lengths.
      if (input.bound === undefined || input.derived?.take === 'rows' || (PACKED_INPUTS as readonly string[]).includes(input.name)) continue;
      const name = input.derived?.of ?? input.name;
      const values = (example as unknown as Record<string, unknown>)[name];
      if (values === undefined) throw new InputError(`${file}:${read.lines[k]}: no ${name}, which this model trains on${name === 'next_sentence_label' ? ' (prepare sentence pairs: tcc prepare --packing pairs)' : ''}`);
      if (!Array.isArray(values)) continue;
      const bad = values.findIndex((v: number) => !(v >= 0 && v < input.bound!) && v !== input.ignore);
      if (bad >= 0) throw new InputError(`${file}:${read.lines[k]}: ${name}[${bad}] = ${values[bad]} is out of range [0, ${input.bound})${input.ignore === undefined ? '' : ` and is not ${input.ignore}`}`);
    }
  });
}

export interface RunSettings {
  readonly dir: string;
  readonly steps: number;
  readonly batch: number;
  readonly seq: number;
  readonly saveEvery: number;
  /** Micro-batches of `batch` examples per update. */
  readonly accumulate: number;
  readonly config: object;
  /** Files kept in every checkpoint beside the weights, by name: the tokenizer's (vocab.txt or tokenizer.json), the spec. */
  readonly files?: Readonly<Record<string, string>>;
  /** Checkpoints kept: older ones are removed as new ones are written (default: all). */
  readonly keep?: number;
  /** Held-back examples scored every `every` steps and at the end, into DIR/validation.jsonl. */
  readonly validation?: Validation;
}

/**
 * Validation: a program of the step's losses and metrics alone (no update,
 * dropout off), over held-back examples with masks fixed once (epoch 0), in
 * whole batches.
 */
export interface Validation {
  readonly session: Session;
  readonly data: PretrainData;
  readonly every: number;
}

export interface RunHooks {
  /** After each step, for progress display. */
  onStep?(step: number, metrics: Metrics): void;
  onCheckpoint?(dir: string, removed: readonly string[]): void;
  /** After each validation, with its means (val_loss, val_mlm_loss, val_mlm_acc, …). */
  onValidation?(step: number, metrics: Metrics): void;
  /** Asked after each step: a signal that asks the run to stop (SIGINT, SIGTERM), if one came. */
  stopRequested?(): NodeJS.Signals | undefined;
}

/** A run stopped by a signal after a step, with a checkpoint of that step written. */
export class Interrupted extends Error {
  override name = 'Interrupted';
  constructor(
    readonly signal: NodeJS.Signals,
    readonly step: number,
    readonly checkpoint: string,
  ) {
    super(`stopped by ${signal} after step ${step}; ${checkpoint} holds it`);
  }
}

export class TrainingError extends RunFailure {
  override name = 'TrainingError';
}

/** The examples of one step as batched inputs. */
function batchAt(data: PretrainData, step: number, batch: number, epoch?: number): Record<string, Int32Array> {
  const rows: PretrainingExample[] = [];
  for (let k = 0; k < batch; k++) {
    const global = step * batch + k;
    rows.push(data.example(global % data.count, epoch ?? Math.floor(global / data.count)));
  }
  const flat = (field: 'input_ids' | 'token_type_ids' | 'attention_mask' | 'labels') => Int32Array.from(rows.flatMap((r) => r[field]));
  const pairs = rows.every((r) => r.next_sentence_label !== undefined);
  return {
    input_ids: flat('input_ids'),
    token_type_ids: flat('token_type_ids'),
    attention_mask: flat('attention_mask'),
    labels: flat('labels'),
    ...(pairs ? { next_sentence_label: Int32Array.from(rows.map((r) => r.next_sentence_label!)) } : {}),
  };
}

/** Writes checkpoint-STEP (or `name`), then prunes to `settings.keep`; tells the hooks. */
async function checkpoint(trainer: Trainer, settings: RunSettings, data: PretrainData, hooks: RunHooks, name = `checkpoint-${trainer.step}`): Promise<string> {
  const dir = await saveCheckpoint(trainer, settings, data, name);
  const removed = settings.keep !== undefined && name.startsWith('checkpoint-') ? pruneCheckpoints(settings.dir, settings.keep) : [];
  hooks.onCheckpoint?.(dir, removed);
  return dir;
}

async function saveCheckpoint(trainer: Trainer, settings: RunSettings, data: PretrainData, name: string): Promise<string> {
  const session = trainer.session;
  const dir = join(settings.dir, name);
  const [paramValues, stateValues] = [await session.readParams(), await session.readStates()];
  const params = Object.fromEntries(session.program.params.map((p) => [p.name, { dtype: 'F32' as const, shape: p.shape, data: paramValues[p.name]! }]));
  const optimizer = Object.fromEntries(session.program.states.map((s) => [s.name, { dtype: 'F32' as const, shape: s.shape, data: stateValues[s.name]! }]));
  const state: TrainerState = { step: trainer.step, seed: trainer.settings.seed, batch: settings.batch, seq: settings.seq, examples: data.count, accumulate: settings.accumulate };
  writeCheckpoint(dir, { config: settings.config, params, optimizer, trainerState: state, files: settings.files ?? {} });
  return dir;
}

/** The step of a metrics.jsonl line, or undefined for a line that is not a whole record. */
function loggedStep(line: string): number | undefined {
  try {
    const step = (JSON.parse(line) as { step?: unknown } | null)?.step;
    return typeof step === 'number' ? step : undefined;
  } catch {
    return undefined;
  }
}

/** A checkpoint's tensors for the program's parameters or states: every one present, of its size and finite, or an error naming the file. */
function restored(file: string, wanted: readonly { readonly name: string; readonly shape: readonly number[] }[], have: ReadonlyMap<string, Float32Array>): Record<string, Float32Array> {
  const values: Record<string, Float32Array> = {};
  for (const t of wanted) {
    const data = have.get(t.name);
    const size = t.shape.reduce((a, d) => a * d, 1);
    if (!data) throw new InputError(`${file} lacks '${t.name}' of this model (is it a checkpoint of another model?)`);
    if (data.length !== size) throw new InputError(`${file}: '${t.name}' has ${data.length} values; this model's has ${size} (is it a checkpoint of another model?)`);
    values[t.name] = data;
  }
  checkFinite(file, values);
  return values;
}

/**
 * Restores the latest complete checkpoint of the run directory into the
 * trainer; returns its step, or undefined when there is none. Its state,
 * model and optimizer files are checked against this run before anything
 * is set.
 */
export function resume(trainer: Trainer, settings: RunSettings, data: PretrainData): number | undefined {
  removeStaleTemporaries(settings.dir);
  const latest = latestCheckpoint(settings.dir);
  if (!latest) return undefined;
  const { state, params, optimizer, files } = readTrainerState(latest.dir);
  if (state.batch !== settings.batch || state.seq !== settings.seq || state.examples !== data.count || state.seed !== trainer.settings.seed || state.accumulate !== settings.accumulate) {
    throw new InputError(`${latest.dir} was written with batch ${state.batch}, seq ${state.seq}, accumulation ${state.accumulate}, ${state.examples} examples and seed ${state.seed}; resume with the same settings`);
  }
  if (state.step >= settings.steps) throw new InputError(`${latest.dir} is at step ${state.step}: this run of ${settings.steps} steps is done`);
  const session = trainer.session;
  const values = restored(files.params, session.program.params, params);
  const moments = restored(files.optimizer, session.program.states, optimizer);
  session.setParams(values);
  session.setStates(moments);
  trainer.step = state.step;
  return state.step;
}

export async function runTraining(trainer: Trainer, data: PretrainData, settings: RunSettings, hooks: RunHooks = {}): Promise<Metrics> {
  const stopping = (reason: string) => {
    const kept = latestCheckpoint(settings.dir);
    return `${reason}; stopping, ${kept ? `${kept.dir} is kept` : 'no checkpoint was written yet'}`;
  };
  let step = trainer.step;
  try {
    return await trainSteps(trainer, data, settings, hooks, stopping, (s) => (step = s));
  } catch (e) {
    // A lost device (or another failure of the backend): checkpoints are written whole or not at all.
    if (!(e instanceof RunFailure) || e instanceof TrainingError) throw e;
    throw new RunFailure(stopping(`${e.message} at step ${step + 1}`));
  }
}

/**
 * Keeps the log of the steps up to `step` (those a resumed run will not log
 * again; none for a fresh run), dropping a line a kill cut short.
 */
function keepLoggedSteps(metricsFile: string, step: number): void {
  if (!existsSync(metricsFile)) return;
  const kept = readFileSync(metricsFile, 'utf8').split('\n').filter((l) => (loggedStep(l) ?? Infinity) <= step);
  try {
    writeAtomic(metricsFile, kept.map((l) => l + '\n').join(''));
  } catch (e) {
    throw new RunFailure(`cannot write ${metricsFile}: ${fileSystemReason(e)}`);
  }
}

/** Runs a batch on a program (its training step's or validation's), padding-free where the program is. */
function stepInputs(program: Session['program'], batch: Record<string, Int32Array>, rows: number, seq: number): { inputs: Record<string, ArrayLike<number>>; sizes?: readonly number[] } {
  if (!isPacked(program)) return { inputs: batch };
  const packed = packPadded(program, batch, rows, seq);
  return { inputs: packed.inputs, sizes: packed.sizes };
}

/** The means of the validation program's losses and metrics over its whole batches, named val_… ; the parameters copied from training first. */
export async function validate(trainer: Trainer, validation: Validation, batch: number, seq: number): Promise<Metrics> {
  const { session, data } = validation;
  session.setParams(await trainer.session.read(session.program.params.map((p) => p.name)));
  const names = session.program.outputs.map((o) => o.name).filter((n) => !n.startsWith('update:'));
  const batches = Math.floor(data.count / batch);
  const sums: Record<string, number> = {};
  for (let b = 0; b < batches; b++) {
    const { inputs, sizes } = stepInputs(session.program, batchAt(data, b, batch, 0), batch, seq);
    const out = await session.run(inputs, { seed: 0, step: 0, ...(sizes ? { sizes } : {}) }, names);
    for (const name of names) sums[name] = (sums[name] ?? 0) + out[name]!.data[0]! / batches;
  }
  return Object.fromEntries(Object.entries(sums).map(([name, v]) => [`val_${name}`, v]));
}

async function trainSteps(trainer: Trainer, data: PretrainData, settings: RunSettings, hooks: RunHooks, stopping: (reason: string) => string, at: (step: number) => void): Promise<Metrics> {
  const metricsFile = join(settings.dir, 'metrics.jsonl');
  const validationFile = join(settings.dir, 'validation.jsonl');
  keepLoggedSteps(metricsFile, trainer.step);
  keepLoggedSteps(validationFile, trainer.step);
  const { validation } = settings;
  let last: Metrics = {};
  const k = settings.accumulate;
  for (let step = trainer.step; step < settings.steps; step++) {
    at(step);
    const start = performance.now();
    // The update's metrics are the means over its micro-batches.
    const metrics: Metrics = {};
    for (let j = 0; j < k; j++) {
      // A padding-free program takes the batch as one stream of its rows' real tokens.
      const { inputs, sizes } = stepInputs(trainer.session.program, batchAt(data, step * k + j, settings.batch), settings.batch, settings.seq);
      const m = await trainer.trainStep(inputs, sizes);
      for (const [name, v] of Object.entries(m)) metrics[name] = (metrics[name] ?? 0) + v / k;
    }
    const seconds = (performance.now() - start) / 1000;
    if (!Number.isFinite(metrics.loss!)) throw new TrainingError(stopping(`the loss is ${metrics.loss} at step ${step + 1} (${nonFiniteHint()})`));
    last = { ...metrics, tokens_per_s: (k * settings.batch * settings.seq) / seconds, epoch: Math.floor((step * k * settings.batch) / data.count) };
    appendRecord(metricsFile, { step: step + 1, ...last });
    hooks.onStep?.(step + 1, last);
    if (validation && ((step + 1) % validation.every === 0 || step + 1 === settings.steps)) {
      const scores = await validate(trainer, validation, settings.batch, settings.seq);
      appendRecord(validationFile, { step: step + 1, ...scores });
      hooks.onValidation?.(step + 1, scores);
    }
    const signal = hooks.stopRequested?.();
    if (signal && step + 1 < settings.steps) throw new Interrupted(signal, step + 1, await checkpoint(trainer, settings, data, hooks));
    if ((step + 1) % settings.saveEvery === 0 && step + 1 < settings.steps) await checkpoint(trainer, settings, data, hooks);
  }
  at(settings.steps - 1);
  await checkpoint(trainer, settings, data, hooks);
  await checkpoint(trainer, settings, data, hooks, 'final');
  return last;
}
