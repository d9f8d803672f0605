// HuggingFace config.json → spec. A model directory (config.json, and beside
// it model.safetensors and its tokenizer) becomes a spec that extends its
// family's shipped spec (hf-families.ts: by model_type, else by class) with
// the config's hyper-parameters and the heads of its architecture; a
// sentence-transformers directory's pooling and normalization become model
// steps. config.json is read with positions (JSON is YAML), so an
// unsupported setting is reported at its line and column.

import { readSpecText } from './files.js';
import { existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { CompileError, DiagnosticBag } from './diagnostics.js';
import { parseJson } from './json.js';
import { toPlain, type LMap, type LNode } from './yaml.js';
import { own } from './spec.js';
import { CONFIG_LIMITS } from './spec-schema.js';
import { ACTIVATIONS, BERT, CARRIED, FAMILIES, familyType, IGNORED, REQUIRED, same } from './hf-families.js';
import { isHfDirectory } from '../../runtime/hf-config.js';

/** The most labels a classifier head may have. */
const MAX_LABELS = [1, 65_536] as const;

/** sentence-transformers' module types, as modules.json names them. */
const MODULES = { transformer: 'sentence_transformers.models.Transformer', pooling: 'sentence_transformers.models.Pooling', normalize: 'sentence_transformers.models.Normalize' };
const POOLING_MODES: Readonly<Record<string, string>> = { pooling_mode_cls_token: 'cls_pooling', pooling_mode_mean_tokens: 'mean_pooling', pooling_mode_max_tokens: 'max_pooling' };
/** Pooling settings tcc does not build: each must be false (or absent). */
const POOLING_REFUSED = ['pooling_mode_mean_sqrt_len_tokens', 'pooling_mode_weightedmean_tokens', 'pooling_mode_lasttoken'];

/** A located JSON file of a model directory, or undefined where the directory has none. */
function readLocated(file: string, bag: DiagnosticBag, sources: Map<string, string>): LNode | undefined {
  if (!existsSync(file)) return undefined;
  const text = readSpecText(file);
  sources.set(file, text);
  return parseJson(text, file, bag);
}

/**
 * A sentence-transformers directory (modules.json: Transformer, Pooling,
 * Normalize) as model steps: the pooling of its 1_Pooling/config.json over
 * the last hidden state and the attention mask, then L2 normalization where
 * the modules have it, as the output `sentence_embedding`. Anything else in
 * the files is refused at its line.
 */
function sentenceEmbedding(dir: string, hidden: unknown, bag: DiagnosticBag, sources: Map<string, string>): object | undefined {
  const modulesFile = join(dir, 'modules.json');
  const modules = readLocated(modulesFile, bag, sources);
  if (!modules) return undefined;
  if (modules.kind !== 'seq') {
    bag.error(modules.loc, 'modules.json must be a list of modules');
    return undefined;
  }
  let pooling: string | undefined;
  let normalize = false;
  for (const item of modules.items) {
    const fields = item.kind === 'map' ? item : undefined;
    const type = fields?.entries.get('type')?.value;
    const path = fields?.entries.get('path')?.value;
    const typeName = type && toPlain(type);
    if (typeName === MODULES.transformer) continue;
    if (typeName === MODULES.normalize) {
      normalize = true;
      continue;
    }
    if (typeName !== MODULES.pooling || !path || typeof toPlain(path) !== 'string') {
      bag.error((type ?? item).loc, `module ${JSON.stringify(typeName ?? null)} is not supported; tcc builds ${Object.values(MODULES).join(', ')}`);
      continue;
    }
    const configFile = join(dir, String(toPlain(path)), 'config.json');
    const config = readLocated(configFile, bag, sources);
    if (!config || config.kind !== 'map') {
      bag.error((config ?? path).loc, `the Pooling module needs ${configFile} (a JSON object)`);
      continue;
    }
    const modes: string[] = [];
    for (const [key, { keyLoc, value }] of config.entries) {
      const v = toPlain(value);
      if (own(POOLING_MODES, key)) {
        if (v === true) modes.push(POOLING_MODES[key]!);
      } else if (POOLING_REFUSED.includes(key)) {
        if (v !== false) bag.error(value.loc, `${key} ${JSON.stringify(v)} is not supported; tcc pools by ${Object.keys(POOLING_MODES).join(', ')}`);
      } else if (key === 'word_embedding_dimension') {
        if (hidden !== undefined && v !== hidden) bag.error(value.loc, `word_embedding_dimension ${JSON.stringify(v)} is not the model's hidden size ${JSON.stringify(hidden)}`);
      } else if (key === 'include_prompt') {
        if (v !== true) bag.error(value.loc, "include_prompt false is not supported (the prompt's tokens are pooled)");
      } else bag.error(keyLoc, `pooling setting '${key}' is not supported`);
    }
    if (modes.length !== 1) bag.error(config.loc, `exactly one pooling mode must be true, got ${modes.length ? modes.join(' and ') : 'none'}`);
    pooling = modes[0];
  }
  if (!pooling) {
    if (!bag.size) bag.error(modules.loc, 'modules.json has no Pooling module');
    return undefined;
  }
  return {
    body: {
      sentence_pooled: { op: pooling, in: ['sequence', 'attention_mask'] },
      sentence_embedding: { op: normalize ? 'l2_normalize' : 'no_normalization', in: 'sentence_pooled' },
    },
    outputs: { sentence_embedding: 'sentence_embedding' },
  };
}

export interface ImportedSpec {
  /** The spec's YAML text. */
  readonly yaml: string;
  readonly architecture: string;
  /** Its family's key in FAMILIES (model_type, or jina_bert by its classes). */
  readonly family: string;
}

/** A model directory's name: its own, or for a snapshot of the HuggingFace cache (models--ORG--NAME/snapshots/COMMIT) the repository's. */
function modelName(dir: string): string {
  const snapshot = /models--([^/\\]+)[/\\]snapshots[/\\][0-9a-f]{40}[/\\]?$/.exec(resolve(dir));
  return snapshot ? snapshot[1]!.replace('--', '/') : basename(resolve(dir));
}

/** DIR/config.json as a JSON object, with its text by path for diagnostics; a CompileError where it cannot be read or is not an object. */
function readConfigJson(dir: string): { root: LMap; sources: Map<string, string>; bag: DiagnosticBag } {
  const file = join(dir, 'config.json');
  const bag = new DiagnosticBag();
  let text: string;
  try {
    text = readSpecText(file);
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    throw new CompileError([{ message: `cannot read '${file}': ${missing ? 'a HuggingFace model directory needs config.json' : (e as Error).message}` }]);
  }
  const sources = new Map([[file, text]]);
  const root = parseJson(text, file, bag);
  if (!root || root.kind !== 'map') {
    if (root) bag.error(root.loc, 'config.json must be a JSON object');
    throw new CompileError(bag.items, sources);
  }
  return { root, sources, bag };
}

/** The family DIR/config.json names (model_type, or JinaBERT by its classes), where tcc has it. */
export function configFamily(dir: string): string | undefined {
  const { root } = readConfigJson(dir);
  const value = (key: string) => {
    const node = root.entries.get(key)?.value;
    return node ? toPlain(node) : undefined;
  };
  const architectures = value('architectures');
  const type = familyType(value('model_type'), Array.isArray(architectures) && typeof architectures[0] === 'string' ? architectures[0] : undefined);
  return typeof type === 'string' && own(FAMILIES, type) ? type : undefined;
}

/** Reads DIR/config.json and writes the equivalent spec; unsupported settings are located diagnostics. */
export function importHfConfig(dir: string): ImportedSpec {
  const { root, sources, bag } = readConfigJson(dir);
  const entry = (key: string): LNode | undefined => root.entries.get(key)?.value;
  const value = (key: string): unknown => {
    const node = entry(key);
    return node ? toPlain(node) : undefined;
  };

  const architectures = value('architectures');
  const named = Array.isArray(architectures) && typeof architectures[0] === 'string' ? architectures[0] : undefined;
  const modelType = familyType(value('model_type'), named);
  const family = typeof modelType === 'string' && own(FAMILIES, modelType) ? FAMILIES[modelType]! : undefined;
  if (!family) bag.error(entry('model_type')!.loc, `model_type '${String(modelType)}' is not supported; tcc imports ${Object.keys(FAMILIES).filter((t) => t !== 'jina_bert').map((t) => `'${t}'`).join(', ')} (and JinaBERT, by its classes)`);
  const arch = named ?? Object.keys(family?.architectures ?? BERT.architectures).find((a) => a.endsWith('Model'))!;
  const id2label = value('id2label');
  const numLabels = typeof value('num_labels') === 'number' ? (value('num_labels') as number) : id2label && typeof id2label === 'object' ? Object.keys(id2label).length : 2;
  const heads = family && own(family.architectures, arch) ? family.architectures[arch]! : undefined;
  if (family && !heads) bag.error(entry('architectures')?.loc, `architecture '${arch}' is not supported for model_type '${String(modelType)}'; supported: ${Object.keys(family.architectures).join(', ')}`);
  const overrides = heads?.(numLabels, value) ?? {};
  // config.json's key for each spec key, and back.
  const keys: Readonly<Record<string, string>> = family?.keys ?? { ...same(CARRIED), hidden_act: 'hidden_act' };
  const hfKey = (specKey: string) => Object.keys(keys).find((k) => keys[k] === specKey) ?? specKey;
  const embedding = sentenceEmbedding(dir, value(hfKey('hidden_size')), bag, sources);
  if (embedding) {
    const model = (overrides as { model?: { body?: object; outputs?: object } }).model ?? {};
    Object.assign(overrides, { model: { ...model, body: { ...model.body, ...(embedding as { body: object }).body }, outputs: { ...model.outputs, ...(embedding as { outputs: object }).outputs } } });
  }
  const required = { ...REQUIRED, ...family?.required };
  const checked = new Set<string>([...Object.keys(keys), 'position_embedding_type', 'id2label', 'num_labels', ...(family?.ignored ?? []), ...(family?.derived ?? [])]);
  for (const [key, { value: node }] of root.entries) {
    if (checked.has(key) || IGNORED.has(key)) continue;
    if (Object.hasOwn(required, key)) {
      const v = toPlain(node);
      if (JSON.stringify(v) !== JSON.stringify(required[key])) bag.error(node.loc, `${key} ${JSON.stringify(v)} is not supported (tcc builds ${JSON.stringify(required[key])})`);
      continue;
    }
    bag.error(root.entries.get(key)!.keyLoc, `config field '${key}' is not supported for model_type '${String(modelType)}'`);
  }
  const position = value('position_embedding_type');
  const positions = family?.positions ?? 'absolute';
  if (position !== undefined && position !== positions) bag.error(entry('position_embedding_type')!.loc, `position_embedding_type '${String(position)}' is not supported (only '${positions}')`);
  const actKey = hfKey('hidden_act');
  const act = value(actKey);
  if (act !== undefined && !(typeof act === 'string' && own(ACTIVATIONS, act))) bag.error(entry(actKey)!.loc, `${actKey} '${String(act)}' is not supported; supported: ${Object.keys(ACTIVATIONS).join(', ')}`);
  // Sizes are checked here, at config.json's lines (the schema would point into the spec written from it).
  // A BERT of HuggingFace's has a token type table, so at least one row (a spec of tcc's may leave it out with 0).
  const sizes: [string, readonly [number, number]][] = [...Object.entries({ ...CONFIG_LIMITS, type_vocab_size: [1, CONFIG_LIMITS.type_vocab_size[1]] as const }), ['num_labels', MAX_LABELS]];
  for (const [specKey, [min, max]] of sizes) {
    const key = hfKey(specKey);
    const v = value(key);
    if (v !== undefined && !(Number.isInteger(v) && (v as number) >= min && (v as number) <= max)) bag.error(entry(key)!.loc, `${key} must be an integer from ${min} to ${max.toLocaleString('en-US')}, got ${JSON.stringify(v)}`);
  }
  if (id2label !== undefined && (typeof id2label !== 'object' || id2label === null || Object.keys(id2label).length > MAX_LABELS[1])) bag.error(entry('id2label')!.loc, `id2label must be an object of at most ${MAX_LABELS[1].toLocaleString('en-US')} labels`);
  if (bag.size) throw new CompileError(bag.items, sources);

  const words = family?.values ?? {};
  for (const [key, table] of Object.entries(words)) {
    const v = value(key);
    if (v !== undefined && !(typeof v === 'string' && Object.hasOwn(table, v))) bag.error(entry(key)!.loc, `${key} ${JSON.stringify(v)} is not supported; supported: ${Object.keys(table).join(', ')}`);
  }
  if (bag.size) throw new CompileError(bag.items, sources);
  const derived = family?.derive?.(entry, (node, message) => bag.error(node.loc, message)) ?? {};
  if (bag.size) throw new CompileError(bag.items, sources);
  const config: Record<string, unknown> = { ...family?.defaults, ...derived };
  for (const [key, specKey] of Object.entries(keys)) {
    const v = value(key);
    if (specKey !== 'hidden_act' && v !== undefined && v !== null) config[specKey] = Object.hasOwn(words, key) ? words[key]![v as string] : v;
  }
  if (typeof act === 'string' && own(ACTIVATIONS, act)) config.hidden_act = ACTIVATIONS[act];
  const spec = { name: modelName(dir), extends: family?.spec ?? BERT.spec, config, ...overrides };
  const yaml = `# Imported from ${join(dir, 'config.json')} (${arch}) by tcc import-hf.\n${stringify(spec, { lineWidth: 0 })}`;
  return { yaml, architecture: arch, family: String(modelType) };
}

/**
 * An error found in the spec written from a config.json (a type the schema
 * refuses, a failed `requires` check) is moved to the config.json line of the
 * key it is about: the user's file, not text they never saw.
 */
export function locateInConfig(e: CompileError): CompileError {
  const sources = new Map(e.sources);
  let moved = false;
  const diagnostics = e.diagnostics.map((d) => {
    const generated = d.loc && e.sources.get(d.loc.file);
    if (!d.loc || generated === undefined || !isHfDirectory(d.loc.file)) return d;
    const file = join(d.loc.file, 'config.json');
    let text: string;
    try {
      text = readSpecText(file);
    } catch {
      return d;
    }
    sources.set(file, text);
    moved = true;
    const key = /^\s*([A-Za-z_]\w*):/.exec(generated.split('\n')[d.loc.line - 1] ?? '')?.[1];
    const root = parseJson(text, file, new DiagnosticBag());
    const entry = key !== undefined && root?.kind === 'map' ? root.entries.get(key) : undefined;
    return { ...d, loc: entry?.value.loc ?? { file, line: 1, col: 1, endLine: 1, endCol: 2 } };
  });
  return moved ? new CompileError(diagnostics, sources) : e;
}
