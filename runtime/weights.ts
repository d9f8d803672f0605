// Checkpoint tensors → a program's parameters, by HuggingFace name. The names
// map one to one, with HuggingFace's own leniencies: a base-model checkpoint
// (BertModel: no "bert." prefix) loads into a model with heads and the
// reverse, TF-era "LayerNorm.gamma/beta" mean weight/bias, and the copies
// HuggingFace stores beside tied or buffer tensors are skipped.

import { InputError } from './errors.js';
import type { ProgramParam } from './program.js';
import type { StoredTensor } from './safetensors.js';

export interface MatchedWeights {
  readonly values: Record<string, Float32Array>;
  /** Parameters the checkpoint lacks. */
  readonly missing: readonly string[];
  /** Checkpoint tensors no parameter takes (buffers and tied copies excluded). */
  readonly unused: readonly string[];
}

export class WeightsError extends InputError {
  override name = 'WeightsError';
}

/** Tensors HuggingFace writes that are not parameters of their own. */
const NOT_PARAMETERS = [/\.position_ids$/, /^cls\.predictions\.decoder\.(weight|bias)$/, /\.decoder\.bias$/];

function candidates(name: string): string[] {
  const legacy = name.replace(/\.LayerNorm\.weight$/, '.LayerNorm.gamma').replace(/\.LayerNorm\.bias$/, '.LayerNorm.beta');
  const names = [name, legacy];
  for (const n of [name, legacy]) names.push(n.startsWith('bert.') ? n.slice(5) : `bert.${n}`);
  return [...new Set(names)];
}

export function matchWeights(params: readonly Pick<ProgramParam, 'name' | 'shape'>[], tensors: ReadonlyMap<string, StoredTensor>): MatchedWeights {
  const values: Record<string, Float32Array> = {};
  const missing: string[] = [];
  const used = new Set<string>();
  for (const param of params) {
    const found = candidates(param.name).find((n) => tensors.has(n));
    if (!found) {
      missing.push(param.name);
      continue;
    }
    const t = tensors.get(found)!;
    if (t.shape.join(',') !== param.shape.join(',')) {
      throw new WeightsError(`checkpoint tensor '${found}' has shape [${t.shape.join(',')}], but parameter '${param.name}' is [${param.shape.join(',')}]`);
    }
    if (t.data instanceof Int32Array) throw new WeightsError(`checkpoint tensor '${found}' is ${t.dtype}; parameters are floating point`);
    values[param.name] = t.data;
    used.add(found);
  }
  const unused = [...tensors.keys()].filter((n) => !used.has(n) && !NOT_PARAMETERS.some((re) => re.test(n)));
  return { values, missing, unused };
}
