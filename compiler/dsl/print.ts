// The spec document → canonical DSL text (`tcc fmt`, `tcc convert --to tcc`)
// and → YAML (`tcc convert --to yaml`). The DSL printer writes what
// `parseDsl` reads back as the same document; comments of a DSL file are
// kept, each before the declaration it preceded.

import type { IToken } from 'chevrotain';
import { Document, isMap, isSeq, visit } from 'yaml';
import type { LMap, LNode, LScalar } from '../parser/yaml.js';
import { toPlain } from '../parser/yaml.js';
import { DOC_ORDER, writesBare } from './document.js';
import { KEYWORD_NAMES } from './grammar.js';

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MODEL_KEYS = ['name', 'description', 'config', 'requires', 'inputs', 'model', 'heads', 'training'];

const get = (node: LNode | undefined, key: string): LNode | undefined => (node?.kind === 'map' ? node.entries.get(key)?.value : undefined);
const entries = (node: LNode | undefined) => (node?.kind === 'map' ? [...node.entries] : []);
const isNull = (node: LNode | undefined) => node?.kind === 'scalar' && node.value === null;
const items = (node: LNode | undefined): LNode[] => (node === undefined ? [] : node.kind === 'seq' ? [...node.items] : [node]);

/** A value as DSL text. */
export function valueText(node: LNode): string {
  if (node.kind === 'seq') return `[${node.items.map(valueText).join(', ')}]`;
  if (node.kind === 'map') throw new Error('a mapping is not a value');
  const v = node.value;
  if (v === null) return 'null';
  if (typeof v === 'number') return String(v); // the shortest text that reads back as the same double
  if (typeof v === 'boolean') return String(v);
  return writesBare(v) ? v : JSON.stringify(v);
}

/** A name position (step, attribute, config key): bare when it is one word. */
const nameText = (name: string) => (IDENTIFIER.test(name) ? name : JSON.stringify(name));
/** A callee: bare when an identifier that is no keyword. */
const calleeText = (name: string) => (IDENTIFIER.test(name) && !KEYWORD_NAMES.has(name) ? name : JSON.stringify(name));

class Printer {
  private readonly lines: string[] = [];
  private depth = 0;
  private pending: IToken[];
  /** The source line last written (to keep a blank line before a comment that had one). */
  private lastLine: number | undefined;
  private lastWasComment = false;

  constructor(comments: readonly IToken[]) {
    this.pending = [...comments].sort((a, b) => a.startOffset - b.startOffset);
  }

  /** Comments written up to source line `line` come out first, at the current depth (a comment beside a line goes above it). */
  private flush(line: number | undefined): void {
    while (this.pending.length && (line === undefined || (this.pending[0]!.startLine ?? 0) <= line)) {
      const c = this.pending.shift()!;
      if (this.lastLine !== undefined && (c.startLine ?? 0) > this.lastLine + 1) this.blank();
      for (const l of c.image.split('\n')) this.lines.push('  '.repeat(this.depth) + l.trim().replace(/^\*/, ' *'));
      this.lastLine = c.endLine ?? c.startLine;
      this.lastWasComment = true;
    }
  }

  line(text: string, at?: LNode | { line: number }): void {
    if (at) {
      const line = 'loc' in at ? at.loc.line : at.line;
      this.flush(line);
      // A comment separated from what follows by a blank line stays so.
      if (this.lastWasComment && this.lastLine !== undefined && line > this.lastLine + 1) this.blank();
      this.lastLine = line;
    }
    this.lastWasComment = false;
    this.lines.push(text ? '  '.repeat(this.depth) + text : '');
  }

  open(text: string, at: LNode | undefined, body: () => void, close = '}'): void {
    this.line(text, at);
    this.depth++;
    body();
    this.flushInside(at);
    this.depth--;
    this.lines.push('  '.repeat(this.depth) + close);
    if (at) this.lastLine = at.loc.endLine;
  }

  /** Comments inside a construct, after its last line, stay inside it. */
  private flushInside(at: LNode | undefined): void {
    if (at) this.flush(at.loc.endLine);
  }

  blank(): void {
    if (this.lines.length && this.lines[this.lines.length - 1] !== '') this.lines.push('');
  }

  done(): string {
    this.flush(undefined);
    while (this.lines.length && this.lines[this.lines.length - 1] === '') this.lines.pop();
    return this.lines.join('\n') + '\n';
  }

  // ---- pieces ----

  step(node: LNode): string {
    if (isNull(node)) return 'null';
    const op = String((get(node, 'op') as LScalar).value);
    const repeat = op === 'repeat' && get(node, 'block') && get(node, 'count');
    const skip = new Set(['op', 'in', 'scope', 'outputs', ...(repeat ? ['block', 'count'] : [])]);
    const args = [
      ...items(get(node, 'in')).map((i) => nameText(String((i as LScalar).value))),
      // Parameter names are names, not expressions: always quoted.
      ...entries(node).filter(([k]) => !skip.has(k)).map(([k, e]) => `${nameText(k)}: ${k === 'name' && e.value.kind === 'scalar' && typeof e.value.value === 'string' ? JSON.stringify(e.value.value) : valueText(e.value)}`),
    ];
    const scope = get(node, 'scope');
    const callee = repeat ? String((get(node, 'block') as LScalar).value) : op;
    const call = `${calleeText(callee)}(${args.join(', ')})${scope ? ` @ ${JSON.stringify((scope as LScalar).value)}` : ''}`;
    return repeat ? `repeat ${valueText(get(node, 'count')!)} { ${call} }` : call;
  }

  steps(body: LNode | undefined, keyword: string): void {
    for (const [name, e] of entries(body)) this.line(`${keyword} ${nameText(name)} = ${this.step(e.value)}`, { line: e.keyLoc.line });
  }

  settings(keyword: string, node: LNode): void {
    this.open(`${keyword} {`, node, () => {
      for (const [k, e] of entries(node)) this.line(`${nameText(k)} = ${valueText(e.value)}`, { line: e.keyLoc.line });
    });
  }

  inputs(node: LNode | undefined): void {
    for (const [name, e] of entries(node)) {
      if (isNull(e.value)) this.line(`input ${nameText(name)} = null`, { line: e.keyLoc.line });
      else this.line(`input ${nameText(name)}: ${String((get(e.value, 'dtype') as LScalar).value)}[${items(get(e.value, 'shape')).map(valueText).join(', ')}]`, { line: e.keyLoc.line });
    }
  }

  block(name: string, node: LNode, keyLine: number): void {
    if (isNull(node)) return this.line(`block ${nameText(name)} = null`, { line: keyLine });
    const params = entries(get(node, 'params')).map(([p, e]) => {
      const { value: v, declared } = e.value as LScalar;
      const type = declared ?? (typeof v === 'boolean' ? 'bool' : typeof v === 'string' ? 'string' : Number.isInteger(v) ? 'int' : 'float');
      return `${nameText(p)}: ${type} = ${valueText(e.value)}`;
    });
    const inputs = items(get(node, 'inputs')).map((i) => nameText(String((i as LScalar).value)));
    this.open(`block ${nameText(name)}(${inputs.join(', ')})${params.length ? ` with (${params.join(', ')})` : ''} {`, node, () => {
      const description = get(node, 'description');
      if (description) this.line(`description ${JSON.stringify((description as LScalar).value)}`, description);
      const config = get(node, 'config');
      if (config) this.settings('config', config);
      this.steps(get(node, 'body'), 'let');
      this.line(`return ${items(get(node, 'outputs')).map((o) => nameText(String((o as LScalar).value))).join(', ')}`, get(node, 'outputs'));
    });
  }

  model(doc: LMap, name: string, bases: string[]): void {
    const header = `model ${nameText(name)}${bases.length ? ` extends ${bases.map((b) => JSON.stringify(b)).join(', ')}` : ''} {`;
    this.open(header, doc.entries.get('name')?.value, () => {
      const description = get(doc, 'description');
      if (description) this.line(`description ${JSON.stringify((description as LScalar).value)}`, description);
      const config = get(doc, 'config');
      if (config) this.settings('config', config);
      for (const r of items(get(doc, 'requires'))) this.line(`require ${String((get(r, 'check') as LScalar).value)} : ${JSON.stringify((get(r, 'message') as LScalar).value)}`, r);
      this.inputs(get(doc, 'inputs'));
      const model = get(doc, 'model');
      if (model) {
        const scope = get(model, 'scope');
        this.open(`body${scope ? ` scope ${JSON.stringify((scope as LScalar).value)}` : ''} {`, model, () => {
          this.steps(get(model, 'body'), 'let');
          for (const [o, e] of entries(get(model, 'outputs'))) this.line(`output ${nameText(o)} = ${isNull(e.value) ? 'null' : nameText(String((e.value as LScalar).value))}`, { line: e.keyLoc.line });
        });
      }
      const heads = get(doc, 'heads');
      if (heads && isNull(heads)) this.line('heads = null', heads);
      for (const [h, e] of entries(heads)) {
        const outputs = entries(get(e.value, 'outputs')).map(([k, v]) => `${nameText(k)}: ${nameText(String((v.value as LScalar).value))}`);
        this.line(`head ${nameText(h)} = ${this.step(e.value)}${outputs.length ? ` -> { ${outputs.join(', ')} }` : ''}`, { line: e.keyLoc.line });
      }
      const training = get(doc, 'training');
      if (training && isNull(training)) this.line('training = null', training);
      else if (training) {
        this.open('training {', training, () => {
          this.inputs(get(training, 'inputs'));
          this.steps(get(training, 'losses'), 'loss');
          this.steps(get(training, 'metrics'), 'metric');
          const optimizer = get(training, 'optimizer');
          if (optimizer) this.settings('optimizer', optimizer);
        });
      }
    });
  }
}

/**
 * The document as DSL. `fallbackName` names the model when the document has
 * model content but no name (a YAML file named by its file name).
 */
export function printDsl(doc: LMap, options: { comments?: readonly IToken[]; fallbackName?: string } = {}): string {
  const p = new Printer(options.comments ?? []);
  const bases = items(get(doc, 'extends')).map((b) => String((b as LScalar).value));
  const hasModel = MODEL_KEYS.some((k) => doc.entries.has(k));
  if (!hasModel) for (const b of bases) p.line(`import ${JSON.stringify(b)}`, get(doc, 'extends'));
  for (const [name, e] of entries(get(doc, 'blocks'))) {
    p.blank();
    p.block(name, e.value, e.keyLoc.line);
  }
  if (hasModel) {
    p.blank();
    const name = get(doc, 'name');
    p.model(doc, name ? String((name as LScalar).value) : (options.fallbackName ?? 'model'), bases);
  }
  return p.done();
}

/** The document as YAML, in the shipped files' style: steps, inputs and lists in flow style. */
export function printYaml(doc: LMap): string {
  const plain = toPlain(doc) as Record<string, unknown>;
  const ordered = Object.fromEntries(Object.entries(plain).sort(([a], [b]) => DOC_ORDER.indexOf(a) - DOC_ORDER.indexOf(b)));
  const out = new Document(ordered);
  visit(out, {
    Map(_, node) {
      const keys = node.items.map((pair) => String((pair.key as { value?: unknown }).value));
      if (keys.includes('op') || keys.includes('dtype') || keys.includes('check')) node.flow = true;
    },
    Seq(_, node) {
      if (node.items.every((item) => !isMap(item) && !isSeq(item))) node.flow = true;
    },
  });
  return out.toString({ lineWidth: 0 });
}
