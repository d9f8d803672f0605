// Loading a spec: read each file, parse it with positions, check it against
// the schema, resolve `extends` (depth first, bases merged in order, the file
// itself on top; a redefined block replaces the inherited one whole), then
// read the merged tree into a Spec.

import { existsSync } from 'node:fs';
import { nearFile, readSpecText } from './files.js';
import { fileURLToPath } from 'node:url';
import { basename, dirname, extname, isAbsolute, join, resolve } from 'node:path';
import { CompileError, DiagnosticBag, type SourceLoc } from './diagnostics.js';
import { configFamily, importHfConfig } from './hf-config.js';
import { printYaml } from '../dsl/print.js';
import { isHfDirectory } from '../../runtime/hf-config.js';
import { checkSchema } from './schema.js';
import { parseDsl } from '../dsl/document.js';
import type { AttrEntry, AttrLiteral, BlockSpec, BodySpec, HeadSpec, InputSpec, Located, ModelSpec, Spec, StepSpec } from './spec.js';
import { mergeNodes, parseYaml, withoutNulls, type LMap, type LNode, type LScalar, type LSeq } from './yaml.js';

export interface LoadedSpec {
  readonly spec: Spec;
  /** Text of every file read, by the path diagnostics use. */
  readonly sources: ReadonlyMap<string, string>;
}

/** A block redefined in an extending file replaces the inherited one; everything else merges key by key. */
const isBlockDefinition = (path: readonly string[]) => path.length === 2 && path[0] === 'blocks';

/**
 * Merges an extending file over its base. Preconditions add up: a file's
 * `requires:` joins its bases' (RoBERTa's position check does not drop
 * BERT's head-size check), where any other list replaces the inherited one.
 */
function mergeSpecs(base: LMap, override: LMap): LMap {
  const merged = mergeNodes(base, override, isBlockDefinition) as LMap;
  const [inherited, own] = [base.entries.get('requires'), override.entries.get('requires')];
  if (inherited?.value.kind !== 'seq' || own?.value.kind !== 'seq') return merged;
  const entries = new Map(merged.entries);
  entries.set('requires', { ...own, value: { ...own.value, items: [...inherited.value.items, ...own.value.items] } });
  return { ...merged, entries };
}

/** The shipped models directory: `extends: tcc:bert.yaml` names a file in it from anywhere. */
export function shippedModelsDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++, dir = dirname(dir)) {
    if (existsSync(join(dir, 'models', 'lib', 'bert.yaml'))) return join(dir, 'models');
  }
  throw new Error('the shipped models directory is missing from this installation');
}

function resolveExtends(from: string, target: string): string {
  if (target.startsWith('tcc:')) return join(shippedModelsDir(), target.slice(4));
  return isAbsolute(target) ? target : join(dirname(from), target);
}

/** Spec files by name: YAML or the DSL. */
const isSpecFileName = (file: string) => /\.(ya?ml|tcc)$/i.test(file);

/** Files in the text DSL end in .tcc; anything else is YAML. */
export const isDslFile = (file: string) => file.endsWith('.tcc');

/** A HuggingFace model directory (config.json inside) stands for the spec imported from it. */
class SpecLoader {
  readonly bag = new DiagnosticBag();
  /** The config keys the top file's bases define. */
  baseConfig: ReadonlySet<string> = new Set();

  /** The family of the first HuggingFace directory loaded (the nearest in the lineage: files load top first). */
  hfFamily: string | undefined;

  /** A directory's spec: the one a checkpoint written by tcc carries, else the one its config.json imports as. */
  private importDirectory(dir: string): { file: string; text: string } {
    const carried = join(dir, CHECKPOINT_SPEC);
    if (existsSync(carried)) {
      this.hfFamily ??= configFamily(dir);
      return { file: carried, text: readSpecText(carried) };
    }
    const imported = importHfConfig(dir);
    this.hfFamily ??= imported.family;
    return { file: dir, text: imported.yaml };
  }

  readonly sources = new Map<string, string>();

  /** Files given as text (an imported HuggingFace config), read before the disk. */
  constructor(private readonly virtual: ReadonlyMap<string, string> = new Map()) {}

  /** Loads a file and its bases; undefined when it could not be read or parsed. */
  loadTree(file: string, from: SourceLoc | undefined, chain: readonly string[]): LMap | undefined {
    const absolute = resolve(file);
    if (chain.includes(absolute)) {
      const cycle = [...chain.slice(chain.indexOf(absolute)), absolute].map((f) => basename(f)).join(' → ');
      this.bag.error(from, `extends cycle: ${cycle}`);
      return undefined;
    }
    // An extends target is a spec file: anything else is refused unread, so no error shows a line of it.
    if (from && !this.virtual.has(file) && !isSpecFileName(file) && !isHfDirectory(file)) {
      this.bag.error(from, `'${file}' is not a spec file (a spec ends in .yaml, .yml or .tcc; a HuggingFace model is a directory with config.json)`);
      return undefined;
    }
    let text: string;
    const directory = !this.virtual.has(file) && isHfDirectory(file);
    try {
      if (directory) ({ file, text } = this.importDirectory(file));
      else text = this.virtual.get(file) ?? readSpecText(file);
    } catch (e) {
      if (e instanceof CompileError) {
        for (const d of e.diagnostics) this.bag.error(d.loc ?? from, d.message);
        for (const [f, t] of e.sources) this.sources.set(f, t);
        return undefined;
      }
      const reason = (e as NodeJS.ErrnoException).code === 'ENOENT' ? `no such file${nearFile(file)}` : (e as Error).message;
      this.bag.error(from, `cannot read '${file}': ${reason}`);
      return undefined;
    }
    this.sources.set(file, text);
    const root = isDslFile(file) ? parseDsl(text, file, this.bag).root : parseYaml(text, file, this.bag);
    if (!root) return undefined;
    if (root.kind !== 'map') {
      this.bag.error(root.loc, 'a spec file must be a YAML mapping');
      return undefined;
    }
    if (!checkSchema(root, this.bag)) return undefined;

    const ext = root.entries.get('extends')?.value;
    const bases = ext === undefined ? [] : ext.kind === 'seq' ? ext.items : [ext];
    let merged: LMap | undefined;
    for (const base of bases as LScalar[]) {
      const tree = this.loadTree(resolveExtends(file, String(base.value)), base.loc, [...chain, absolute]);
      if (!tree) return undefined;
      merged = merged ? mergeSpecs(merged, tree) : tree;
    }
    // The top file's bases define config keys; a key the top file introduces and nothing reads is suspect (a typo).
    // (An imported config.json's keys are HuggingFace's own, which a model may carry unread: pad_token_id; a carried spec's are its bases'.)
    if (!chain.length) {
      const keys = (tree: LMap | undefined) => mapEntries(tree?.entries.get('config')?.value).map(([key]) => key);
      this.baseConfig = new Set([...keys(merged), ...(directory ? keys(root) : [])]);
    }
    const own = new Map(root.entries);
    own.delete('extends');
    // A file is named by its `name:` or, failing that, its file name; a name is not inherited.
    if (!own.has('name')) {
      const name: LScalar = { kind: 'scalar', loc: root.loc, value: basename(file, extname(file)) };
      own.set('name', { keyLoc: root.loc, value: name });
    }
    const self: LMap = { kind: 'map', loc: root.loc, entries: own };
    return merged ? mergeSpecs(merged, self) : (withoutNulls(self) as LMap);
  }
}

// ---- reading the merged tree (the schema has already checked its structure) ----

/** A record keyed by names from the spec: no prototype, so '__proto__' or 'constructor' are names like any other. */
const namedRecord = <T>(): Record<string, T> => Object.create(null) as Record<string, T>;

function mapEntries(node: LNode | undefined): [string, { keyLoc: SourceLoc; value: LNode }][] {
  return node?.kind === 'map' ? [...node.entries] : [];
}

function scalar<T>(node: LNode): Located<T> {
  return { value: (node as LScalar).value as T, loc: node.loc };
}

function scalarList(node: LNode | undefined): Located<string>[] {
  if (!node) return [];
  return node.kind === 'seq' ? node.items.map((n) => scalar<string>(n)) : [scalar<string>(node)];
}

function readAttr(node: LNode): Located<AttrLiteral> {
  if (node.kind === 'seq') return { value: node.items.map((n) => (n as LScalar).value as number | string), loc: node.loc };
  return scalar<AttrLiteral>(node);
}

const STEP_KEYS = new Set(['op', 'in', 'scope', 'outputs']);

function readStep(name: string, node: LMap): StepSpec {
  const attrs: Record<string, AttrEntry> = namedRecord();
  for (const [key, entry] of node.entries) if (!STEP_KEYS.has(key)) attrs[key] = { ...readAttr(entry.value), keyLoc: entry.keyLoc };
  const scope = node.entries.get('scope')?.value;
  return {
    name,
    loc: node.loc,
    op: scalar<string>(node.entries.get('op')!.value),
    inputs: scalarList(node.entries.get('in')?.value),
    ...(scope ? { scope: scalar<string>(scope) } : {}),
    attrs,
  };
}

function readBody(node: LNode | undefined): BodySpec {
  return { steps: mapEntries(node).map(([name, e]) => readStep(name, e.value as LMap)) };
}

function readOutputs(node: LNode | undefined): { name: string; ref: Located<string> }[] {
  return mapEntries(node).map(([name, e]) => ({ name, ref: scalar<string>(e.value) }));
}

function readBlock(name: string, node: LMap): BlockSpec {
  const params: Record<string, Located<number | string | boolean>> = namedRecord();
  for (const [key, e] of mapEntries(node.entries.get('params')?.value)) params[key] = scalar(e.value);
  const config: Record<string, Located<number | string | boolean>> = namedRecord();
  for (const [key, e] of mapEntries(node.entries.get('config')?.value)) config[key] = scalar(e.value);
  return {
    name,
    loc: node.loc,
    inputs: scalarList(node.entries.get('inputs')?.value),
    params,
    config,
    body: readBody(node.entries.get('body')?.value),
    outputs: scalarList(node.entries.get('outputs')?.value),
  };
}

function readSpec(root: LMap): Spec {
  const get = (key: string) => root.entries.get(key)?.value;
  const config: Record<string, Located<number | string | boolean>> = namedRecord();
  for (const [key, e] of mapEntries(get('config'))) config[key] = scalar(e.value);
  const inputs = readInputs(get('inputs'));
  const blocks: Record<string, BlockSpec> = namedRecord();
  for (const [name, e] of mapEntries(get('blocks'))) blocks[name] = readBlock(name, e.value as LMap);
  const modelNode = get('model') as LMap | undefined;
  const model: ModelSpec | undefined = modelNode && {
    loc: modelNode.loc,
    ...(modelNode.entries.get('scope') ? { scope: scalar<string>(modelNode.entries.get('scope')!.value) } : {}),
    body: readBody(modelNode.entries.get('body')?.value),
    outputs: readOutputs(modelNode.entries.get('outputs')?.value),
  };
  const heads: HeadSpec[] = mapEntries(get('heads')).map(([name, e]) => {
    const m = e.value as LMap;
    return { step: readStep(name, m), outputs: readOutputs(m.entries.get('outputs')?.value) };
  });
  const requires = (get('requires')?.kind === 'seq' ? ((get('requires') as LSeq).items as LMap[]) : []).map((m) => ({
    check: scalar<string>(m.entries.get('check')!.value),
    message: String((m.entries.get('message')!.value as LScalar).value),
  }));
  const description = get('description');
  const trainingNode = get('training') as LMap | undefined;
  const trainingPart = (key: string) => trainingNode?.entries.get(key)?.value;
  const optimizer: Record<string, Located<number | string | boolean>> = namedRecord();
  for (const [key, e] of mapEntries(trainingPart('optimizer'))) optimizer[key] = scalar(e.value);
  const training = { inputs: readInputs(trainingPart('inputs')), losses: readBody(trainingPart('losses')), metrics: readBody(trainingPart('metrics')), optimizer };
  return {
    name: String((get('name') as LScalar).value),
    loc: root.loc,
    ...(description ? { description: String((description as LScalar).value) } : {}),
    config,
    inputs,
    blocks,
    ...(model ? { model } : {}),
    heads,
    requires,
    training,
  };
}

function readInputs(node: LNode | undefined): InputSpec[] {
  return mapEntries(node).map(([name, e]) => {
    const m = e.value as LMap;
    return {
      name,
      loc: e.keyLoc,
      dtype: (m.entries.get('dtype')!.value as LScalar).value as 'f32' | 'i32',
      shape: (m.entries.get('shape')!.value as LSeq).items.map((n) => scalar<number | string>(n)),
    };
  });
}

/**
 * The file a checkpoint directory written by tcc carries beside its
 * config.json: the whole spec its weights belong to, every base merged in.
 * Loading the directory loads it, so a model HuggingFace's config cannot
 * describe (pre-LN, ALiBi, blocks of one's own) loads back as it was trained.
 */
export const CHECKPOINT_SPEC = 'tcc.yaml';

/** The spec of `file` and everything it extends as one YAML document, extending nothing (what CHECKPOINT_SPEC holds). */
export function flatSpecText(file: string, virtual?: ReadonlyMap<string, string>): string {
  return printYaml(mergedTree(file, virtual).tree);
}

/** A spec file with its bases merged in, and the loader that read them; CompileError with every problem found. */
function mergedTree(file: string, virtual?: ReadonlyMap<string, string>): { tree: LMap; loader: SpecLoader } {
  const loader = new SpecLoader(virtual);
  const tree = loader.loadTree(file, undefined, []);
  if (!tree || loader.bag.size) throw new CompileError(loader.bag.items, loader.sources);
  return { tree, loader };
}

/** Loads a YAML spec and everything it extends; throws CompileError with every problem found. */
export function loadSpec(file: string, virtual?: ReadonlyMap<string, string>): LoadedSpec {
  const { tree, loader } = mergedTree(file, virtual);
  return { spec: { ...readSpec(tree), baseConfig: [...loader.baseConfig], lineage: [...loader.sources.keys()], ...(loader.hfFamily === undefined ? {} : { hfFamily: loader.hfFamily }) }, sources: loader.sources };
}
