// JSON with source positions, into the same located tree as YAML (LNode), so
// that an error in config.json points at its key or value. A dedicated
// parser rather than the YAML one (JSON is YAML): one pass, linear in the
// text, where the YAML library takes seconds and gigabytes of garbage on a
// config.json of megabytes.

import type { SourceLoc } from './diagnostics.js';
import { DiagnosticBag } from './diagnostics.js';
import { MAX_NESTING } from './spec.js';
import type { LMap, LNode, LScalar } from './yaml.js';

class SyntaxProblem extends Error {
  constructor(
    readonly at: number,
    message: string,
  ) {
    super(message);
  }
}

const ESCAPES: Readonly<Record<string, string>> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

class JsonReader {
  private i = 0;
  private readonly lineStarts: number[] = [0];

  constructor(
    private readonly text: string,
    private readonly file: string,
    private readonly bag: DiagnosticBag,
  ) {
    for (let k = 0; k < text.length; k++) if (text.charCodeAt(k) === 10) this.lineStarts.push(k + 1);
    if (text.charCodeAt(0) === 0xfeff) this.i = 1;
  }

  private pos(offset: number): { line: number; col: number } {
    let [lo, hi] = [0, this.lineStarts.length - 1];
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, col: offset - this.lineStarts[lo]! + 1 };
  }

  loc(start: number, end: number): SourceLoc {
    const a = this.pos(start);
    const b = this.pos(Math.max(start, end));
    return { file: this.file, line: a.line, col: a.col, endLine: b.line, endCol: b.col };
  }

  private space(): void {
    const t = this.text;
    while (this.i < t.length) {
      const c = t.charCodeAt(this.i);
      if (c !== 32 && c !== 9 && c !== 10 && c !== 13) break;
      this.i++;
    }
  }

  private expect(c: string): void {
    if (this.text[this.i] !== c) throw new SyntaxProblem(this.i, this.i >= this.text.length ? `the text ends where '${c}' is expected` : `expected '${c}', found '${this.text[this.i]}'`);
    this.i++;
  }

  document(): LNode | undefined {
    try {
      this.space();
      const root = this.value(0);
      this.space();
      if (this.i < this.text.length) throw new SyntaxProblem(this.i, 'text after the JSON value');
      return root;
    } catch (e) {
      if (!(e instanceof SyntaxProblem)) throw e;
      this.bag.error(this.loc(e.at, e.at + 1), e.message);
      return undefined;
    }
  }

  private value(depth: number): LNode {
    if (depth > MAX_NESTING) throw new SyntaxProblem(this.i, `nested more than ${MAX_NESTING} levels deep`);
    const start = this.i;
    const c = this.text[this.i];
    if (c === '{') return this.object(depth);
    if (c === '[') {
      this.i++;
      const items: LNode[] = [];
      this.space();
      if (this.text[this.i] === ']') this.i++;
      else {
        for (;;) {
          this.space();
          items.push(this.value(depth + 1));
          this.space();
          if (this.text[this.i] === ',') this.i++;
          else {
            this.expect(']');
            break;
          }
        }
      }
      return { kind: 'seq', loc: this.loc(start, this.i), items };
    }
    if (c === '"') {
      const value = this.string();
      return { kind: 'scalar', loc: this.loc(start, this.i), value };
    }
    return this.literal(start);
  }

  private object(depth: number): LMap {
    const start = this.i++;
    const entries = new Map<string, { keyLoc: SourceLoc; value: LNode }>();
    this.space();
    if (this.text[this.i] === '}') {
      this.i++;
      return { kind: 'map', loc: this.loc(start, this.i), entries };
    }
    for (;;) {
      this.space();
      const keyStart = this.i;
      if (this.text[this.i] !== '"') throw new SyntaxProblem(this.i, 'expected a key in double quotes');
      const key = this.string();
      const keyLoc = this.loc(keyStart, this.i);
      this.space();
      this.expect(':');
      this.space();
      const value = this.value(depth + 1);
      if (entries.has(key)) this.bag.error(keyLoc, `duplicate key '${key.slice(0, 80)}'`);
      else entries.set(key, { keyLoc, value });
      this.space();
      if (this.text[this.i] === ',') this.i++;
      else {
        this.expect('}');
        return { kind: 'map', loc: this.loc(start, this.i), entries };
      }
    }
  }

  private string(): string {
    const t = this.text;
    let out = '';
    let run = ++this.i;
    for (;;) {
      if (this.i >= t.length) throw new SyntaxProblem(run - 1, 'a string that does not end');
      const c = t.charCodeAt(this.i);
      if (c === 34) break;
      if (c < 32) throw new SyntaxProblem(this.i, 'a control character inside a string');
      if (c !== 92) {
        this.i++;
        continue;
      }
      out += t.slice(run, this.i);
      const e = t[this.i + 1];
      if (e === 'u') {
        const hex = t.slice(this.i + 2, this.i + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw new SyntaxProblem(this.i, 'a \\u escape needs four hexadecimal digits');
        out += String.fromCharCode(parseInt(hex, 16));
        this.i += 6;
      } else if (e !== undefined && Object.hasOwn(ESCAPES, e)) {
        out += ESCAPES[e];
        this.i += 2;
      } else throw new SyntaxProblem(this.i, `an unknown escape '\\${e ?? ''}'`);
      run = this.i;
    }
    out += t.slice(run, this.i);
    this.i++;
    return out;
  }

  private literal(start: number): LScalar {
    for (const [word, value] of [['true', true], ['false', false], ['null', null]] as const) {
      if (this.text.startsWith(word, start)) {
        this.i = start + word.length;
        return { kind: 'scalar', loc: this.loc(start, this.i), value };
      }
    }
    NUMBER.lastIndex = start;
    const m = NUMBER.exec(this.text);
    if (!m) throw new SyntaxProblem(start, start >= this.text.length ? 'the text ends where a value is expected' : `unexpected '${this.text[start]}'`);
    this.i = start + m[0].length;
    return { kind: 'scalar', loc: this.loc(start, this.i), value: Number(m[0]) };
  }
}

/** Parses JSON text into a located tree; syntax errors (and duplicate keys) go to `bag` with their positions. */
export function parseJson(text: string, file: string, bag: DiagnosticBag): LNode | undefined {
  return new JsonReader(text, file, bag).document();
}
