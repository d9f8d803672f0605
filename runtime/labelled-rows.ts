// Inputs derived from a label input rather than fed: when the compiler
// computes a head only at the labelled rows (the masked-LM decoder at the
// masked positions), the program takes the flat indices of the rows whose
// label is not `ignore`, and those rows' labels, each padded to a fixed
// count. Whoever runs the program (the runtime, the interpreter) derives
// them from the label input the user feeds, so that input stays the one
// HuggingFace takes.

import { InputError } from './errors.js';
import type { RuntimeSize } from '../kernel/ir.js';

export type LabelledTake = 'rows' | 'labels';

/** How an input is derived: the rows (flat indices; padding row 0) or the labels (padding `ignore`) of `of`'s labelled rows. */
export interface Derived {
  /** The label input's name and shape. */
  readonly of: string;
  readonly shape: readonly number[];
  readonly take: LabelledTake;
  readonly ignore: number;
  /** The axis of `of` a run sizes (a padding-free stream's labels: one per token), `shape` holding its largest. */
  readonly runtime?: { readonly axis: number; readonly size: RuntimeSize };
}

/**
 * The first `count` labelled rows of `labels` (values not equal to `ignore`),
 * as flat indices or as their labels, padded to `count`. More labelled rows
 * than `count` is an input error: the program was compiled for fewer.
 */
export function labelledRows(labels: ArrayLike<number>, derived: Derived, count: number): Int32Array {
  const { take, ignore } = derived;
  const size = derived.shape.reduce((a, d) => a * d, 1);
  if (labels.length !== size) throw new InputError(`input '${derived.of}' needs ${size} values for shape [${derived.shape.join(',')}], got ${labels.length}`);
  const out = new Int32Array(count).fill(take === 'rows' ? 0 : ignore);
  let n = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] === ignore) continue;
    if (n === count) {
      let total = n;
      for (let j = i; j < labels.length; j++) if (labels[j] !== ignore) total++;
      throw new InputError(`'${derived.of}' labels ${total} positions, more than the ${count} this program computes its head at (compile it with a larger --max-predictions)`);
    }
    out[n++] = take === 'rows' ? i : labels[i]!;
  }
  return out;
}
