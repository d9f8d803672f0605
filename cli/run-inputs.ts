// What `tcc run` feeds a model: token ids from a JSON file (one sequence's
// lists, a batch's [batch][seq] lists, or JSON lines of sequences, as `tcc
// tokenize --json` writes them), fitted to a compiled program's batch and
// sequence length by padding (positions with attention mask 0, rows of
// padding whose outputs are dropped).

import { UsageError } from './errors.js';
import { readTextFile } from './files.js';

export const INPUT_NAMES = ['input_ids', 'token_type_ids', 'attention_mask'] as const;

export interface RunInputs {
  readonly batch: number;
  readonly seq: number;
  readonly tensors: Record<string, Int32Array>;
  /** Each row's tokens, where the file (tokenize --json) or the text gave them. */
  readonly tokens?: readonly (readonly string[])[];
}

type Rows = number[][];

const isInt32 = (x: unknown) => Number.isInteger(x) && (x as number) >= -(2 ** 31) && (x as number) < 2 ** 31;

/** An attention mask holds 0 (padding) and 1 (attend) only; anything else is named with its place. */
export function checkMask(rows: readonly (readonly number[])[], what: string): void {
  rows.forEach((row, i) => {
    const j = row.findIndex((v) => v !== 0 && v !== 1);
    if (j >= 0) throw new UsageError(`${what}[${i}][${j}] = ${row[j]}: a mask holds 0 (padding) and 1 (attend) only`);
  });
}

/** One JSON object's sequences: lists of ids (one sequence) or lists of lists (a batch), with optional `tokens`. */
function readObject(json: unknown, where: string): { rows: Record<string, Rows | undefined>; tokens?: string[][] } {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new UsageError(`${where}: expected an object with input_ids`);
  const fields = json as Record<string, unknown>;
  const known = [...INPUT_NAMES, 'tokens'];
  const extra = Object.keys(fields).filter((k) => !known.includes(k));
  if (extra.length) throw new UsageError(`${where}: unknown field '${extra[0]!.slice(0, 40)}' (expected ${known.join(', ')})`);
  const nested = Array.isArray(fields['input_ids']) && Array.isArray((fields['input_ids'] as unknown[])[0]);
  const rows = (name: string): Rows | undefined => {
    const v = fields[name];
    if (v === undefined) return undefined;
    const list = nested ? v : [v];
    const ok = Array.isArray(list) && list.length > 0 && list.every((r) => Array.isArray(r) && r.length > 0 && r.every(isInt32));
    if (!ok) throw new UsageError(`${where}: ${name} must be a non-empty list of 32-bit integers, or a [batch][seq] list of them`);
    return list as Rows;
  };
  const out: Record<string, Rows | undefined> = {};
  for (const name of INPUT_NAMES) out[name] = rows(name);
  const t = fields['tokens'];
  const tokenRows = t === undefined ? undefined : nested ? t : [t];
  if (tokenRows !== undefined && !(Array.isArray(tokenRows) && tokenRows.every((r) => Array.isArray(r) && r.every((x) => typeof x === 'string')))) throw new UsageError(`${where}: tokens must be lists of strings`);
  return { rows: out, ...(tokenRows ? { tokens: tokenRows as string[][] } : {}) };
}

/** The inputs of a JSON file or a JSON-lines file of sequences (each line as `tcc tokenize --json` prints it). */
export function readInputsFile(path: string): RunInputs {
  const text = readTextFile(path, 256 * 2 ** 20, 'inputs file');
  const objects: { value: unknown; where: string }[] = [];
  const lines = text.split('\n');
  try {
    objects.push({ value: JSON.parse(text), where: path });
  } catch (whole) {
    // JSON lines: one sequence per line.
    if (lines.filter((l) => l.trim()).length < 2) throw new UsageError(`${path}: not valid JSON (${(whole as Error).message.split('\n')[0]})`);
    lines.forEach((line, i) => {
      if (!line.trim()) return;
      try {
        objects.push({ value: JSON.parse(line), where: `${path}:${i + 1}` });
      } catch (e) {
        throw new UsageError(`${path}:${i + 1}: not valid JSON (${(e as Error).message.split('\n')[0]})`);
      }
    });
  }
  if (!objects.length) throw new UsageError(`${path} holds no inputs`);
  const read = objects.map((o) => ({ ...readObject(o.value, o.where), where: o.where }));
  const ids = read.flatMap((r) => r.rows['input_ids'] ?? (() => { throw new UsageError(`${r.where}: input_ids is required`); })());
  const seq = Math.max(...ids.map((r) => r.length));
  const batch = ids.length;
  const tensors: Record<string, Int32Array> = {};
  for (const name of INPUT_NAMES) {
    const filler = name === 'attention_mask' ? 1 : 0;
    const rows = read.flatMap((r) => {
      const given = r.rows[name];
      const own = r.rows['input_ids']!;
      if (given && (given.length !== own.length || given.some((row, i) => row.length !== own[i]!.length))) throw new UsageError(`${r.where}: ${name} must have the shape of input_ids`);
      return given ?? own.map((row) => new Array<number>(row.length).fill(filler));
    });
    // A mask of 2 or -3 is no mask: HuggingFace's additive mask of it overflows to NaN.
    if (name === 'attention_mask') checkMask(rows, `${path}: attention_mask`);
    // Sequences of several lengths (JSON lines) are padded to the longest: mask 0 where padded.
    tensors[name] = Int32Array.from(rows.flatMap((row) => [...row, ...new Array<number>(seq - row.length).fill(0)]));
  }
  const tokens = read.every((r) => r.tokens) ? read.flatMap((r) => r.tokens!) : undefined;
  return { batch, seq, tensors, ...(tokens ? { tokens } : {}) };
}

/**
 * Inputs padded to a compiled program's batch × seq: positions past a
 * sequence with attention mask 0 (and [PAD], id `pad`), rows past the
 * batch all padding. Longer or more than the program takes is an error
 * that says how to compile for them.
 */
export function fitInputs(inputs: RunInputs, batch: number, seq: number, pad: number, what: string): RunInputs {
  if (inputs.batch === batch && inputs.seq === seq) return inputs;
  if (inputs.seq > seq || inputs.batch > batch) {
    throw new UsageError(`${what} holds ${inputs.batch} × ${inputs.seq} tokens; the program takes ${batch} × ${seq} (compile it with --batch ${Math.max(batch, inputs.batch)} --seq ${Math.max(seq, inputs.seq)})`);
  }
  const tensors: Record<string, Int32Array> = {};
  for (const [name, data] of Object.entries(inputs.tensors)) {
    const out = new Int32Array(batch * seq).fill(name === 'input_ids' ? pad : 0);
    for (let r = 0; r < inputs.batch; r++) out.set(data.subarray(r * inputs.seq, (r + 1) * inputs.seq), r * seq);
    tensors[name] = out;
  }
  return { batch, seq, tensors, ...(inputs.tokens ? { tokens: inputs.tokens } : {}) };
}
