// DSL text → the located spec document (the tree a YAML spec parses into),
// so that both forms feed one loader, one schema and one compiler, and every
// later diagnostic points into the .tcc file. Syntax errors (with chevrotain's
// recovery, several per run) and the checks only the DSL can make (duplicate
// names, parameter types, malformed strings) are reported here.

import { MAX_NESTING } from '../parser/spec.js';
import type { CstNode, IToken } from 'chevrotain';
import { DiagnosticBag, type SourceLoc } from '../parser/diagnostics.js';
import type { LMap, LNode, LScalar, LSeq } from '../parser/yaml.js';
import { dslGrammar } from './runtime.js';

type Children = Record<string, (CstNode | IToken)[] | undefined>;

export interface ParsedDsl {
  readonly root: LMap | undefined;
  /** Comments with their positions, for the formatter. */
  readonly comments: readonly IToken[];
}

const isToken = (x: CstNode | IToken): x is IToken => 'image' in x;

class Builder {
  constructor(
    readonly file: string,
    readonly bag: DiagnosticBag,
  ) {}

  tokenLoc(t: IToken): SourceLoc {
    return { file: this.file, line: t.startLine ?? 1, col: t.startColumn ?? 1, endLine: t.endLine ?? t.startLine ?? 1, endCol: (t.endColumn ?? t.startColumn ?? 1) + 1 };
  }

  nodeLoc(n: CstNode): SourceLoc {
    const l = n.location;
    if (!l || Number.isNaN(l.startOffset)) return { file: this.file, line: 1, col: 1, endLine: 1, endCol: 1 };
    return { file: this.file, line: l.startLine ?? 1, col: l.startColumn ?? 1, endLine: l.endLine ?? l.startLine ?? 1, endCol: (l.endColumn ?? l.startColumn ?? 1) + 1 };
  }

  scalar(value: LScalar['value'], loc: SourceLoc): LScalar {
    return { kind: 'scalar', loc, value };
  }

  /** A double-quoted literal's text (JSON escapes). */
  string(t: IToken): LScalar {
    try {
      return this.scalar(JSON.parse(t.image) as string, this.tokenLoc(t));
    } catch {
      this.bag.error(this.tokenLoc(t), `malformed string ${t.image} (escapes are those of JSON: \\" \\\\ \\n \\t \\uXXXX)`);
      return this.scalar(t.image.slice(1, -1), this.tokenLoc(t));
    }
  }
}

/** A mapping under construction that reports a name given twice. */
class Entries {
  readonly map = new Map<string, { keyLoc: SourceLoc; value: LNode }>();
  constructor(
    private readonly bag: DiagnosticBag,
    private readonly what: string,
  ) {}

  set(key: string, keyLoc: SourceLoc, value: LNode): void {
    const previous = this.map.get(key);
    if (previous) {
      this.bag.error(keyLoc, `duplicate ${this.what} '${key}' (first at line ${previous.keyLoc.line})`);
      return;
    }
    this.map.set(key, { keyLoc, value });
  }

  node(loc: SourceLoc): LMap {
    return { kind: 'map', loc, entries: this.map };
  }
}

const tokens = (c: Children, key: string): IToken[] => (c[key] ?? []).filter(isToken);
const nodes = (c: Children, key: string): CstNode[] => (c[key] ?? []).filter((x): x is CstNode => !isToken(x));
const first = (c: Children, key: string): IToken | undefined => tokens(c, key)[0];
const child = (c: Children, key: string): CstNode | undefined => nodes(c, key)[0];

const PARAM_TYPES: Readonly<Record<string, (v: unknown) => boolean>> = {
  int: (v) => typeof v === 'number' && Number.isInteger(v),
  float: (v) => typeof v === 'number',
  string: (v) => typeof v === 'string',
  bool: (v) => typeof v === 'boolean',
};

const RESERVED_ATTRS = new Set(['op', 'in', 'scope', 'outputs']);

class DocumentBuilder extends Builder {
  // ---- expressions and values ----

  /** The expression's text with canonical spacing: what the spec's expression parser reads. */
  exprText(n: CstNode): string {
    const c = n.children as Children;
    const operands = nodes(c, 'operands').map((u) => this.unaryText(u));
    const operators = tokens(c, 'operators');
    return operands.map((o, i) => (i === 0 ? o : `${operators[i - 1]!.image} ${o}`)).join(' ');
  }

  private unaryText(n: CstNode): string {
    const c = n.children as Children;
    return tokens(c, 'prefix').map((t) => t.image).join('') + this.primaryText(child(c, 'primary')!);
  }

  private primaryText(n: CstNode): string {
    const c = n.children as Children;
    const inner = child(c, 'inner');
    if (inner) return `(${this.exprText(inner)})`;
    const id = first(c, 'Identifier');
    if (id) return first(c, 'LParen') ? `${id.image}(${nodes(c, 'args').map((a) => this.exprText(a)).join(', ')})` : id.image;
    const t = first(c, 'NumberLiteral') ?? first(c, 'ExprString') ?? first(c, 'True') ?? first(c, 'False');
    return t?.image ?? '';
  }

  /** A lone number (with at most a minus), or true/false, is that value; any other expression is its text. */
  exprValue(n: CstNode): LScalar {
    const loc = this.nodeLoc(n);
    const c = n.children as Children;
    const operands = nodes(c, 'operands');
    if (operands.length === 1) {
      const u = operands[0]!.children as Children;
      const prefix = tokens(u, 'prefix').map((t) => t.image).join('');
      const p = child(u, 'primary')!.children as Children;
      const number = first(p, 'NumberLiteral');
      if (number && (prefix === '' || prefix === '-')) return this.scalar((prefix ? -1 : 1) * Number(number.image), loc);
      if (prefix === '' && (first(p, 'True') || first(p, 'False'))) return this.scalar(Boolean(first(p, 'True')), loc);
    }
    return this.scalar(this.exprText(n), loc);
  }

  value(n: CstNode): LNode {
    const c = n.children as Children;
    const loc = this.nodeLoc(n);
    if (first(c, 'Null')) return this.scalar(null, loc);
    const s = first(c, 'StringLiteral');
    if (s) return this.string(s);
    if (first(c, 'LBracket')) return { kind: 'seq', loc, items: nodes(c, 'items').map((v) => this.value(v)) } satisfies LSeq;
    const e = child(c, 'expr');
    return e ? this.exprValue(e) : this.scalar(null, loc);
  }

  // ---- steps ----

  /** callee(inputs, attr: value) @ "scope" → {op, in, scope, attrs}; extra entries (repeat's) come first. */
  call(n: CstNode, extra: [string, SourceLoc, LNode][] = [], opOverride?: LScalar): LMap {
    const c = n.children as Children;
    const loc = this.nodeLoc(n);
    const entries = new Entries(this.bag, 'argument');
    const callee = first(c, 'callee')!;
    const op = opOverride ?? (callee.tokenType.name === 'StringLiteral' ? this.string(callee) : this.scalar(callee.image, this.tokenLoc(callee)));
    entries.set('op', op.loc, op);
    for (const [key, keyLoc, value] of extra) entries.set(key, keyLoc, value);
    const inputs: LScalar[] = [];
    for (const arg of nodes(c, 'argument')) {
      const a = arg.children as Children;
      const name = first(a, 'name')!;
      const value = child(a, 'value');
      if (!value) {
        inputs.push(this.scalar(name.image, this.tokenLoc(name)));
        continue;
      }
      if (RESERVED_ATTRS.has(name.image)) {
        this.bag.error(this.tokenLoc(name), name.image === 'scope' ? "a step's scope is written after it: f(x) @ \"scope\"" : `'${name.image}' is not an attribute: inputs are the positional arguments`);
        continue;
      }
      entries.set(name.image, this.tokenLoc(name), this.value(value));
    }
    if (inputs.length) {
      const at = inputs[0]!.loc;
      if (entries.map.has('in')) this.bag.error(at, "'in' is given twice");
      entries.map.set('in', { keyLoc: at, value: inputs.length === 1 ? inputs[0]! : { kind: 'seq', loc: at, items: inputs } });
    }
    const scope = first(c, 'scope');
    if (scope) entries.map.set('scope', { keyLoc: this.tokenLoc(scope), value: this.string(scope) });
    // Canonical key order: op, in, scope, then the attributes as written.
    const ordered = new Map([...entries.map].sort(([a], [b]) => rank(a) - rank(b)));
    return { kind: 'map', loc, entries: ordered };
  }

  step(n: CstNode): LNode {
    const c = n.children as Children;
    const nul = first(c, 'Null');
    if (nul) return this.scalar(null, this.tokenLoc(nul));
    const repeat = child(c, 'repeat');
    if (repeat) {
      const r = repeat.children as Children;
      const inner = child(r, 'call')!;
      const callee = first(inner.children as Children, 'callee')!;
      const block = callee.tokenType.name === 'StringLiteral' ? this.string(callee) : this.scalar(callee.image, this.tokenLoc(callee));
      const count = this.value(child(r, 'count')!);
      return this.call(inner, [['block', block.loc, block], ['count', count.loc, count]], this.scalar('repeat', this.tokenLoc(first(r, 'Repeat')!)));
    }
    return this.call(child(c, 'call')!);
  }

  /** `let name = step` statements into a body mapping. */
  body(statements: CstNode[], entries: Entries): void {
    for (const s of statements) {
      const c = s.children as Children;
      const name = first(c, 'name')!;
      entries.set(name.image, this.tokenLoc(name), this.step(child(c, 'stepOrNull')!));
    }
  }

  // ---- declarations ----

  block(n: CstNode, blocks: Entries): void {
    const c = n.children as Children;
    const name = first(c, 'name')!;
    const loc = this.nodeLoc(n);
    if (first(c, 'Null')) return blocks.set(name.image, this.tokenLoc(name), this.scalar(null, loc));
    const entries = new Entries(this.bag, 'name');
    const description = child(c, 'description');
    if (description) entries.set('description', this.nodeLoc(description), this.string(first(description.children as Children, 'StringLiteral')!));
    const inputs = tokens(c, 'inputs');
    const seen = new Entries(this.bag, 'input');
    for (const i of inputs) seen.set(i.image, this.tokenLoc(i), this.scalar(i.image, this.tokenLoc(i)));
    entries.set('inputs', this.tokenLoc(name), { kind: 'seq', loc: this.tokenLoc(name), items: inputs.map((i) => this.scalar(i.image, this.tokenLoc(i))) });
    const params = nodes(c, 'paramDecl');
    if (params.length) {
      const p = new Entries(this.bag, 'parameter');
      for (const decl of params) {
        const d = decl.children as Children;
        const pname = first(d, 'name')!;
        const type = first(d, 'type')!;
        const value = this.value(child(d, 'value')!);
        const check = PARAM_TYPES[type.image];
        if (!check) this.bag.error(this.tokenLoc(type), `unknown parameter type '${type.image}' (int, float, string or bool)`);
        else if (value.kind !== 'scalar' || !check(value.value)) this.bag.error(value.loc, `the default of '${pname.image}' is not ${type.image === 'int' ? 'an' : 'a'} ${type.image}`);
        p.set(pname.image, this.tokenLoc(pname), value.kind === 'scalar' ? { ...value, declared: type.image } : value);
      }
      entries.set('params', this.tokenLoc(name), p.node(this.tokenLoc(name)));
    }
    const config = child(c, 'configDecl');
    if (config) entries.set('config', this.nodeLoc(config), this.settings(child(config.children as Children, 'settings')!, 'config value'));
    const body = new Entries(this.bag, 'step');
    this.body(nodes(c, 'letStmt'), body);
    entries.set('body', loc, body.node(loc));
    const outputs = tokens(c, 'outputs');
    const returned = first(c, 'Return')!;
    entries.set('outputs', this.tokenLoc(returned), { kind: 'seq', loc: this.tokenLoc(returned), items: outputs.map((o) => this.scalar(o.image, this.tokenLoc(o))) });
    blocks.set(name.image, this.tokenLoc(name), entries.node(loc));
  }

  settings(n: CstNode, what: string): LMap {
    const c = n.children as Children;
    const entries = new Entries(this.bag, what);
    const keys = tokens(c, 'key');
    nodes(c, 'value').forEach((v, i) => entries.set(keys[i]!.image, this.tokenLoc(keys[i]!), this.value(v)));
    return entries.node(this.nodeLoc(n));
  }

  input(n: CstNode, inputs: Entries): void {
    const c = n.children as Children;
    const name = first(c, 'name')!;
    const loc = this.nodeLoc(n);
    if (first(c, 'Null')) return inputs.set(name.image, this.tokenLoc(name), this.scalar(null, loc));
    const decl = new Entries(this.bag, 'field');
    const dtype = first(c, 'dtype')!;
    decl.set('dtype', this.tokenLoc(dtype), this.scalar(dtype.image, this.tokenLoc(dtype)));
    decl.set('shape', this.tokenLoc(first(c, 'LBracket')!), { kind: 'seq', loc, items: nodes(c, 'dims').map((d) => this.value(d)) });
    inputs.set(name.image, this.tokenLoc(name), decl.node(loc));
  }

  model(n: CstNode, doc: Entries, bases: LScalar[]): void {
    const c = n.children as Children;
    const name = first(c, 'name')!;
    doc.set('name', this.tokenLoc(name), name.tokenType.name === 'StringLiteral' ? this.string(name) : this.scalar(name.image, this.tokenLoc(name)));
    for (const b of tokens(c, 'bases')) bases.push(this.string(b));
    const description = nodes(c, 'description');
    for (const d of description) doc.set('description', this.nodeLoc(d), this.string(first(d.children as Children, 'StringLiteral')!));
    const config = nodes(c, 'configDecl');
    if (config.length) {
      // Several config sections read as one.
      const merged = new Entries(this.bag, 'config value');
      for (const section of config) for (const [k, e] of this.settings(child(section.children as Children, 'settings')!, 'config value').entries) merged.set(k, e.keyLoc, e.value);
      doc.set('config', this.nodeLoc(config[0]!), merged.node(this.nodeLoc(config[0]!)));
    }
    const requires = nodes(c, 'requireDecl');
    if (requires.length) {
      const items = requires.map((r): LMap => {
        const rc = r.children as Children;
        const check = child(rc, 'expr')!;
        const entries = new Map<string, { keyLoc: SourceLoc; value: LNode }>([
          ['check', { keyLoc: this.nodeLoc(check), value: this.scalar(this.exprText(check), this.nodeLoc(check)) }],
          ['message', { keyLoc: this.tokenLoc(first(rc, 'StringLiteral')!), value: this.string(first(rc, 'StringLiteral')!) }],
        ]);
        return { kind: 'map', loc: this.nodeLoc(r), entries };
      });
      doc.set('requires', this.nodeLoc(requires[0]!), { kind: 'seq', loc: this.nodeLoc(requires[0]!), items });
    }
    const inputs = nodes(c, 'inputDecl');
    if (inputs.length) {
      const entries = new Entries(this.bag, 'input');
      for (const i of inputs) this.input(i, entries);
      doc.set('inputs', this.nodeLoc(inputs[0]!), entries.node(this.nodeLoc(inputs[0]!)));
    }
    const bodies = nodes(c, 'bodyDecl');
    if (bodies.length) {
      const model = new Entries(this.bag, 'model field');
      const steps = new Entries(this.bag, 'step');
      const outputs = new Entries(this.bag, 'output');
      for (const b of bodies) {
        const bc = b.children as Children;
        const scope = first(bc, 'scope');
        if (scope) model.set('scope', this.tokenLoc(scope), this.string(scope));
        this.body(nodes(bc, 'letStmt'), steps);
        for (const o of nodes(bc, 'outputStmt')) {
          const oc = o.children as Children;
          const oname = first(oc, 'name')!;
          const ref = first(oc, 'ref')!;
          outputs.set(oname.image, this.tokenLoc(oname), this.scalar(ref.image === 'null' ? null : ref.image, this.tokenLoc(ref)));
        }
      }
      const loc = this.nodeLoc(bodies[0]!);
      if (steps.map.size) model.set('body', loc, steps.node(loc));
      if (outputs.map.size) model.set('outputs', loc, outputs.node(loc));
      doc.set('model', loc, model.node(loc));
    }
    const headsNull = nodes(c, 'headsNull');
    const heads = nodes(c, 'headDecl');
    if (headsNull.length && heads.length) this.bag.error(this.nodeLoc(headsNull[0]!), "'heads = null' removes every head; it cannot go with head declarations");
    if (headsNull.length) doc.set('heads', this.nodeLoc(headsNull[0]!), this.scalar(null, this.nodeLoc(headsNull[0]!)));
    else if (heads.length) {
      const entries = new Entries(this.bag, 'head');
      for (const h of heads) {
        const hc = h.children as Children;
        const hname = first(hc, 'name')!;
        const call = child(hc, 'call');
        if (!call) {
          entries.set(hname.image, this.tokenLoc(hname), this.scalar(null, this.nodeLoc(h)));
          continue;
        }
        const step = this.call(call);
        const exported = tokens(hc, 'exported');
        const stepEntries = new Map(step.entries);
        if (exported.length) {
          const local = tokens(hc, 'local');
          const outs = new Entries(this.bag, 'head output');
          exported.forEach((e, i) => outs.set(e.image, this.tokenLoc(e), this.scalar(local[i]?.image ?? null, local[i] ? this.tokenLoc(local[i]!) : this.tokenLoc(e))));
          stepEntries.set('outputs', { keyLoc: this.tokenLoc(first(hc, 'Arrow')!), value: outs.node(this.tokenLoc(first(hc, 'Arrow')!)) });
        }
        entries.set(hname.image, this.tokenLoc(hname), { ...step, entries: stepEntries });
      }
      doc.set('heads', this.nodeLoc(heads[0]!), entries.node(this.nodeLoc(heads[0]!)));
    }
    const training = nodes(c, 'trainingDecl');
    for (const t of training) {
      const tc = t.children as Children;
      const loc = this.nodeLoc(t);
      if (first(tc, 'Null')) {
        doc.set('training', loc, this.scalar(null, loc));
        continue;
      }
      const entries = new Entries(this.bag, 'training field');
      const tInputs = nodes(tc, 'inputDecl');
      if (tInputs.length) {
        const ins = new Entries(this.bag, 'input');
        for (const i of tInputs) this.input(i, ins);
        entries.set('inputs', this.nodeLoc(tInputs[0]!), ins.node(this.nodeLoc(tInputs[0]!)));
      }
      for (const [rule, key] of [['lossDecl', 'losses'], ['metricDecl', 'metrics']] as const) {
        const decls = nodes(tc, rule);
        if (!decls.length) continue;
        const steps = new Entries(this.bag, rule === 'lossDecl' ? 'loss' : 'metric');
        for (const d of decls) {
          const dc = d.children as Children;
          const dname = first(dc, 'name')!;
          steps.set(dname.image, this.tokenLoc(dname), this.step(child(dc, 'stepOrNull')!));
        }
        entries.set(key, this.nodeLoc(decls[0]!), steps.node(this.nodeLoc(decls[0]!)));
      }
      const optimizer = nodes(tc, 'settings');
      if (optimizer.length) entries.set('optimizer', this.nodeLoc(optimizer[0]!), this.settings(optimizer[0]!, 'optimizer setting'));
      doc.set('training', loc, entries.node(loc));
    }
  }

  document(n: CstNode): LMap {
    const c = n.children as Children;
    const doc = new Entries(this.bag, 'declaration');
    const bases: LScalar[] = [];
    for (const i of nodes(c, 'importDecl')) bases.push(this.string(first(i.children as Children, 'StringLiteral')!));
    const models = nodes(c, 'modelDecl');
    if (models.length > 1) this.bag.error(this.nodeLoc(models[1]!), `a file holds one model; the first is at line ${this.nodeLoc(models[0]!).line}`);
    if (models[0]) this.model(models[0], doc, bases);
    const blocks = nodes(c, 'blockDecl');
    if (blocks.length) {
      const entries = new Entries(this.bag, 'block');
      for (const b of blocks) this.block(b, entries);
      doc.set('blocks', this.nodeLoc(blocks[0]!), entries.node(this.nodeLoc(blocks[0]!)));
    }
    if (bases.length) {
      const extendsNode: LNode = bases.length === 1 ? bases[0]! : { kind: 'seq', loc: bases[0]!.loc, items: bases };
      doc.map.set('extends', { keyLoc: bases[0]!.loc, value: extendsNode });
    }
    const ordered = new Map([...doc.map].sort(([a], [b]) => DOC_ORDER.indexOf(a) - DOC_ORDER.indexOf(b)));
    return { kind: 'map', loc: this.nodeLoc(n), entries: ordered };
  }
}

const STEP_ORDER = ['op', 'block', 'count', 'in', 'scope'];
const rank = (key: string) => {
  const i = STEP_ORDER.indexOf(key);
  return i < 0 ? STEP_ORDER.length : i;
};

/** The document's keys in the order YAML specs write them. */
export const DOC_ORDER = ['name', 'description', 'extends', 'config', 'requires', 'inputs', 'model', 'heads', 'training', 'blocks'];

/** Parses DSL text into the spec document; errors go to `bag`. */
export function parseDsl(text: string, file: string, bag: DiagnosticBag): ParsedDsl {
  const builder = new DocumentBuilder(file, bag);
  const { lexer, parser } = dslGrammar();
  const lexed = lexer.tokenize(text);
  for (const e of lexed.errors) {
    const loc = { file, line: e.line ?? 1, col: e.column ?? 1, endLine: e.line ?? 1, endCol: (e.column ?? 1) + Math.max(1, e.length) };
    bag.error(loc, `unexpected character '${text.slice(e.offset, e.offset + e.length)}'`);
  }
  // The parser recurses into brackets: refuse nesting far beyond any model before it overflows the stack.
  let depth = 0;
  for (const t of lexed.tokens) {
    if (t.image === '(' || t.image === '[' || t.image === '{') depth++;
    else if (t.image === ')' || t.image === ']' || t.image === '}') depth--;
    if (depth > MAX_NESTING) {
      bag.error(builder.tokenLoc(t), `brackets nested more than ${MAX_NESTING} deep`);
      return { root: undefined, comments: [] };
    }
  }
  parser.input = lexed.tokens;
  const cst = parser.file();
  for (const e of parser.errors) {
    const t = e.token;
    const at = Number.isNaN(t.startOffset) ? (e as { previousToken?: IToken }).previousToken ?? t : t;
    const loc = Number.isNaN(at.startOffset) ? { file, line: 1, col: 1, endLine: 1, endCol: 1 } : builder.tokenLoc(at);
    bag.error(loc, syntaxMessage(e.message, t));
  }
  const comments = (lexed.groups['comments'] ?? []) as IToken[];
  if (parser.errors.length || lexed.errors.length) return { root: undefined, comments };
  return { root: builder.document(cst), comments };
}

/** chevrotain's messages, in the words of the rest of tcc's diagnostics. */
function syntaxMessage(message: string, token: IToken): string {
  const found = token.tokenType.name === 'EOF' ? 'the end of the file' : `'${token.image}'`;
  const expecting = /Expecting (?:token of type )?--> (.+?) <--/.exec(message)?.[1];
  if (expecting) return `expected ${expecting} but found ${found}`;
  const oneOf = /Expecting: one of these possible Token sequences:\n([\s\S]*?)\nbut found/.exec(message)?.[1];
  if (oneOf) {
    const options = [...new Set(oneOf.split('\n').map((l) => l.replace(/^\s*\d+\.\s*/, '').replace(/^\[|\]$/g, '').split(', ')[0]!))];
    if (options.includes('a number') && options.includes('a string')) return `expected a value but found ${found}`;
    return `expected ${options.slice(0, 6).join(', ')}${options.length > 6 ? ', …' : ''} but found ${found}`;
  }
  return `${message.split('\n')[0]} (found ${found})`;
}

/**
 * Whether a document string can be written bare in the DSL: it reads back as
 * the same string (an expression in canonical form, not a number, boolean or
 * keyword). Otherwise it is written quoted.
 */
export function writesBare(text: string): boolean {
  const { lexer, parser } = dslGrammar();
  const lexed = lexer.tokenize(text);
  if (lexed.errors.length || lexed.groups['comments']?.length || !lexed.tokens.length) return false;
  parser.input = lexed.tokens;
  const cst = parser.expr();
  if (parser.errors.length) return false;
  const end = cst.location?.endOffset;
  if (end === undefined || Number.isNaN(end) || end !== text.length - 1) return false;
  const builder = new DocumentBuilder('', new DiagnosticBag());
  const value = builder.exprValue(cst);
  return value.value === text;
}
