// Feeding a packed (padding-free) program: a batch of sequences of any
// lengths becomes one stream of tokens, and what the program needs to keep
// the sequences apart is derived here from their lengths:
//
//   positions  i32 [tokens]     each token's place in its own sequence
//   bounds     i32 [tokens, 2]  the stream index of its sequence's first
//                               token, and one past its last
//   firsts     i32 [sequences]  each sequence's first token (its [CLS])
//
// The run's sizes are the stream's tokens and its sequences.

import { InputError } from './errors.js';
import type { Program } from './program.js';

/** The inputs a packed program derives from the sequences' lengths (compiler/passes/pack.ts adds them). */
export const PACKED_INPUTS = ['positions', 'bounds', 'firsts'] as const;
export type PackedInput = (typeof PACKED_INPUTS)[number];

/** A batch ready for Session.run: the stream's inputs, the run's sizes (tokens, sequences) and each sequence's first token and length. */
export interface PackedBatch {
  readonly inputs: Readonly<Record<string, Int32Array>>;
  readonly sizes: readonly number[];
  readonly offsets: readonly number[];
  readonly lengths: readonly number[];
}

/** Whether a program runs packed batches (it was compiled padding-free). */
export const isPacked = (program: Program) => program.symbols?.some((s) => s.name === 'tokens') ?? false;

/**
 * The inputs a packed program is fed per token (input_ids, token_type_ids,
 * a masked LM's labels, also where only the inputs derived from them read
 * them); per-sequence inputs (a classifier's labels) and scalars are the
 * run's own.
 */
export function tokenInputs(program: Program): string[] {
  const tokensSymbol = (program.symbols ?? []).findIndex((s) => s.name === 'tokens');
  const perToken = program.inputs.filter((i) => i.runtime?.size.symbol === tokensSymbol && !(PACKED_INPUTS as readonly string[]).includes(i.name)).map((i) => i.name);
  const labels = program.inputs.flatMap((i) => (i.derived?.runtime?.size.symbol === tokensSymbol ? [i.derived.of] : []));
  return [...new Set([...perToken, ...labels])];
}

/**
 * A padded batch of `rows` rows of `seq` positions (integer inputs: the
 * per-token ones rows × seq, an attention_mask among them) as a packed
 * program's stream: each row's real tokens (realLength); every other input
 * (one value per row) passed as it is.
 */
export function packPadded(program: Program, tensors: Readonly<Record<string, ArrayLike<number>>>, rows: number, seq: number): PackedBatch {
  const fed = tokenInputs(program);
  const mask = tensors['attention_mask'];
  const sequences = Array.from({ length: rows }, (_, r) => {
    const length = mask ? realLength(Array.prototype.slice.call(mask, r * seq, (r + 1) * seq) as number[], r) : seq;
    return Object.fromEntries(fed.filter((name) => tensors[name]).map((name) => [name, Array.prototype.slice.call(tensors[name], r * seq, r * seq + length) as number[]]));
  });
  const batch = packSequences(program, sequences);
  const others = Object.entries(tensors).filter(([name]) => name !== 'attention_mask' && !fed.includes(name));
  return { ...batch, inputs: { ...batch.inputs, ...Object.fromEntries(others.map(([name, t]) => [name, t instanceof Int32Array ? t : Int32Array.from(t)])) } };
}

/**
 * Packs sequences for a packed program: each sequence gives every token
 * input the program is fed (input_ids, token_type_ids, a masked LM's
 * labels…) as a list of the same length, and may hold others (ignored);
 * inputs of one value per sequence (a classifier's labels) and scalars go
 * to the run as they are. Refuses more sequences or tokens than the
 * program was compiled for, and a sequence longer than its longest, naming
 * both numbers.
 */
export function packSequences(program: Program, sequences: readonly Readonly<Record<string, ArrayLike<number>>>[]): PackedBatch {
  const symbols = program.symbols ?? [];
  const max = (name: string) => symbols.find((s) => s.name === name)?.max;
  const [maxTokens, maxSequences] = [max('tokens'), max('sequences')];
  if (!isPacked(program) || maxTokens === undefined || maxSequences === undefined) throw new InputError('the program is not padding-free; compile it with --packed');
  const longest = program.dims['seq'] ?? maxTokens;
  const fed = tokenInputs(program);
  if (sequences.length === 0) throw new InputError('a packed batch needs at least one sequence');
  if (sequences.length > maxSequences) throw new InputError(`${sequences.length} sequences, more than the ${maxSequences} the program was compiled for (--batch)`);
  const lengths = sequences.map((s, i) => {
    const first = s[fed[0]!];
    if (!first) throw new InputError(`sequence ${i} has no '${fed[0]}'`);
    const n = first.length;
    if (n === 0) throw new InputError(`sequence ${i} is empty`);
    if (n > longest) throw new InputError(`sequence ${i} has ${n} tokens, more than the ${longest} the program was compiled for (--seq)`);
    for (const name of fed) {
      const values = s[name];
      if (!values) throw new InputError(`sequence ${i} has no '${name}'`);
      if (values.length !== n) throw new InputError(`sequence ${i} has ${values.length} values of '${name}' and ${n} of '${fed[0]}'`);
    }
    return n;
  });
  const tokens = lengths.reduce((a, n) => a + n, 0);
  if (tokens > maxTokens) throw new InputError(`the batch has ${tokens} tokens, more than the ${maxTokens} the program was compiled for (--tokens)`);
  const inputs: Record<string, Int32Array> = Object.fromEntries(fed.map((name) => [name, new Int32Array(tokens)]));
  const [positions, bounds] = [new Int32Array(tokens), new Int32Array(2 * tokens)];
  const offsets: number[] = [];
  let at = 0;
  sequences.forEach((s, i) => {
    const n = lengths[i]!;
    offsets.push(at);
    for (const name of fed) inputs[name]!.set(s[name]!, at);
    for (let t = 0; t < n; t++) {
      positions[at + t] = t;
      bounds[2 * (at + t)] = at;
      bounds[2 * (at + t) + 1] = at + n;
    }
    at += n;
  });
  const derived: Record<PackedInput, Int32Array> = { positions, bounds, firsts: Int32Array.from(offsets) };
  for (const name of PACKED_INPUTS) if (program.inputs.some((i) => i.name === name)) inputs[name] = derived[name];
  return { inputs, sizes: symbols.map((s) => (s.name === 'tokens' ? tokens : sequences.length)), offsets, lengths };
}

/** The real tokens of a padded row: the leading run where its attention mask is 1 (padding before a real token is refused). */
export function realLength(mask: ArrayLike<number>, row: number): number {
  let length = 0;
  while (length < mask.length && mask[length] !== 0) length++;
  for (let i = length; i < mask.length; i++) {
    if (mask[i] !== 0) throw new InputError(`row ${row}'s attention_mask has padding before real tokens; a padding-free program takes each row's tokens as one leading run`);
  }
  return length;
}

/** A run's output tensor (Session.run's). */
interface Output {
  readonly dtype: 'f32' | 'i32';
  readonly shape: readonly number[];
  readonly data: Float32Array | Int32Array;
}

/**
 * A packed run's outputs laid out as a padded batch would give them: each
 * per-token output [1, tokens, …] becomes [sequences, seq, …], sequence i's
 * rows first and zeros after its length; per-sequence outputs stay.
 */
export function unpackOutputs(program: Program, batch: PackedBatch, outputs: Readonly<Record<string, Output>>, seq: number): Record<string, Output> {
  const tokensSymbol = (program.symbols ?? []).findIndex((s) => s.name === 'tokens');
  return Object.fromEntries(Object.entries(outputs).map(([name, t]) => {
    const declared = program.outputs.find((o) => o.name === name);
    if (declared?.runtime?.size.symbol !== tokensSymbol) return [name, t];
    const axis = declared.runtime.axis;
    const width = t.shape.slice(axis + 1).reduce((a, d) => a * d, 1);
    const data = new (t.data.constructor as Float32ArrayConstructor | Int32ArrayConstructor)(batch.lengths.length * seq * width);
    batch.lengths.forEach((n, i) => data.set(t.data.subarray(batch.offsets[i]! * width, (batch.offsets[i]! + n) * width), i * seq * width));
    return [name, { ...t, shape: [batch.lengths.length, seq, ...t.shape.slice(axis + 1)], data }];
  }));
}
