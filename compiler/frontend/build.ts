// The frontend: Spec → Graph. It binds the symbolic dims, checks `requires`,
// declares the inputs, then builds the model body and the heads. A body is a
// mapping of named steps; steps are ordered by their data dependencies (a
// cycle is an error), and each step is an IR op, a spec-level op, a block
// instantiation, or a `repeat` of a block. Blocks take a name scope, which is
// how parameters get their HuggingFace names:
//
//   model scope "bert" → step scope "encoder.layer.{i}" → block step scope
//   "attention.self" → linear name "query" → bert.encoder.layer.3.attention.self.query.weight
//
// Errors never stop the walk early: a failed step poisons only the values
// that depend on it, so one run reports every independent problem.

import { ConflictError, GraphBuilder, type Graph, type Mode } from '../ir/graph.js';
import { formatType, ShapeError } from '../ir/types.js';
import { CompileError, didYouMean, DiagnosticBag, type Note, type SourceLoc } from '../parser/diagnostics.js';
import { exprNames, parseExpr, type ExprValue } from '../parser/expr.js';
import { own, type BlockSpec, type Located, type Spec, type StepSpec } from '../parser/spec.js';
import { evalAttr, evalExpr, interpolate, SpecValueError, type Lookup } from './attrs.js';
import { SPEC_OPS, type StepContext } from './spec-ops.js';

export interface BuildOptions {
  readonly batch: number;
  readonly seq: number;
  readonly mode: Mode;
  /**
   * The sequence length the spec's `requires` see, where it is not `seq`: a
   * padding-free stream of `seq` tokens holds sequences of at most this many
   * (max_position_embeddings bounds a sequence, not the stream).
   */
  readonly longest?: number;
}

interface Frame {
  readonly lookup: Lookup;
  /** The config as this frame sees it: the model's, under the config: of the blocks it is inside. */
  readonly config: Lookup;
  readonly scope: readonly string[];
  /** Where node labels start: the scope, or the calling steps' names inside unscoped blocks. */
  readonly labels: readonly string[];
  /** Block instantiation sites, innermost first, for notes on errors inside blocks. */
  readonly calls: readonly Note[];
  /** Blocks being instantiated, to find recursion. */
  readonly blocks: readonly string[];
}

interface BodyResult {
  readonly values: Map<string, number>;
  readonly failed: Set<string>;
}

/** A failure already reported; the step's values are poisoned. */
class Reported extends Error {}

class Frontend {
  readonly bag = new DiagnosticBag();
  readonly graph: GraphBuilder;
  private streams = 0;
  private readonly global: Lookup;
  /** The config names the model read: a key set but never read is a typo or a setting this model lacks. */
  private readonly read = new Set<string>();

  constructor(
    private readonly spec: Spec,
    private readonly options: BuildOptions,
  ) {
    this.graph = new GraphBuilder(spec.name, options.mode, { batch: options.batch, seq: options.seq });
    const dims: Record<string, number> = { batch: options.batch, seq: options.seq };
    this.global = (name) => {
      this.read.add(name);
      return own(spec.config, name)?.value ?? own(dims, name);
    };
  }

  /**
   * Config keys the spec's own file introduces (its bases do not define
   * them) and no part of the model reads: each an error with the nearest key
   * it did read (a typo such as 'hiden_size' would otherwise compile the
   * unchanged model).
   */
  checkConfigUsed(): void {
    this.read.add('initializer_range');
    const bases = new Set(this.spec.baseConfig ?? []);
    const read = [...this.read].filter((name) => own(this.spec.config, name));
    for (const [key, entry] of Object.entries(this.spec.config)) {
      if (this.read.has(key) || bases.has(key)) continue;
      const near = didYouMean(key, read);
      this.bag.error(entry.loc, `config key '${key}' is not used by this model${near || ` (its keys: ${read.slice(0, 12).join(', ')}${read.length > 12 ? ', …' : ''})`}`);
    }
  }

  run(): Graph {
    const { spec } = this;
    if (!this.checkRequires()) return this.graph.build();
    const inputs = this.declareInputs(spec.inputs);
    if (!spec.model) {
      this.bag.error(spec.loc, `spec '${spec.name}' has no model: define 'model:' or extend a model such as bert.yaml`);
      return this.graph.build();
    }
    const root: Frame = { lookup: this.global, config: this.global, scope: [], labels: [], calls: [], blocks: [] };
    const modelScope = spec.model.scope ? this.scopeParts(spec.model.scope, root) : [];
    const body = this.buildBody(spec.model.body.steps, { ...root, scope: modelScope, labels: modelScope }, inputs);
    for (const out of spec.model.outputs) {
      const id = this.resolve(out.ref, body, root);
      if (id !== undefined) this.setOutput(out.name, id, out.ref.loc);
      else if (!body.failed.has(out.ref.value)) this.bag.error(out.ref.loc, `unknown value '${out.ref.value}'${didYouMean(out.ref.value, body.values.keys())}`);
    }
    // Heads see the model's values under their own names and its outputs' names.
    for (const out of spec.model.outputs) {
      const id = body.values.get(out.ref.value);
      if (id !== undefined) body.values.set(out.name, id);
      else if (body.failed.has(out.ref.value)) body.failed.add(out.name);
    }
    for (const head of spec.heads) {
      this.executeStep(head.step, root, body);
      const outputs = head.outputs.length ? head.outputs : [{ name: head.step.name, ref: { value: head.step.name, loc: head.step.loc } }];
      for (const out of outputs) {
        const ref = out.ref.value === head.step.name ? out.ref.value : `${head.step.name}.${out.ref.value}`;
        const id = body.values.get(ref);
        if (id !== undefined) this.setOutput(out.name, id, out.ref.loc);
        else if (!body.failed.has(head.step.name)) this.bag.error(out.ref.loc, `head '${head.step.name}' has no output '${out.ref.value}'`);
        if (id !== undefined) body.values.set(out.name, id);
      }
    }
    if (this.options.mode === 'train') this.buildTraining(body, root);
    return this.graph.build();
  }

  /**
   * Training graphs add the label inputs, the losses (each an output, and
   * their sum the output `loss`) and the metrics, over the model's and the
   * heads' values. Gradients are the autodiff pass's business.
   */
  private buildTraining(body: BodyResult, root: Frame): void {
    const { training } = this.spec;
    if (!training.losses.steps.length) {
      this.bag.error(this.spec.loc, `spec '${this.spec.name}' has no training losses: a training graph needs 'training: losses:'`);
      return;
    }
    for (const [name, id] of this.declareInputs(training.inputs)) body.values.set(name, id);
    const losses = this.buildBody(training.losses.steps, root, body.values);
    const metrics = this.buildBody(training.metrics.steps, root, losses.values);
    let total: number | undefined;
    for (const step of training.losses.steps) {
      const id = losses.values.get(step.name);
      if (id === undefined) continue;
      if (this.graph.node(id).type.shape.length !== 0) {
        this.bag.error(step.loc, `loss '${step.name}' must be a scalar, got ${formatType(this.graph.node(id).type)}`);
        continue;
      }
      this.setOutput(step.name, id, step.loc);
      total = total === undefined ? id : this.graph.add('add', [total, id], {}, 'loss').id;
    }
    for (const step of training.metrics.steps) {
      const id = metrics.values.get(step.name);
      if (id !== undefined) this.setOutput(step.name, id, step.loc);
    }
    if (total !== undefined) this.setOutput('loss', total, this.spec.loc);
  }

  // ---- top level ----

  /** Checks the spec's preconditions; false when one fails (building would only repeat the error). */
  private checkRequires(): boolean {
    let ok = true;
    const longest = this.options.longest;
    const lookup: Lookup = longest === undefined ? this.global : (name) => (name === 'seq' ? longest : this.global(name));
    for (const req of this.spec.requires) {
      const holds = this.reportAt(req.check.loc, () => evalExpr(req.check.value, lookup) === true);
      if (holds !== false) continue;
      ok = false;
      // Point at the user's value of the first config entry the check names.
      const culprit = exprNames(parseExpr(req.check.value)).find((n) => own(this.spec.config, n));
      const message = req.message.replace(/\{(\w+)\}/g, (_, n: string) => String(lookup(n) ?? `{${n}}`));
      this.bag.error(culprit ? this.spec.config[culprit]!.loc : req.check.loc, message);
    }
    return ok;
  }

  private declareInputs(declared: Spec['inputs']): Map<string, number> {
    const values = new Map<string, number>();
    for (const input of declared) {
      const shape: number[] = [];
      for (const dim of input.shape) {
        const v = this.reportAt(dim.loc, () => evalAttr({ kind: 'int' }, dim.value, this.global) as number);
        if (v !== undefined) shape.push(v);
      }
      if (shape.length !== input.shape.length) continue;
      const id = this.reportAt(input.loc, () => this.graph.add('input', [], { name: input.name, dtype: input.dtype, shape }, input.name).id);
      if (id !== undefined) values.set(input.name, id);
    }
    return values;
  }

  private setOutput(name: string, id: number, loc: SourceLoc): void {
    this.reportAt(loc, () => this.graph.output(name, id));
  }

  // ---- bodies ----

  /** Builds a body's steps in dependency order on top of the values already in scope. */
  private buildBody(steps: readonly StepSpec[], frame: Frame, outer: ReadonlyMap<string, number>): BodyResult {
    const result: BodyResult = { values: new Map(outer), failed: new Set() };
    for (const step of steps) {
      if (outer.has(step.name)) this.error(step.loc, `'${step.name}' is already defined (an input of this block)`, frame);
    }
    for (const step of this.orderSteps(steps, result.failed, frame)) this.executeStep(step, frame, result);
    return result;
  }

  /** Depth-first topological order; a cycle is reported once and its steps poisoned. */
  private orderSteps(steps: readonly StepSpec[], failed: Set<string>, frame: Frame): StepSpec[] {
    const byName = new Map(steps.map((s) => [s.name, s]));
    const state = new Map<string, 'visiting' | 'done'>();
    const order: StepSpec[] = [];
    const path: string[] = [];
    const visit = (step: StepSpec): void => {
      if (state.get(step.name) === 'done') return;
      if (state.get(step.name) === 'visiting') {
        const cycle = [...path.slice(path.indexOf(step.name)), step.name];
        this.error(step.loc, `cycle: ${cycle.join(' → ')}`, frame);
        cycle.forEach((n) => failed.add(n));
        return;
      }
      state.set(step.name, 'visiting');
      path.push(step.name);
      for (const ref of step.inputs) {
        const dep = byName.get(ref.value.split('.')[0]!);
        if (dep) visit(dep);
      }
      path.pop();
      state.set(step.name, 'done');
      order.push(step);
    };
    steps.forEach(visit);
    return order;
  }

  private executeStep(step: StepSpec, frame: Frame, body: BodyResult): void {
    if (body.failed.has(step.name)) return;
    try {
      const args: number[] = [];
      for (const ref of step.inputs) {
        const id = this.resolve(ref, body, frame);
        if (id === undefined) throw new Reported();
        args.push(id);
      }
      const op = this.located(step.op.loc, frame, () => interpolate(step.op.value, frame.lookup));
      const outputs = this.dispatch(op, step, args, frame);
      body.values.set(step.name, outputs[0]![1]);
      for (const [name, id] of outputs) body.values.set(`${step.name}.${name}`, id);
    } catch (e) {
      if (!(e instanceof Reported)) throw e;
      body.failed.add(step.name);
    }
  }

  /** The node of a value reference, or undefined (reported unless it was poisoned). */
  private resolve(ref: Located<string>, body: BodyResult, frame: Frame): number | undefined {
    const id = body.values.get(ref.value);
    if (id !== undefined) return id;
    if (!body.failed.has(ref.value) && !body.failed.has(ref.value.split('.')[0]!)) {
      this.error(ref.loc, `unknown value '${ref.value}'${didYouMean(ref.value, body.values.keys())}`, frame);
    }
    return undefined;
  }

  /** Runs a step's op; returns its outputs as [name, node] pairs, the main one first. */
  private dispatch(op: string, step: StepSpec, args: number[], frame: Frame): [string, number][] {
    if (op === 'repeat') return this.repeat(step, args, frame);
    const block = own(this.spec.blocks, op);
    if (block) return this.instantiate(block, step, args, step.attrs, frame, frame.lookup);
    const specOp = own(SPEC_OPS, op);
    if (!specOp) {
      const known = [...Object.keys(SPEC_OPS), ...Object.keys(this.spec.blocks), 'repeat'];
      this.error(step.op.loc, `unknown op '${op}'${didYouMean(op, known)}`, frame);
      throw new Reported();
    }
    if (!specOp.operands.includes(args.length)) {
      const counts = specOp.operands.length > 3 ? 'one or more' : specOp.operands.join(' or ');
      this.error(step.loc, `op '${op}' takes ${counts} operand${counts === '1' ? '' : 's'}, got ${args.length}`, frame);
      throw new Reported();
    }
    const attrs: Record<string, unknown> = {};
    for (const [key, raw] of Object.entries(step.attrs)) {
      const spec = own(specOp.attrs, key);
      if (!spec) {
        this.error(raw.keyLoc, `unknown attribute '${key}' for op '${op}'${didYouMean(key, Object.keys(specOp.attrs))}`, frame);
        throw new Reported();
      }
      attrs[key] = this.located(raw.loc, frame, () => evalAttr(spec, raw.value, frame.lookup));
    }
    for (const [key, spec] of Object.entries(specOp.attrs)) {
      if (key in attrs) continue;
      if (spec.default === undefined) {
        this.error(step.loc, `op '${op}' needs the attribute '${key}'`, frame);
        throw new Reported();
      }
      attrs[key] = spec.default;
    }
    const scope = step.scope ? [...frame.scope, ...this.scopeParts(step.scope, frame)] : frame.scope;
    const ctx = this.stepContext(step, scope, step.scope ? scope : frame.labels);
    return [[step.name, this.located(step.loc, frame, () => specOp.build(ctx, args, attrs), { step: step.name, op })]];
  }

  private stepContext(step: StepSpec, scope: readonly string[], labels: readonly string[]): StepContext {
    const std = this.spec.config.initializer_range?.value;
    return {
      graph: this.graph,
      mode: this.options.mode,
      label: [...labels, step.name].join('.'),
      paramName: (name) => (name.startsWith('/') ? name.slice(1) : [...scope, name].join('.')),
      initStd: typeof std === 'number' ? std : 0.02,
      nextStream: () => ++this.streams,
    };
  }

  // ---- blocks ----

  private instantiate(
    block: BlockSpec,
    step: StepSpec,
    args: readonly number[],
    attrs: StepSpec['attrs'],
    frame: Frame,
    callerLookup: Lookup,
    extra: Record<string, ExprValue> = {},
  ): [string, number][] {
    if (frame.blocks.includes(block.name)) {
      const chain = [...frame.blocks.slice(frame.blocks.indexOf(block.name)), block.name];
      this.error(step.op.loc, `block '${block.name}' instantiates itself: ${chain.join(' → ')}`, frame);
      throw new Reported();
    }
    if (args.length !== block.inputs.length) {
      this.error(step.loc, `block '${block.name}' takes ${block.inputs.length} input${block.inputs.length === 1 ? '' : 's'} (${block.inputs.map((i) => i.value).join(', ')}), got ${args.length}`, frame);
      throw new Reported();
    }
    const params: Record<string, ExprValue> = { ...extra };
    for (const [key, raw] of Object.entries(attrs)) {
      const declared = own(block.params, key);
      if (!declared) {
        this.error(raw.keyLoc, `unknown parameter '${key}' for block '${block.name}'${didYouMean(key, Object.keys(block.params))}`, frame);
        throw new Reported();
      }
      const kind = typeof declared.value === 'number' ? 'float' : typeof declared.value === 'boolean' ? 'bool' : 'string';
      params[key] = this.located(raw.loc, frame, () => evalAttr({ kind }, raw.value, callerLookup) as ExprValue);
    }
    const config = this.blockConfig(block, frame);
    const lookup: Lookup = (name) => own(params, name) ?? this.paramDefault(block, name, lookup) ?? config(name);
    const scope = step.scope ? [...frame.scope, ...this.scopeParts(step.scope, { ...frame, lookup: callerLookupWith(callerLookup, extra) })] : frame.scope;
    const inner: Frame = {
      lookup,
      config,
      scope,
      labels: step.scope ? scope : [...frame.labels, step.name],
      calls: [{ loc: step.loc, message: `in block '${block.name}' instantiated here` }, ...frame.calls],
      blocks: [...frame.blocks, block.name],
    };
    const inputs = new Map(block.inputs.map((input, k) => [input.value, args[k]!]));
    const body = this.buildBody(block.body.steps, inner, inputs);
    const outputs: [string, number][] = [];
    for (const out of block.outputs) {
      const id = body.values.get(out.value);
      if (id === undefined) {
        if (!body.failed.has(out.value)) this.error(out.loc, `block '${block.name}' has no value '${out.value}' to output${didYouMean(out.value, body.values.keys())}`, inner);
        throw new Reported();
      }
      outputs.push([out.value, id]);
    }
    if (!outputs.length) {
      this.error(block.loc, `block '${block.name}' has no outputs`, inner);
      throw new Reported();
    }
    return outputs;
  }

  /**
   * The config a block's body sees: its `config:` values over the caller's
   * view (numbers evaluated there, so `hidden_size: generator_hidden_size`
   * reads the model's generator_hidden_size), or the caller's view as it is.
   */
  private blockConfig(block: BlockSpec, frame: Frame): Lookup {
    const entries = Object.entries(block.config);
    if (!entries.length) return frame.config;
    const values: Record<string, ExprValue> = {};
    for (const [key, entry] of entries) {
      const outer = frame.config(key);
      if (outer === undefined) {
        this.error(entry.loc, `block '${block.name}' sets config '${key}', which the model has none of${didYouMean(key, Object.keys(this.spec.config))}`, frame);
        throw new Reported();
      }
      values[key] = typeof outer === 'number' && typeof entry.value === 'string' ? this.located(entry.loc, frame, () => evalExpr(entry.value as string, frame.config)) : entry.value;
    }
    return (name) => own(values, name) ?? frame.config(name);
  }

  private paramDefault(block: BlockSpec, name: string, lookup: Lookup): ExprValue | undefined {
    const declared = own(block.params, name);
    if (!declared) return undefined;
    // String defaults may be expressions over config ("hidden_size / num_attention_heads").
    return typeof declared.value === 'string' ? evalExpr(declared.value, (n) => (n === name ? undefined : lookup(n))) : declared.value;
  }

  /** `repeat`: instantiates a block `count` times, threading its output into its first input; `i` is the index. */
  private repeat(step: StepSpec, args: number[], frame: Frame): [string, number][] {
    const { block: blockAttr, count: countAttr, ...rest } = step.attrs;
    if (!blockAttr || !countAttr) {
      this.error(step.loc, "repeat needs 'block' and 'count'", frame);
      throw new Reported();
    }
    const blockName = this.located(blockAttr.loc, frame, () => evalAttr({ kind: 'string' }, blockAttr.value, frame.lookup) as string);
    const block = own(this.spec.blocks, blockName);
    if (!block) {
      this.error(blockAttr.loc, `unknown block '${blockName}'${didYouMean(blockName, Object.keys(this.spec.blocks))}`, frame);
      throw new Reported();
    }
    const count = this.located(countAttr.loc, frame, () => evalAttr({ kind: 'int' }, countAttr.value, frame.lookup) as number);
    if (args.length === 0) {
      this.error(step.loc, 'repeat needs at least one input to thread through the block', frame);
      throw new Reported();
    }
    let current = args[0]!;
    let outputs: [string, number][] = [[step.name, current]];
    for (let i = 0; i < count; i++) {
      // Each repetition is one of the model's regions (an encoder layer), named by its scope.
      const start = this.graph.size;
      outputs = this.instantiate(block, step, [current, ...args.slice(1)], rest, frame, frame.lookup, { i });
      current = outputs[0]![1];
      const scope = (step.scope ? [...frame.scope, ...this.scopeParts(step.scope, { ...frame, lookup: callerLookupWith(frame.lookup, { i }) })] : [...frame.scope, step.name]).join('.');
      this.graph.region(this.graph.hasRegion(scope) ? `${scope}#${i}` : scope, start, this.graph.size);
    }
    return outputs;
  }

  // ---- helpers ----

  private scopeParts(scope: Located<string>, frame: Frame): string[] {
    return this.located(scope.loc, frame, () => interpolate(scope.value, frame.lookup)).split('.').filter(Boolean);
  }

  private error(loc: SourceLoc | undefined, message: string, frame: Frame): void {
    this.bag.error(loc, message, frame.calls);
  }

  /** Runs `work`; a spec, shape or naming error becomes a diagnostic at `loc` and aborts the step. */
  private located<T>(loc: SourceLoc, frame: Frame, work: () => T, site?: { step: string; op: string }): T {
    try {
      return work();
    } catch (e) {
      if (e instanceof SpecValueError || e instanceof ShapeError || e instanceof ConflictError) {
        let message = e.message;
        if (site && e instanceof ShapeError) {
          // The message starts with the IR op that failed; name the spec op too when it differs (linear → matmul).
          const where = message.startsWith(`${site.op}:`) ? `'${site.step}'` : `'${site.step}' (${site.op})`;
          message = `shape error in ${where}: ${message}`;
        }
        this.error(loc, message, frame);
        throw new Reported();
      }
      throw e;
    }
  }

  /** Like `located`, at top level: reports and returns undefined instead of aborting. */
  private reportAt<T>(loc: SourceLoc, work: () => T): T | undefined {
    try {
      return this.located(loc, { lookup: this.global, config: this.global, scope: [], labels: [], calls: [], blocks: [] }, work);
    } catch (e) {
      if (e instanceof Reported) return undefined;
      throw e;
    }
  }
}

function callerLookupWith(lookup: Lookup, extra: Record<string, ExprValue>): Lookup {
  return (name) => own(extra, name) ?? lookup(name);
}

/** Removes repeats of one diagnostic (a block's error appears once per instantiation). */
function unique<T extends { loc?: SourceLoc; message: string }>(items: readonly T[]): T[] {
  const seen = new Set<string>();
  return items.filter((d) => {
    const key = `${d.loc?.file}:${d.loc?.line}:${d.loc?.col}:${d.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Builds the graph of a spec for the given dims and mode; throws CompileError with every problem found. */
export function buildGraph(spec: Spec, options: BuildOptions): Graph {
  const frontend = new Frontend(spec, options);
  const graph = frontend.run();
  if (!frontend.bag.size) frontend.checkConfigUsed();
  if (frontend.bag.size) throw new CompileError(unique(frontend.bag.items));
  return graph;
}
