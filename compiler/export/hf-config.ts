// A model's config.json as HuggingFace writes it for the model's family: the
// family table that imports config.json files (parser/hf-families.ts) read
// backwards. The family is the shipped family spec the model extends; the
// architecture, the family's class for the model's heads. A setting of the
// spec that the family's config.json cannot say (pre-LN on BERT, sinusoidal
// positions) is written under its own name, so that an importer refuses it
// rather than guess.

import { basename, dirname, extname } from 'node:path';
import { ACTIVATIONS, CARRIED, FAMILIES, same, type Family } from '../parser/hf-families.js';
import { loadSpec, shippedModelsDir } from '../parser/load.js';
import type { Spec } from '../parser/spec.js';
import type { Graph } from '../ir/graph.js';

/** The family of a spec: that of the HuggingFace directory it was imported from (XLM-R and RoBERTa share a spec), else of the first shipped family spec in its lineage, else BERT's. */
export function familyOf(spec: Spec): string {
  if (spec.hfFamily !== undefined) return spec.hfFamily;
  const shipped = shippedModelsDir();
  for (const file of spec.lineage ?? []) {
    if (dirname(file) !== shipped) continue;
    const name = basename(file, extname(file));
    const type = Object.keys(FAMILIES).find((t) => FAMILIES[t]!.spec === `tcc:${name}.yaml`);
    if (type) return type;
  }
  return 'bert';
}

/** The family's class for a model with these outputs: the first of the fitting suffixes that the family has. */
export function architectureFor(type: string, outputs: ReadonlyMap<string, number>): string {
  const family = FAMILIES[type]!;
  const prefix = Object.keys(family.architectures).find((a) => a.endsWith('Model'))!.slice(0, -'Model'.length);
  const suffixes =
    outputs.has('discriminator_logits') || (outputs.has('prediction_logits') && outputs.has('seq_relationship_logits')) ? ['ForPreTraining']
    : outputs.has('prediction_logits') ? ['ForMaskedLM', 'ForPreTraining']
    : outputs.has('seq_relationship_logits') ? ['ForNextSentencePrediction']
    : outputs.has('start_logits') ? ['ForQuestionAnswering']
    : outputs.has('logits') ? [outputs.get('logits') === 3 ? 'ForTokenClassification' : 'ForSequenceClassification']
    : ['Model'];
  return prefix + (suffixes.find((s) => Object.hasOwn(family.architectures, prefix + s)) ?? suffixes[0]!);
}

/** The outputs of a spec's heads by name (a sequence classifier's rank for `logits`), for a model not compiled for inference. */
export function headOutputs(spec: Spec): Map<string, number> {
  return new Map(spec.heads.flatMap((h) => h.outputs.map((o) => [o.name, 2] as const)));
}

/** config.json's key for each spec key of a family. */
function keysOf(family: Family): Readonly<Record<string, string>> {
  return family.keys ?? { ...same(CARRIED), hidden_act: 'hidden_act' };
}

const shippedConfigs = new Map<string, Readonly<Record<string, unknown>>>();

/** The config values of a family's shipped spec. */
function familyDefaults(family: Family): Readonly<Record<string, unknown>> {
  let config = shippedConfigs.get(family.spec);
  if (!config) {
    const { spec } = loadSpec(`${shippedModelsDir()}/${family.spec.slice('tcc:'.length)}`);
    config = Object.fromEntries(Object.entries(spec.config).map(([k, v]) => [k, v.value]));
    shippedConfigs.set(family.spec, config);
  }
  return config;
}

/** The word a family's config.json uses for a spec value (activations, gates). */
function wordFor(table: Readonly<Record<string, unknown>>, value: unknown): unknown {
  return Object.keys(table).find((word) => table[word] === value) ?? value;
}

/**
 * The config.json of a spec's model with the given outputs (name → rank):
 * model_type and architectures of its family, every setting under the
 * family's key, the values the family requires, and the spec's settings the
 * family cannot express under their own names.
 */
export function hfConfig(spec: Spec, outputs: ReadonlyMap<string, number>): Record<string, unknown> {
  const type = familyOf(spec);
  const family = FAMILIES[type]!;
  const config = Object.fromEntries(Object.entries(spec.config).map(([k, v]) => [k, v.value]));
  // JinaBERT's config.json says model_type 'bert'; its classes say which it is.
  const out: Record<string, unknown> = { architectures: [architectureFor(type, outputs)], model_type: type === 'jina_bert' ? 'bert' : type };
  const keys = keysOf(family);
  const written = new Set<string>();
  for (const [key, specKey] of Object.entries(keys)) {
    if (config[specKey] === undefined) continue;
    const table = specKey === 'hidden_act' ? ACTIVATIONS : family.values?.[key];
    out[key] = table ? wordFor(table, config[specKey]) : config[specKey];
    written.add(specKey);
  }
  Object.assign(out, family.required);
  if (family.positions) out.position_embedding_type = family.positions;
  // What the family's config.json has no key for must be what its spec builds; anything else goes in as it is.
  const defaults = familyDefaults(family);
  for (const [key, value] of Object.entries(config)) {
    if (written.has(key) || JSON.stringify(value) === JSON.stringify(defaults[key])) continue;
    out[key] = value;
  }
  return out;
}

/** The config.json of a compiled inference graph: its outputs pick the class; a classifier's label count is num_labels. */
export function hfConfigOf(spec: Spec, graph: Graph): Record<string, unknown> {
  const outputs = new Map(graph.outputs.map((o) => [o.name, graph.nodes[o.node]!.type.shape.length]));
  const logits = graph.outputs.find((o) => o.name === 'logits');
  return { ...hfConfig(spec, outputs), ...(logits ? { num_labels: graph.nodes[logits.node]!.type.shape.at(-1) } : {}) };
}
