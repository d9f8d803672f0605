// Checkpoint tensors → a program's parameters, by HuggingFace name. The names
// map one to one, with HuggingFace's own leniencies: a base-model checkpoint
// (BertModel, RobertaModel: no "bert."/"roberta." prefix) loads into a model with heads and the
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
const NOT_PARAMETERS = [/\.position_ids$/, /^cls\.predictions\.decoder\.(weight|bias)$/, /^(lm_head|predictions)\.decoder\.weight$/, /^generator_lm_head\.weight$/, /^vocab_projector\.weight$/, /\.decoder\.bias$/, /\.token_type_ids$/];

/** The scopes of HuggingFace's base models inside their models with heads. */
const BASE_PREFIXES = ['bert', 'roberta', 'distilbert', 'albert', 'electra', 'model'];

function candidates(name: string): string[] {
  const legacy = name.replace(/\.LayerNorm\.weight$/, '.LayerNorm.gamma').replace(/\.LayerNorm\.bias$/, '.LayerNorm.beta');
  const names = [name, legacy];
  for (const n of [name, legacy]) {
    const prefix = BASE_PREFIXES.find((p) => n.startsWith(`${p}.`));
    if (prefix) names.push(n.slice(prefix.length + 1));
    else names.push(...BASE_PREFIXES.map((p) => `${p}.${n}`));
  }
  return [...new Set(names)];
}

/** The first element of a tensor that is NaN or infinite, if any: a checkpoint of a run that diverged loads as such, not as garbage. */
function firstNonFinite(data: Float32Array): number {
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i]!)) return i;
  return -1;
}

/** Checks that every value of the tensors is finite, naming the file, tensor and element of the first that is not. */
export function checkFinite(file: string, tensors: Readonly<Record<string, Float32Array>>): void {
  for (const [name, data] of Object.entries(tensors)) {
    const at = firstNonFinite(data);
    if (at >= 0) throw new WeightsError(`${file}: tensor '${name}' holds ${data[at]} at element ${at}; a checkpoint's values must be finite`);
  }
}

/** The checkpoint's tensors for the parameters (`file` names it in errors): shapes must match and values be finite. */
export function matchWeights(params: readonly Pick<ProgramParam, 'name' | 'shape'>[], tensors: ReadonlyMap<string, StoredTensor>, file: string): MatchedWeights {
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
      throw new WeightsError(`${file}: tensor '${found}' has shape [${t.shape.join(',')}], but parameter '${param.name}' is [${param.shape.join(',')}]`);
    }
    if (t.data instanceof Int32Array) throw new WeightsError(`${file}: tensor '${found}' is ${t.dtype}; parameters are floating point`);
    checkFinite(file, { [found]: t.data });
    values[param.name] = t.data;
    used.add(found);
  }
  const unused = [...tensors.keys()].filter((n) => !used.has(n) && !NOT_PARAMETERS.some((re) => re.test(n)));
  return { values, missing, unused };
}
