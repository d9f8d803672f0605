// Spec → a readable PyTorch module (model.py). Each block the model uses
// becomes an nn.Module class whose __init__ creates its parameters where the
// spec's scopes put them (so state dicts carry HuggingFace's names) and whose
// forward is the block's steps, one line each, in dependency order. Sizes stay
// expressions over the config (cfg.hidden_size) and the call (dims.batch), so
// one model.py serves any config.json of the same architecture; the config
// values that chose blocks (norm_placement, hidden_act) are fixed and checked
// when a config is read. A repeated block whose steps follow the index i
// (ModernBERT's layers) becomes one class that takes i: its sizes and
// settings are Python over i, and a block it names by i is chosen in Python
// among those the exported config's indexes name. The losses of the spec's `training:` section become
// the model's `losses` method, which train.py optimizes.

import { parseExpr, type Expr, type ExprValue } from '../parser/expr.js';
import type { AttrLiteral, BlockSpec, Spec, StepSpec } from '../parser/spec.js';
import { evalExpr, interpolate, type Lookup } from '../frontend/attrs.js';
import { MODEL_RUNTIME, TRAIN_SCRIPT } from './torch-runtime.js';
import type { UnaryOpName } from '../ir/ops/elementwise.js';
import { ACTIVATIONS as SPEC_ACTIVATIONS } from '../frontend/spec-ops.js';

/** A spec the export cannot express in PyTorch; the message names the step. */
export class TorchExportError extends Error {
  override name = 'TorchExportError';
}

/** A symbolic size: a Python expression. */
type Dim = string;

/** A value of a forward pass: its Python expression and shape, and a block's further outputs. */
interface Value {
  readonly py: string;
  readonly shape: readonly Dim[];
  readonly outputs?: ReadonlyMap<string, Value>;
}

/** Where names in a step's expressions come from. */
interface Env {
  /** Concrete values (config, block parameters), for what the export fixes: block choices, scopes, names; recorded in STRUCTURE. */
  readonly concrete: Lookup;
  /** The same values, not recorded: a block parameter's value at a call (its class may still use it as a size). */
  readonly plain: Lookup;
  /** Python for a name in a size or attribute; undefined when the name is unknown. */
  readonly symbol: (name: string) => string | undefined;
  /** In a block that a repeat instantiates per index (its steps follow i): the values i takes at the exported config. */
  readonly index?: readonly number[];
}

/** A block parameter at a call: its Python, its value, and whether the value follows the repeat index (then unknown to the class). */
interface ParamValue {
  readonly py: string;
  readonly value: ExprValue;
  readonly varies?: boolean;
}

/** A lookup with the repeat index i at one value. */
const atIndex = (lookup: Lookup, i: number): Lookup => (name) => (name === 'i' ? i : lookup(name));

/** What an interpolated text gives at each value of the repeat index (one value outside a repeated block). */
function eachIndex(textValue: string, env: Env, lookup: Lookup): string[] {
  if (!env.index || !/\{[^{}]*\bi\b[^{}]*\}/.test(textValue)) return [interpolate(textValue, lookup)];
  return [...new Set(env.index.map((i) => interpolate(textValue, atIndex(lookup, i))))];
}

/** An interpolated text as a Python f-string over the repeat index and the config. */
function pyInterpolation(textValue: string, env: Env): string {
  const parts = textValue.split(/\{([^{}]*)\}/);
  return `f${JSON.stringify(parts.map((part, k) => (k % 2 ? `{${pyExpr(parseExpr(part), env, true)}}` : part.replace(/[{}]/g, (c) => c + c))).join(''))}`;
}

const PY_KEYWORDS = new Set(
  'False None True and as assert async await break class continue def del elif else except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield'.split(' '),
);
/** Names the generated functions use for themselves. */
const RESERVED = new Set([
  'self', 'cfg', 'dims', 'torch', 'nn', 'F', 'math', 'dist', 'i', 'outputs', 'attention', 'sinusoidal', 'rotary', 'sliding_window', 'alibi', 'cross_entropy', 'accuracy', 'labelled_mean', 'sample', 'uniform01', 'draws',
  // Attributes of Block and nn.Module that a sub-block's attribute must not replace.
  'root', 'home', 'place', 'create', 'at', 'tensor', 'training', 'forward', 'train', 'eval', 'parameters', 'modules', 'children', 'state_dict', 'to', 'float', 'double', 'half', 'cuda', 'cpu', 'apply', 'zero_grad', 'register_buffer', 'register_parameter', 'add_module', 'init_weights', 'losses',
]);

function pyName(name: string): string {
  const base = name.replace(/[^A-Za-z0-9_]/g, '_').replace(/^(?=\d)/, '_');
  return PY_KEYWORDS.has(base) || RESERVED.has(base) ? `${base}_` : base;
}

function className(name: string): string {
  return name.split(/[^A-Za-z0-9]+/).filter(Boolean).map((w) => w[0]!.toUpperCase() + w.slice(1)).join('') || 'Block';
}

function pyLiteral(v: ExprValue): string {
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'string') return JSON.stringify(v);
  if (Number.isFinite(v)) return String(v);
  return Number.isNaN(v) ? "float('nan')" : v > 0 ? "float('inf')" : "float('-inf')";
}

const PY_FUNCTIONS: Readonly<Record<string, string>> = { sqrt: 'math.sqrt', exp: 'math.exp', log: 'math.log', floor: 'math.floor', ceil: 'math.ceil', abs: 'abs', min: 'min', max: 'max' };
const PY_OPERATORS: Readonly<Record<string, string>> = { '&&': 'and', '||': 'or' };

/** An expression as Python; in integer context `/` is `//` (the spec requires the quotient to be whole). */
function pyExpr(e: Expr, env: Env, integer: boolean): string {
  switch (e.kind) {
    case 'literal':
      return pyLiteral(e.value);
    case 'name': {
      const py = env.symbol(e.name);
      if (py === undefined) throw new TorchExportError(`unknown name '${e.name}'`);
      return py;
    }
    case 'unary':
      return e.op === '!' ? `not ${wrap(e.arg, env, integer)}` : `-${wrap(e.arg, env, integer)}`;
    case 'call':
      return `${PY_FUNCTIONS[e.fn] ?? e.fn}(${e.args.map((a) => pyExpr(a, env, false)).join(', ')})`;
    case 'binary': {
      const op = e.op === '/' && integer ? '//' : PY_OPERATORS[e.op] ?? e.op;
      return `${wrap(e.left, env, integer)} ${op} ${wrap(e.right, env, integer)}`;
    }
  }
}

function wrap(e: Expr, env: Env, integer: boolean): string {
  const py = pyExpr(e, env, integer);
  return e.kind === 'binary' ? `(${py})` : py;
}

/** A numeric attribute as Python: a literal, or its expression over the config and dims. */
function pyNumber(raw: AttrLiteral | undefined, env: Env, integer: boolean, fallback?: number): string {
  if (raw === undefined) {
    if (fallback === undefined) throw new TorchExportError('a required attribute is missing');
    return pyLiteral(fallback);
  }
  if (typeof raw === 'number' || typeof raw === 'boolean') return pyLiteral(raw);
  if (Array.isArray(raw)) throw new TorchExportError('expected a number, got a list');
  return pyExpr(parseExpr(raw as string), env, integer);
}

function pyInts(raw: AttrLiteral | undefined, env: Env): Dim[] {
  if (!Array.isArray(raw)) throw new TorchExportError('expected a list of integers');
  return raw.map((v) => pyNumber(v, env, true));
}

/** A number known when exporting (axes, indices): the concrete value. */
function constant(raw: AttrLiteral | undefined, env: Env, fallback?: number): number {
  if (raw === undefined) {
    if (fallback === undefined) throw new TorchExportError('a required attribute is missing');
    return fallback;
  }
  if (typeof raw === 'number') return raw;
  const v = interpolate(`{${String(raw)}}`, env.concrete);
  return Number(v);
}

function text(raw: AttrLiteral | undefined, env: Env, fallback = ''): string {
  return raw === undefined ? fallback : interpolate(String(raw), env.concrete);
}

function flag(raw: AttrLiteral | undefined, env: Env, fallback: boolean): boolean {
  if (raw === undefined) return fallback;
  if (typeof raw === 'boolean') return raw;
  return interpolate(`{${String(raw)}}`, env.concrete) === 'true';
}

const axisOf = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis);

/** Broadcast of two symbolic shapes, right-aligned; a '1' gives way. */
function broadcast(a: readonly Dim[], b: readonly Dim[]): Dim[] {
  const rank = Math.max(a.length, b.length);
  return Array.from({ length: rank }, (_, k) => {
    const x = a[a.length - rank + k];
    const y = b[b.length - rank + k];
    return x === undefined || x === '1' ? y ?? '1' : x;
  });
}

/** Every unary math op in torch (typed by the op registry's unary ops, so a new one does not compile without its line). */
const UNARY: { readonly [K in UnaryOpName]: (x: string) => string } = {
  neg: (x) => `-${x}`,
  exp: (x) => `torch.exp(${x})`,
  log: (x) => `torch.log(${x})`,
  sqrt: (x) => `torch.sqrt(${x})`,
  rsqrt: (x) => `torch.rsqrt(${x})`,
  tanh: (x) => `torch.tanh(${x})`,
  sigmoid: (x) => `torch.sigmoid(${x})`,
  erf: (x) => `torch.erf(${x})`,
  relu: (x) => `F.relu(${x})`,
  gelu: (x) => `F.gelu(${x})`,
  gelu_tanh: (x) => `F.gelu(${x}, approximate='tanh')`,
  silu: (x) => `F.silu(${x})`,
};

/** The activations `act` names (its fn attribute). */
const ACTIVATIONS: Readonly<Record<string, (x: string) => string>> = Object.fromEntries(Object.entries(SPEC_ACTIVATIONS).map(([name, op]) => [name, UNARY[op]]));

const BINARY: Readonly<Record<string, (a: string, b: string) => string>> = {
  add: (a, b) => `${a} + ${b}`,
  sub: (a, b) => `${a} - ${b}`,
  mul: (a, b) => `${a} * ${b}`,
  div: (a, b) => `${a} / ${b}`,
  maximum: (a, b) => `torch.maximum(${a}, ${b})`,
  minimum: (a, b) => `torch.minimum(${a}, ${b})`,
  gt: (a, b) => `(${a} > ${b}).float()`,
};

/** One generated class: a block at one set of block parameters and input shapes. */
interface ClassDef {
  readonly name: string;
  readonly block: BlockSpec;
  /** Its keyword parameters (the block's, and i where the class follows the repeat index). */
  readonly params: readonly string[];
  readonly init: string[];
  readonly forward: string[];
  outputs: readonly Value[];
  doc: string;
  /** A block with sizes of its own (`config:`): the keys it sets, as Python over its caller's config. */
  readonly derived?: string;
}

/** The code of one body being generated: its __init__ and forward lines. */
interface Body {
  readonly init: string[];
  readonly forward: string[];
  readonly values: Map<string, Value>;
  readonly env: Env;
  /** The class's own block names, to find a block that instantiates itself. */
  readonly blocks: readonly string[];
}

class TorchExporter {
  private readonly classes = new Map<string, ClassDef>();
  private readonly classNames = new Set<string>();
  /** Config values that chose blocks, ops or names: fixed in model.py. */
  readonly structure = new Map<string, ExprValue>();
  private readonly global: Lookup;

  constructor(private readonly spec: Spec) {
    this.global = (name) => spec.config[name]?.value;
  }

  /** A lookup of the config that records what the export fixed. */
  private structural(lookup: Lookup): Lookup {
    return (name) => {
      const v = lookup(name);
      if (v !== undefined && this.spec.config[name] && lookup === this.global) this.structure.set(name, v);
      return v;
    };
  }

  private configSymbol = (name: string): string | undefined => (this.spec.config[name] ? `cfg.${name}` : name === 'batch' || name === 'seq' ? `dims.${name}` : undefined);

  private rootEnv(): Env {
    return { concrete: this.structural(this.global), plain: this.global, symbol: this.configSymbol };
  }

  /** model.py's text. */
  modelPy(header: string): string {
    const spec = this.spec;
    if (!spec.model) throw new TorchExportError(`spec '${spec.name}' has no model`);
    const rootName = this.uniqueClass(className(spec.name));
    const bodyName = this.uniqueClass(`${rootName}Model`);

    // The model body: a block of its own at the model's scope (BertModel).
    const bodyBlock: BlockSpec = {
      name: `${spec.name} model`,
      loc: spec.model.loc,
      inputs: spec.inputs.map((i) => ({ value: i.name, loc: i.loc })),
      params: {},
      config: {},
      body: spec.model.body,
      outputs: spec.model.outputs.map((o) => o.ref),
    };
    const inputs: Value[] = spec.inputs.map((i) => ({ py: pyName(i.name), shape: i.shape.map((d) => pyNumber(d.value, this.rootEnv(), true)) }));
    const body = this.classFor(bodyBlock, bodyName, {}, inputs);
    body.doc = `The model's body${spec.model.scope ? ` (scope '${spec.model.scope.value}')` : ''}: its inputs to its outputs (${spec.model.outputs.map((o) => o.name).join(', ')}).`;

    // The root: the body, then the heads on its outputs.
    const root: Body = { init: [], forward: [], values: new Map(), env: this.rootEnv(), blocks: [] };
    const scope = spec.model.scope ? text(spec.model.scope.value, root.env) : '';
    root.init.push(scope ? `self.place(${JSON.stringify(scope)}, ${bodyName}(cfg, self))` : `self.body = ${bodyName}(cfg, self, home=self)`);
    const modelOut = spec.model.outputs.map((o) => pyName(o.name));
    const bodyCall = `${scope ? `self.at(${JSON.stringify(scope)})` : 'self.body'}(${inputs.map((i) => i.py).join(', ')}, dims)`;
    root.forward.push(modelOut.length === 1 ? `${modelOut[0]} = ${bodyCall}` : `${modelOut.join(', ')} = ${bodyCall}`);
    spec.model.outputs.forEach((o, k) => root.values.set(o.name, { py: modelOut[k]!, shape: body.outputs[k]!.shape }));
    const outputs: [string, string][] = spec.model.outputs.map((o) => [o.name, pyName(o.name)]);
    for (const head of spec.heads) {
      this.step(head.step, root, '');
      const value = root.values.get(head.step.name)!;
      const named = head.outputs.length ? head.outputs : [{ name: head.step.name, ref: { value: head.step.name, loc: head.step.loc } }];
      for (const out of named) {
        const v = out.ref.value === head.step.name ? value : value.outputs?.get(out.ref.value);
        if (!v) throw new TorchExportError(`head '${head.step.name}' has no output '${out.ref.value}'`);
        root.values.set(out.name, v);
        outputs.push([out.name, v.py]);
      }
    }
    const lossesPy = this.losses(root);

    const dims = this.dimsFrom(inputs);
    const signature = spec.inputs.map((i) => (i.name === 'token_type_ids' || i.name === 'attention_mask' ? `${pyName(i.name)}=None` : pyName(i.name))).join(', ');
    const defaults = spec.inputs.flatMap((i) =>
      i.name === 'token_type_ids' ? ['if token_type_ids is None:', '    token_type_ids = torch.zeros_like(input_ids)'] : i.name === 'attention_mask' ? ['if attention_mask is None:', '    attention_mask = torch.ones_like(input_ids)'] : [],
    );
    const rootClass = [
      `class ${rootName}(Model):`,
      `    """${(spec.description ?? spec.name).replace(/"""/g, "'''").trim()}"""`,
      '',
      '    def __init__(self, cfg):',
      '        super().__init__(cfg)',
      ...indent(root.init, 2),
      '',
      `    def forward(self, ${signature}):`,
      `        """The outputs by name, as tcc run names them."""`,
      `        cfg, dims = self.cfg, ${dims}`,
      ...indent(defaults, 2),
      ...indent(root.forward, 2),
      `        return {${outputs.map(([n, py]) => `${JSON.stringify(n)}: ${py}`).join(', ')}}`,
      ...lossesPy,
    ];

    const structure = Object.fromEntries([...this.structure].sort(([a], [b]) => a.localeCompare(b)));
    const config = Object.fromEntries(Object.entries(spec.config).map(([k, v]) => [k, v.value]));
    return [
      header,
      MODEL_RUNTIME,
      '# The config values that chose blocks when this file was exported; read_config refuses others.',
      `STRUCTURE = ${pyDict(structure)}`,
      '# The spec\'s config: what a directory\'s config.json does not set.',
      `EXPORTED_CONFIG = ${pyDict(config)}`,
      '',
      '',
      ...[...this.classes.values()].flatMap((c) => [...this.renderClass(c), '', '']),
      ...rootClass,
      '',
      '',
      `MODEL = ${rootName}`,
      '',
    ].join('\n');
  }

  /** The Dims of a call, from the first input that has each of batch and seq. */
  private dimsFrom(inputs: readonly Value[]): string {
    const find = (dim: string) => {
      for (const input of inputs) {
        const k = input.shape.indexOf(`dims.${dim}`);
        if (k >= 0) return `${input.py}.shape[${k}]`;
      }
      return '1';
    };
    return `Dims(${find('batch')}, ${find('seq')}, ${inputs[0]?.py ?? 'None'}.device)`;
  }

  /** The `losses` method: the training section's steps over the outputs and label inputs. */
  private losses(root: Body): string[] {
    const { training } = this.spec;
    if (!training.losses.steps.length) return [];
    const env = this.rootEnv();
    const labels = training.inputs.map((i) => ({ name: i.name, value: { py: pyName(i.name), shape: i.shape.map((d) => pyNumber(d.value, env, true)) } }));
    // The model's inputs too, for losses that read them (ELECTRA's replaced tokens: where the text differs from the labels).
    const inputs = this.spec.inputs.filter((i) => !training.inputs.some((l) => l.name === i.name)).map((i) => ({ name: i.name, value: { py: pyName(i.name), shape: i.shape.map((d) => pyNumber(d.value, env, true)) } }));
    // Blocks the losses call are built with the model (they have no parameters of their own).
    const body: Body = { init: root.init, forward: [], values: new Map(root.values), env, blocks: [] };
    for (const name of root.values.keys()) body.values.set(name, { ...root.values.get(name)!, py: `outputs[${JSON.stringify(name)}]` });
    for (const l of [...labels, ...inputs]) body.values.set(l.name, l.value);
    const steps = [...training.losses.steps, ...training.metrics.steps];
    for (const step of order(steps)) this.step(step, body, '');
    const loss = training.losses.steps.map((s) => body.values.get(s.name)!.py).join(' + ');
    const results = steps.map((s) => `${JSON.stringify(s.name)}: ${body.values.get(s.name)!.py}`);
    return [
      '',
      `    def losses(self, outputs, ${[...labels.map((l) => l.value.py), ...inputs.map((i) => `${i.value.py}=None`)].join(', ')}):`,
      `        """The spec's training losses, their sum 'loss', and its metrics (the model's inputs for losses that read them)."""`,
      `        cfg, dims = self.cfg, ${this.dimsFrom(labels.map((l) => l.value))}`,
      ...indent(body.forward, 2),
      `        return {'loss': ${loss}, ${results.join(', ')}}`,
    ];
  }

  private uniqueClass(base: string): string {
    let name = base;
    for (let k = 2; this.classNames.has(name); k++) name = `${base}${k}`;
    this.classNames.add(name);
    return name;
  }

  /** The class of a block at these parameters and input shapes, generated on first use. */
  private classFor(block: BlockSpec, name: string | undefined, params: Record<string, ParamValue>, inputs: readonly Value[], index?: readonly number[]): ClassDef {
    const key = JSON.stringify([block.name, Object.entries(params).map(([k, v]) => [k, v.varies ? 'varies' : v.value]), inputs.map((i) => i.shape), index ?? null]);
    const known = this.classes.get(key);
    if (known) return known;
    // A block's own config (a sub-model at other sizes): its keys as values here, and as Python over the caller's cfg.
    const own = Object.entries(block.config);
    const overrides = Object.fromEntries(own.map(([key, entry]) => [key, typeof entry.value === 'string' ? evalExpr(entry.value, this.global) : entry.value]));
    const derived = own.map(([key, entry]) => `${key}=${typeof entry.value === 'string' ? pyExpr(parseExpr(entry.value), { concrete: this.global, plain: this.global, symbol: this.configSymbol }, Number.isInteger(overrides[key])) : pyLiteral(entry.value)}`).join(', ');
    const def: ClassDef = {
      name: name ?? this.uniqueClass(className(block.name)), block, params: [...Object.keys(params), ...(index ? ['i'] : [])], init: [], forward: [], outputs: [], doc: `The spec's block '${block.name}'.`,
      ...(derived ? { derived } : {}),
    };
    // A parameter whose value follows the index is known to the class only as Python (self.theta), not as a value.
    const config = (record: boolean): Lookup => (n) => (Object.hasOwn(overrides, n) ? overrides[n] : record ? this.structural(this.global)(n) : this.global(n));
    const lookup = (record: boolean): Lookup => (n) => (n in params ? (params[n]!.varies ? undefined : params[n]!.value) : config(record)(n));
    const symbol = (n: string) => (n in params ? `self.${pyName(n)}` : n === 'i' ? (index ? `self.${pyName('i')}` : undefined) : this.configSymbol(n));
    const env: Env = { concrete: lookup(true), plain: lookup(false), symbol, ...(index ? { index } : {}) };
    const body: Body = { init: def.init, forward: def.forward, values: new Map(), env, blocks: [block.name] };
    block.inputs.forEach((input, k) => body.values.set(input.value, { py: pyName(input.value), shape: inputs[k]!.shape }));
    for (const step of order(block.body.steps)) this.step(step, body, block.name);
    def.outputs = block.outputs.map((o) => {
      const v = body.values.get(o.value);
      if (!v) throw new TorchExportError(`block '${block.name}' has no value '${o.value}'`);
      return v;
    });
    this.classes.set(key, def);
    return def;
  }

  private renderClass(c: ClassDef): string[] {
    const kw = c.params.map((p) => pyName(p));
    const returns = c.outputs.map((o) => o.py).join(', ');
    return [
      `class ${c.name}(Block):`,
      `    """${c.doc}"""`,
      '',
      `    def __init__(self, cfg, root, home=None${kw.length ? `, *, ${kw.join(', ')}` : ''}):`,
      ...(c.derived ? [`        cfg = cfg.derive(${c.derived})`] : []),
      '        super().__init__(cfg, root, home)',
      ...kw.map((p) => `        self.${p} = ${p}`),
      ...indent(c.init, 2),
      '',
      `    def forward(self, ${c.block.inputs.map((i) => pyName(i.value)).join(', ')}, dims):`,
      '        cfg = self.cfg',
      ...indent(c.forward, 2),
      `        return ${returns}`,
    ];
  }

  /** One step: its __init__ lines (parameters, sub-blocks) and its forward line. */
  private step(step: StepSpec, body: Body, where: string): void {
    try {
      this.emit(step, body);
    } catch (e) {
      if (e instanceof TorchExportError && !e.message.startsWith('step ')) {
        throw new TorchExportError(`step '${step.name}'${where ? ` of block '${where}'` : ''}: ${e.message}`);
      }
      throw e;
    }
  }

  private emit(step: StepSpec, body: Body): void {
    const { env } = body;
    const args = step.inputs.map((ref) => {
      const v = body.values.get(ref.value) ?? (ref.value.includes('.') ? body.values.get(ref.value.split('.')[0]!)?.outputs?.get(ref.value.split('.').slice(1).join('.')) : undefined);
      if (!v) throw new TorchExportError(`unknown value '${ref.value}'`);
      return v;
    });
    const ops = eachIndex(step.op.value, env, env.concrete);
    const op = ops[0]!;
    const name = pyName(step.name);
    const scope = step.scope ? this.scopePath(step.scope.value, env) : undefined;
    const a = step.attrs;
    const raw = (k: string) => a[k]?.value;
    const set = (py: string, shape: readonly Dim[], outputs?: ReadonlyMap<string, Value>) => {
      body.forward.push(`${name} = ${py}`);
      body.values.set(step.name, { py: name, shape, ...(outputs ? { outputs } : {}) });
    };
    const [x, y] = args;
    const path = (module: string) => pyPath(scope, module);

    if (ops.length > 1) return this.chooseBlock(step, ops, args, body, scope);
    if (op === 'repeat') return this.repeat(step, args, body, scope);
    const block = this.spec.blocks[op];
    if (block) {
      if (body.blocks.includes(block.name)) throw new TorchExportError(`block '${block.name}' instantiates itself`);
      const params = this.blockParams(block, step, env);
      const def = this.classFor(block, undefined, params, args);
      const ctor = `${def.name}(cfg, self.root${scope === undefined ? ', home=self.home' : ''}${def.params.map((p) => `, ${pyName(p)}=${params[p]!.py}`).join('')})`;
      const call = `(${args.map((v) => v.py).join(', ')}, dims)`;
      if (scope === undefined) {
        body.init.push(`self.${name} = ${ctor}`);
        this.callBlock(def, `self.${name}${call}`, step, body);
      } else {
        body.init.push(`self.place(${scope}, ${ctor})`);
        this.callBlock(def, `self.at(${scope})${call}`, step, body);
      }
      return;
    }
    switch (op) {
      case 'linear': {
        const n = text(raw('name'), env);
        if (y) return set(`F.linear(${x!.py}, ${y.py}${args[2] ? `, ${args[2].py}` : ''})`, [...x!.shape.slice(0, -1), y.shape[0]!]);
        const out = pyNumber(raw('out'), env, true);
        const bias = flag(raw('bias'), env, true);
        const width = last(x!);
        if (!n) {
          body.init.push(`self.create(${path('weight')}, [${out}, ${width}], 'normal')`);
          if (bias) body.init.push(`self.create(${path('bias')}, [${out}], 'zeros')`);
          return set(`F.linear(${x!.py}, self.tensor(${path('weight')})${bias ? `, self.tensor(${path('bias')})` : ''})`, [...x!.shape.slice(0, -1), out]);
        }
        body.init.push(`self.place(${path(n)}, linear(${width}, ${out}${bias ? '' : ', bias=False'}))`);
        return set(`self.at(${path(n)})(${x!.py})`, [...x!.shape.slice(0, -1), out]);
      }
      case 'layer_norm': {
        const eps = pyNumber(raw('eps'), env, false, 1e-12);
        if (y) return set(`F.layer_norm(${x!.py}, (${last(x!)},), ${y.py}, ${args[2]!.py}, ${eps})`, x!.shape);
        const n = text(raw('name'), env);
        const bias = flag(raw('bias'), env, true);
        if (!n) {
          body.init.push(`self.create(${path('weight')}, [${last(x!)}], 'ones')`, ...(bias ? [`self.create(${path('bias')}, [${last(x!)}], 'zeros')`] : []));
          return set(`F.layer_norm(${x!.py}, (${last(x!)},), self.tensor(${path('weight')}), ${bias ? `self.tensor(${path('bias')})` : 'None'}, ${eps})`, x!.shape);
        }
        body.init.push(`self.place(${path(n)}, layer_norm(${last(x!)}, ${eps}${bias ? '' : ', bias=False'}))`);
        return set(`self.at(${path(n)})(${x!.py})`, x!.shape);
      }
      case 'embedding': {
        const n = text(raw('name'), env);
        const [rows, dim] = [pyNumber(raw('rows'), env, true), pyNumber(raw('dim'), env, true)];
        if (!n) {
          body.init.push(`self.create(${path('weight')}, [${rows}, ${dim}], 'normal')`);
          return set(`F.embedding(${x!.py}, self.tensor(${path('weight')}))`, [...x!.shape, dim]);
        }
        body.init.push(`self.place(${path(n)}, embedding(${rows}, ${dim}))`);
        return set(`self.at(${path(n)})(${x!.py})`, [...x!.shape, dim]);
      }
      case 'param': {
        const shape = pyInts(raw('shape'), env);
        const p = path(text(raw('name'), env));
        body.init.push(`self.create(${p}, [${shape.join(', ')}], ${JSON.stringify(text(raw('init'), env, 'normal'))})`);
        return set(`self.tensor(${p})`, shape);
      }
      case 'act': {
        const fn = text(raw('fn'), env);
        if (!ACTIVATIONS[fn]) throw new TorchExportError(`unknown activation '${fn}'`);
        return set(ACTIVATIONS[fn]!(x!.py), x!.shape);
      }
      case 'dropout':
        return set(`F.dropout(${x!.py}, ${pyNumber(raw('rate'), env, false)}, self.training)`, x!.shape);
      case 'affine': {
        const [scale, shift] = [pyNumber(raw('scale'), env, false, 1), pyNumber(raw('shift'), env, false, 0)];
        const atomic = (py: string) => (/^-?[\w.]+(e[+-]?\d+)?$/.test(py) ? py : `(${py})`);
        const scaled = scale === '1' ? x!.py : `${x!.py} * ${atomic(scale)}`;
        return set(shift === '0' ? scaled : `${scaled} + ${shift}`, x!.shape);
      }
      case 'cast':
        return set(text(raw('to'), env) === 'f32' ? `${x!.py}.float()` : `${x!.py}.long()`, x!.shape);
      case 'reshape': {
        const shape = pyInts(raw('shape'), env);
        return set(`${x!.py}.reshape(${shape.join(', ')})`, shape);
      }
      case 'transpose': {
        const perm = (raw('perm') as number[]).map((p) => constant(p, env));
        return set(`${x!.py}.permute(${perm.join(', ')})`, perm.map((p) => x!.shape[p]!));
      }
      case 'slice': {
        const axis = axisOf(constant(raw('axis'), env), x!.shape.length);
        const [start, end] = [pyNumber(raw('start'), env, true), pyNumber(raw('end'), env, true)];
        const shape = [...x!.shape];
        shape[axis] = `${end} - ${start}`;
        return set(`${x!.py}.narrow(${axis}, ${start}, ${end} - ${start})`, shape);
      }
      case 'select': {
        const axis = axisOf(constant(raw('axis'), env), x!.shape.length);
        return set(`${x!.py}.select(${axis}, ${pyNumber(raw('index'), env, true)})`, x!.shape.filter((_, k) => k !== axis));
      }
      case 'concat': {
        const axis = axisOf(constant(raw('axis'), env), x!.shape.length);
        const shape = [...x!.shape];
        shape[axis] = args.map((v) => v.shape[axis]).join(' + ');
        return set(`torch.cat([${args.map((v) => v.py).join(', ')}], dim=${axis})`, shape);
      }
      case 'gather':
        return set(`${x!.py}[${y!.py}]`, [...y!.shape, ...x!.shape.slice(1)]);
      case 'sum':
      case 'mean':
      case 'max': {
        const axes = (raw('axes') as number[]).map((v) => axisOf(constant(v, env), x!.shape.length));
        const keep = flag(raw('keepdims'), env, false);
        const fn = op === 'max' ? 'amax' : op;
        const shape = keep ? x!.shape.map((d, k) => (axes.includes(k) ? '1' : d)) : x!.shape.filter((_, k) => !axes.includes(k));
        return set(`${x!.py}.${fn}(dim=(${axes.join(', ')},)${keep ? ', keepdim=True' : ''})`, shape);
      }
      case 'softmax':
      case 'log_softmax':
        return set(`torch.${op}(${x!.py}, dim=${constant(raw('axis'), env, -1)})`, x!.shape);
      case 'matmul': {
        const ta = flag(raw('transpose_a'), env, false);
        const tb = flag(raw('transpose_b'), env, false);
        const m = ta ? last(x!) : x!.shape[x!.shape.length - 2]!;
        const n = tb ? y!.shape[y!.shape.length - 2]! : last(y!);
        const batch = broadcast(x!.shape.slice(0, -2), y!.shape.slice(0, -2));
        return set(`${x!.py}${ta ? '.transpose(-1, -2)' : ''} @ ${y!.py}${tb ? '.transpose(-1, -2)' : ''}`, [...batch, m, n]);
      }
      case 'attention':
        return set(`attention(${args.map((v) => v.py).join(', ')}, ${pyNumber(raw('scale'), env, false, 1)}, ${pyNumber(raw('rate'), env, false, 0)}, self.training)`, [...x!.shape.slice(0, -1), last(args[2]!)]);
      case 'range':
        return set(`torch.arange(${pyNumber(raw('size'), env, true)}, device=dims.device)`, [pyNumber(raw('size'), env, true)]);
      case 'alibi': {
        const [heads, queries, keys] = [pyNumber(raw('heads'), env, true), pyNumber(raw('queries'), env, true), pyNumber(raw('keys'), env, true)];
        return set(`alibi(${heads}, ${queries}, ${keys}, dims.device)`, [heads, queries, keys]);
      }
      case 'sliding_window': {
        const [queries, keys] = [pyNumber(raw('queries'), env, true), pyNumber(raw('keys'), env, true)];
        return set(`sliding_window(${queries}, ${keys}, ${pyNumber(raw('window'), env, true)}, dims.device)`, [queries, keys]);
      }
      case 'rotary':
        return set(`rotary(${x!.py}, ${pyNumber(raw('base'), env, false)}, ${pyNumber(raw('dims'), env, true)}${flag(raw('inverse'), env, false) ? ', inverse=True' : ''})`, x!.shape);
      case 'sample':
        return set(`sample(${x!.py}, ${constant(raw('stream'), env, 0)}, self.training, self.root.draws)`, x!.shape.slice(0, -1));
      case 'padded_positions': {
        // As HuggingFace's create_position_ids_from_input_ids.
        const pad = pyNumber(raw('padding_idx'), env, true);
        return set(`(torch.cumsum(${x!.py}.ne(${pad}).int(), dim=1) * ${x!.py}.ne(${pad}).int() + ${pad}).long()`, x!.shape);
      }
      case 'sinusoidal': {
        const [length, dim] = [pyNumber(raw('length'), env, true), pyNumber(raw('dim'), env, true)];
        return set(`sinusoidal(${length}, ${dim}, dims.device)`, [length, dim]);
      }
      case 'fill': {
        const shape = pyInts(raw('shape'), env);
        const dtype = text(raw('dtype'), env) === 'i32' ? 'torch.long' : 'torch.float32';
        return set(`torch.full((${shape.length ? `${shape.join(', ')},` : ''}), ${pyNumber(raw('value'), env, false)}, dtype=${dtype}, device=dims.device)`, shape);
      }
      case 'broadcast': {
        const shape = pyInts(raw('shape'), env);
        return set(`${x!.py}.expand(${shape.join(', ')})`, shape);
      }
      case 'pad': {
        const axis = axisOf(constant(raw('axis'), env), x!.shape.length);
        const [before, after] = [pyNumber(raw('before'), env, true, 0), pyNumber(raw('after'), env, true, 0)];
        const pads = Array.from({ length: x!.shape.length - axis }, (_, k) => (k === x!.shape.length - axis - 1 ? [before, after] : ['0', '0'])).flat();
        const shape = [...x!.shape];
        shape[axis] = `${shape[axis]} + ${before} + ${after}`;
        return set(`F.pad(${x!.py}, [${pads.join(', ')}])`, shape);
      }
      case 'cross_entropy':
      case 'accuracy':
        return set(`${op}(${x!.py}, ${y!.py}, ${pyNumber(raw('ignore_index'), env, true, -100)})`, []);
    }
    if (Object.hasOwn(UNARY, op)) return set(UNARY[op as UnaryOpName](x!.py), x!.shape);
    if (BINARY[op]) return set(BINARY[op]!(x!.py, y!.py), broadcast(x!.shape, y!.shape));
    throw new TorchExportError(`op '${op}' has no PyTorch form (it belongs to tcc's training internals)`);
  }

  /** A block call's forward line; a block of several outputs gives a tuple, read by index. */
  private callBlock(def: ClassDef, call: string, step: StepSpec, body: Body): void {
    const name = pyName(step.name);
    body.forward.push(`${name} = ${call}`);
    const single = def.outputs.length === 1;
    const outputs = new Map(def.block.outputs.map((o, k) => [o.value, { py: single ? name : `${name}[${k}]`, shape: def.outputs[k]!.shape }]));
    body.values.set(step.name, { ...outputs.get(def.block.outputs[0]!.value)!, outputs });
  }

  /** `repeat`: the block at each index's scope (a scope without {i} is one module, shared). */
  private repeat(step: StepSpec, args: readonly Value[], body: Body, scope: string | undefined): void {
    const { block: blockAttr, count, ...rest } = step.attrs;
    if (!blockAttr || !count) throw new TorchExportError("repeat needs 'block' and 'count'");
    const block = this.spec.blocks[text(blockAttr.value, body.env)];
    if (!block) throw new TorchExportError(`unknown block '${String(blockAttr.value)}'`);
    const params = this.blockParams(block, { ...step, attrs: rest }, body.env);
    // Steps that follow the index (ModernBERT's local and global layers): the class takes i, and its choices of
    // blocks are made in Python from i and the config, among those the exported config's indexes use.
    const indexes = followsIndex(block) ? Array.from({ length: Number(interpolate(`{${String(count.value)}}`, body.env.plain)) }, (_, i) => i) : undefined;
    const def = this.classFor(block, undefined, params, args, indexes);
    if (def.outputs.length !== 1) throw new TorchExportError(`repeat of block '${block.name}', which has several outputs, has no PyTorch form here`);
    const n = pyNumber(count.value, body.env, true);
    const kwargs = def.params.map((p) => `, ${pyName(p)}=${p === 'i' && !(p in params) ? 'i' : params[p]!.py}`).join('');
    const name = pyName(step.name);
    const rest_ = args.slice(1).map((v) => `, ${v.py}`).join('');
    if (scope === undefined) {
      body.init.push(`self.${name} = ${def.name}(cfg, self.root, home=self.home${kwargs})`);
      body.forward.push(`${name} = ${args[0]!.py}`, `for i in range(${n}):`, `    ${name} = self.${name}(${name}${rest_}, dims)`);
    } else {
      body.init.push(`for i in range(${n}):`, `    self.place(${scope}, ${def.name}(cfg, self.root${kwargs}))`);
      body.forward.push(`${name} = ${args[0]!.py}`, `for i in range(${n}):`, `    ${name} = self.at(${scope})(${name}${rest_}, dims)`);
    }
    body.values.set(step.name, { py: name, shape: def.outputs[0]!.shape });
  }

  /** A block call's parameters: Python in the caller's terms, and their concrete values. */
  private blockParams(block: BlockSpec, step: StepSpec, env: Env): Record<string, ParamValue> {
    const out: Record<string, ParamValue> = {};
    for (const [key, declared] of Object.entries(block.params)) {
      const given = step.attrs[key]?.value ?? declared.value;
      if (Array.isArray(given)) throw new TorchExportError(`parameter '${key}' of block '${block.name}' is a list`);
      const values = typeof given === 'string' ? eachIndex(`{${given}}`, env, env.plain) : [given];
      const kind = typeof declared.value;
      const concrete = (value: unknown): ExprValue => (kind === 'number' ? Number(value) : kind === 'boolean' ? value === true || value === 'true' : String(value));
      const concreteValue = concrete(values[0]);
      const varies = values.length > 1;
      if (varies && kind === 'string') throw new TorchExportError(`parameter '${key}' of block '${block.name}' names different things at different indexes`);
      const integer = kind === 'number' && values.every((v) => Number.isInteger(concrete(v)));
      out[key] = { py: typeof given === 'string' && kind !== 'string' ? pyExpr(parseExpr(given), env, integer) : pyLiteral(concreteValue), value: concreteValue, ...(varies ? { varies } : {}) };
    }
    for (const key of Object.keys(step.attrs)) if (!(key in block.params)) throw new TorchExportError(`unknown parameter '${key}' for block '${block.name}'`);
    return out;
  }

  /**
   * A block call whose block follows the repeat index ('modernbert_attn_norm_{min(i, 1)}'): a class per block
   * the exported config's indexes name, chosen in Python by the name the index gives.
   */
  private chooseBlock(step: StepSpec, ops: readonly string[], args: readonly Value[], body: Body, scope: string | undefined): void {
    const defs = ops.map((op) => {
      const block = this.spec.blocks[op];
      if (!block) throw new TorchExportError(`op '${step.op.value}' is '${op}' at some indexes, not a block: only a block may follow the index`);
      if (body.blocks.includes(block.name)) throw new TorchExportError(`block '${block.name}' instantiates itself`);
      const params = this.blockParams(block, step, body.env);
      return { op, params, def: this.classFor(block, undefined, params, args) };
    });
    const [first] = defs;
    const same = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, k) => x === b[k]);
    for (const d of defs) {
      if (!same(d.def.params, first!.def.params)) throw new TorchExportError(`blocks ${ops.map((o) => `'${o}'`).join(', ')} take different parameters`);
      if (d.def.outputs.length !== first!.def.outputs.length || d.def.outputs.some((o, k) => !same(o.shape, first!.def.outputs[k]!.shape))) throw new TorchExportError(`blocks ${ops.map((o) => `'${o}'`).join(', ')} give outputs of different shapes`);
    }
    const classes = `{${defs.map((d) => `${JSON.stringify(d.op)}: ${d.def.name}`).join(', ')}}`;
    const kwargs = first!.def.params.map((p) => `, ${pyName(p)}=${first!.params[p]!.py}`).join('');
    const ctor = `self.choose(${classes}, ${pyInterpolation(step.op.value, body.env)})(cfg, self.root${scope === undefined ? ', home=self.home' : ''}${kwargs})`;
    const name = pyName(step.name);
    const call = `(${args.map((v) => v.py).join(', ')}, dims)`;
    if (scope === undefined) {
      body.init.push(`self.${name} = ${ctor}`);
      this.callBlock(first!.def, `self.${name}${call}`, step, body);
    } else {
      body.init.push(`self.place(${scope}, ${ctor})`);
      this.callBlock(first!.def, `self.at(${scope})${call}`, step, body);
    }
  }

  /** A scope as a Python string: a literal, or an f-string over the repeat index. */
  private scopePath(scope: string, env: Env): string {
    const parts = scope.split(/(\{[^{}]*\})/);
    let dynamic = false;
    const rendered = parts.map((part) => {
      if (part === '{i}') {
        dynamic = true;
        return '{i}';
      }
      return part.startsWith('{') ? interpolate(part, env.concrete) : part;
    });
    const path = rendered.join('').split('.').filter(Boolean).join('.');
    return dynamic ? `f${JSON.stringify(path)}` : JSON.stringify(path);
  }
}

/** Whether a block's steps name the repeat index i (in an op, an attribute or a scope). */
function followsIndex(block: BlockSpec): boolean {
  const names = (text: string) => /\bi\b/.test(text.replace(/'[^']*'|"[^"]*"/g, ''));
  return block.body.steps.some((s) => names(s.op.value) || (s.scope !== undefined && names(s.scope.value)) || Object.values(s.attrs).some((a) => typeof a.value === 'string' && names(a.value)));
}

/** A step's module path under its scope ('' for the scope itself); absolute names keep their '/'. */
function pyPath(scope: string | undefined, module: string): string {
  if (module.startsWith('/') || scope === undefined) return JSON.stringify(module);
  const inner = scope.slice(scope.startsWith('f') ? 2 : 1, -1);
  return `${scope.startsWith('f') ? 'f' : ''}${JSON.stringify(inner ? `${inner}.${module}` : module)}`;
}

function last(v: Value): Dim {
  const d = v.shape[v.shape.length - 1];
  if (d === undefined) throw new TorchExportError('a scalar has no last axis');
  return d;
}

/** Steps in dependency order (the frontend has already refused cycles). */
function order(steps: readonly StepSpec[]): StepSpec[] {
  const byName = new Map(steps.map((s) => [s.name, s]));
  const done = new Set<string>();
  const out: StepSpec[] = [];
  const visit = (s: StepSpec) => {
    if (done.has(s.name)) return;
    done.add(s.name);
    for (const ref of s.inputs) {
      const dep = byName.get(ref.value.split('.')[0]!);
      if (dep) visit(dep);
    }
    out.push(s);
  };
  steps.forEach(visit);
  return out;
}

function indent(lines: readonly string[], levels: number): string[] {
  return lines.map((l) => ' '.repeat(4 * levels) + l);
}

function pyDict(values: Readonly<Record<string, ExprValue>>): string {
  const entries = Object.entries(values).map(([k, v]) => `${JSON.stringify(k)}: ${pyLiteral(v)}`);
  return entries.length ? `{\n${entries.map((e) => `    ${e},`).join('\n')}\n}` : '{}';
}

export interface TorchFiles {
  readonly 'model.py': string;
  readonly 'train.py': string;
}

/** model.py and train.py for a spec (with its config as the spec has it, overrides applied). */
export function exportTorch(spec: Spec, source: string, version: string): TorchFiles {
  const header = `"""${spec.name}${spec.description ? `: ${spec.description.trim().replace(/"""/g, "'''")}` : ''}

Exported by tcc ${version} from ${source}: one nn.Module per block of the spec,
parameters named as HuggingFace names them, so load_state_dict takes tcc's
safetensors and HuggingFace's alike.

    model = MODEL.from_pretrained(DIR)  # DIR/config.json, DIR/model.safetensors
    outputs = model(input_ids, token_type_ids, attention_mask)  # a dict, named as tcc run names them
"""`;
  return { 'model.py': new TorchExporter(spec).modelPy(header), 'train.py': TRAIN_SCRIPT };
}
