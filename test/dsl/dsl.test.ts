// The text DSL: the DSL form of every shipped model compiles to the IR text
// of its YAML form; formatting is idempotent and never changes the parsed
// document; syntax and DSL-level errors come out located, several per run;
// garbled files always give diagnostics, never an exception.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileFile } from '../../compiler/compile.js';
import { parseDsl } from '../../compiler/dsl/document.js';
import { printDsl } from '../../compiler/dsl/print.js';
import { printGraph } from '../../compiler/ir/print.js';
import { CompileError, DiagnosticBag } from '../../compiler/parser/diagnostics.js';
import { toPlain } from '../../compiler/parser/yaml.js';
import { modelsDir, specFiles, tcc } from '../helpers/cli.js';

const MODELS = readdirSync('models').filter((f) => f.endsWith('.yaml')).map((f) => f.replace(/\.yaml$/, ''));
const DSL_FILES = [...MODELS.map((m) => join('models', `${m}.tcc`)), join('models', 'lib', 'bert.tcc'), ...readdirSync('models/variants').map((f) => join('models', 'variants', f))];

function parse(text: string, file = 'x.tcc') {
  const bag = new DiagnosticBag();
  const parsed = parseDsl(text, file, bag);
  return { ...parsed, errors: bag.items.map((d) => `${d.loc ? `${d.loc.line}:${d.loc.col}: ` : ''}${d.message}`) };
}

describe('the DSL forms of the shipped models', () => {
  it.each(MODELS)('%s: the DSL and YAML forms compile to the same IR', (model) => {
    for (const mode of ['infer', 'train'] as const) {
      if (mode === 'train' && model === 'bert-base-encoder') continue; // no training section
      const options = { batch: 2, seq: 16, mode };
      const yaml = printGraph(compileFile(join('models', `${model}.yaml`), options).graph);
      const dsl = printGraph(compileFile(join('models', `${model}.tcc`), options).graph);
      expect(dsl).toBe(yaml);
    }
  });

  it.each(DSL_FILES)('%s is formatted, and formatting keeps its document', (file) => {
    const text = readFileSync(file, 'utf8');
    const first = parse(text, file);
    expect(first.errors).toEqual([]);
    const formatted = printDsl(first.root!, { comments: first.comments });
    expect(formatted).toBe(text);
    const again = parse(formatted, file);
    expect(toPlain(again.root!)).toEqual(toPlain(first.root!));
  });
});

describe('tcc fmt and convert', () => {
  it('formats a messy file to canonical form, idempotently, with the same meaning', async () => {
    const messy = `// a small model\nmodel "tiny-dsl"   extends "${modelsDir()}/bert-tiny.tcc"{config{hidden_size=64 num_attention_heads = 4
intermediate_size= 128 }
  /* no pretraining heads */ heads=null training = null }\n`;
    const file = specFiles({ 'm.tcc': messy })['m.tcc']!;
    const before = printGraph(compileFile(file, { batch: 1, seq: 8 }).graph);
    expect((await tcc('fmt', '--check', file)).code).toBe(1);
    expect((await tcc('fmt', file)).code).toBe(0);
    const formatted = readFileSync(file, 'utf8');
    expect(formatted).toBe(`// a small model\nmodel "tiny-dsl" extends "${modelsDir()}/bert-tiny.tcc" {\n  config {\n    hidden_size = 64\n    num_attention_heads = 4\n    intermediate_size = 128\n  }\n  /* no pretraining heads */\n  heads = null\n  training = null\n}\n`);
    expect((await tcc('fmt', '--check', file)).code).toBe(0);
    expect(printGraph(compileFile(file, { batch: 1, seq: 8 }).graph)).toBe(before);
  });

  it('keeps a parameter\'s declared type', () => {
    const text = 'block scaled(a) with (factor: float = 2, n: int = 3) {\n  let s = affine(a, scale: factor)\n  return s\n}\n';
    const { root, comments } = parse(text);
    expect(printDsl(root!, { comments })).toBe(text);
  });

  it('converts YAML to DSL and back with the same IR', async () => {
    const yamlFile = specFiles({ 'c.yaml': `extends: ${modelsDir()}/bert-base-classifier.yaml\nconfig: {hidden_size: 32, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 64}\n` })['c.yaml']!;
    const dsl = await tcc('convert', yamlFile, '--to', 'tcc');
    expect(dsl.code).toBe(0);
    expect(dsl.stdout).toContain('model c extends');
    const dslFile = specFiles({ 'c.tcc': dsl.stdout })['c.tcc']!;
    const yaml = await tcc('convert', dslFile, '--to', 'yaml');
    expect(yaml.code).toBe(0);
    const yamlBack = specFiles({ 'c.yaml': yaml.stdout })['c.yaml']!;
    const ir = (f: string) => printGraph(compileFile(f, { batch: 2, seq: 8, mode: 'train' }).graph);
    expect(ir(dslFile)).toBe(ir(yamlFile));
    expect(ir(yamlBack)).toBe(ir(yamlFile));
  });
});

describe('DSL diagnostics', () => {
  const BLOCK = (body: string) => `block b(x) {\n${body}\n  return x\n}\n`;

  it('locate syntax errors and go on after them', () => {
    const { errors } = parse('block b(x) {\n  let y = linear(x, out: )\n  let z = tanh(y\n  return z\n}\n');
    expect(errors).toEqual(["2:26: expected a value but found ')'", "4:3: expected ')' but found 'return'"]);
  });

  it('report a name given twice, at the second', () => {
    expect(parse(BLOCK('  let y = tanh(x)\n  let y = relu(x)')).errors).toEqual(["3:7: duplicate step 'y' (first at line 2)"]);
    expect(parse(BLOCK('  let y = linear(x, out: 2, out: 3)')).errors).toEqual(["2:29: duplicate argument 'out' (first at line 2)"]);
    expect(parse(`${BLOCK('')}${BLOCK('')}`).errors).toEqual(["5:7: duplicate block 'b' (first at line 1)"]);
  });

  it('check parameter types and reserved argument names', () => {
    expect(parse('block b(x) with (n: int = 2.5) {\n  return x\n}\n').errors).toEqual(["1:27: the default of 'n' is not an int"]);
    expect(parse('block b(x) with (n: integer = 2) {\n  return x\n}\n').errors).toEqual(["1:21: unknown parameter type 'integer' (int, float, string or bool)"]);
    expect(parse(BLOCK('  let y = linear(x, scope: "a")')).errors).toEqual(['2:21: a step\'s scope is written after it: f(x) @ "scope"']);
  });

  it('reach the compiler\'s own checks with positions in the .tcc file', () => {
    const file = specFiles({ 'm.tcc': `model m extends "${modelsDir()}/bert-tiny.tcc" {\n  config { hidden_size = 101 }\n}\n` })['m.tcc']!;
    try {
      compileFile(file, { batch: 1, seq: 8 });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(CompileError);
      const d = (e as CompileError).diagnostics[0]!;
      expect(d.loc).toMatchObject({ file, line: 2, col: 26 });
    }
  });

  it('come from garbled files, never an exception (deletions, insertions, truncations)', () => {
    const library = readFileSync('models/lib/bert.tcc', 'utf8');
    const edit = fc.oneof(
      fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 12 }) }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), length: fc.constant(0), text: fc.constantFrom('{', '}', '(', ')', '[', ']', ',', ':', '=', '@', '"', "'", 'let ', 'block ', 'return', 'null', '->', '/*', '//', '\n', 'x', '0', '-', '==') }),
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat(), length: fc.constant(0) }),
    );
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 4 }), (edits) => {
        let text = library;
        for (const e of edits) {
          const at = e.at % (text.length + 1);
          if (e.kind === 'delete') text = text.slice(0, at) + text.slice(at + e.length);
          else if (e.kind === 'insert') text = text.slice(0, at) + (e as { text: string }).text + text.slice(at);
          else text = text.slice(0, at);
        }
        const { root, errors } = parse(text);
        if (!root) expect(errors.length).toBeGreaterThan(0);
      }),
      // npm run fuzz mutates the DSL specs far longer; here, enough to catch a parser that throws.
      { numRuns: 2_500 },
    );
  });
});
