// Formatting generated DSL programs (fast-check): random declarations, values
// and expressions, written with random spacing and line breaks. Formatting is
// idempotent and the formatted text parses to the same document.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDsl } from '../../compiler/dsl/document.js';
import { KEYWORD_NAMES } from '../../compiler/dsl/grammar.js';
import { printDsl } from '../../compiler/dsl/print.js';
import { DiagnosticBag } from '../../compiler/parser/diagnostics.js';
import { toPlain } from '../../compiler/parser/yaml.js';

const name = fc.stringMatching(/^[a-z_][a-z0-9_]{0,6}$/).filter((n) => !KEYWORD_NAMES.has(n));
const names = (min: number, max: number) => fc.uniqueArray(name, { minLength: min, maxLength: max });
const space = fc.constantFrom(' ', '  ', '\n', '\n\n    ', '\t', ' \n ');
const number = fc.oneof(fc.integer({ min: -1e6, max: 1e6 }), fc.double({ min: -1e9, max: 1e9, noNaN: true }).filter((x) => !Object.is(x, -0)));
const expression = fc.tuple(name, fc.constantFrom('+', '-', '*', '/', '%', '==', '<='), fc.oneof(name, fc.integer({ min: 0, max: 99 }).map(String))).map(([a, op, b]) => `${a} ${op} ${b}`);
const scalar = fc.oneof(number.map(String), fc.string({ maxLength: 8 }).map((s) => JSON.stringify(s)), name, expression, fc.constantFrom('true', 'false'));
const value = fc.oneof(scalar, fc.array(fc.oneof(number.map(String), fc.string({ maxLength: 4 }).map((s) => JSON.stringify(s))), { maxLength: 3 }).map((xs) => `[${xs.join(', ')}]`));

/** `op(inputs, attr: value) @ "scope"` with random spacing. */
const call = fc.record({ op: name, inputs: names(0, 3), attrs: fc.uniqueArray(fc.tuple(name, value), { maxLength: 3, selector: ([k]) => k }), scope: fc.option(fc.string({ maxLength: 6 })), gap: space })
  .filter(({ inputs, attrs }) => attrs.every(([k]) => !inputs.includes(k) && !['op', 'in', 'scope', 'outputs'].includes(k)))
  .map(({ op, inputs, attrs, scope, gap }) => `${op}(${[...inputs, ...attrs.map(([k, v]) => `${k}:${gap}${v}`)].join(`,${gap}`)})${scope === null ? '' : ` @ ${JSON.stringify(scope)}`}`);

const lets = (gap: string) => names(1, 4).chain((ns) => fc.tuple(...ns.map(() => call)).map((calls) => ns.map((n, i) => `let ${n} =${gap}${calls[i]}`).join(gap)));

const block = (blockName: string) => fc.tuple(names(0, 3), space).chain(([inputs, gap]) =>
  fc.tuple(lets(gap), fc.option(fc.tuple(name, fc.integer({ min: 0, max: 9 })))).map(
    ([body, param]) => `block ${blockName}(${inputs.join(', ')})${param ? ` with (${param[0]}: int = ${param[1]})` : ''} {${gap}${body}${gap}return ${inputs[0] ?? 'x'}${gap}}`,
  ),
);

const model = fc.tuple(name, fc.uniqueArray(fc.tuple(name, value), { maxLength: 5, selector: ([k]) => k }), space, names(0, 2)).chain(([modelName, config, gap, inputs]) =>
  fc.tuple(lets(gap), fc.option(call), fc.option(fc.string({ maxLength: 10 }))).map(([body, head, description]) => [
    `model ${modelName} extends "base.tcc" {`,
    description === null ? '' : `description ${JSON.stringify(description)}`,
    `config {${config.map(([k, v]) => `${gap}${k} = ${v}`).join('')} }`,
    ...inputs.map((i) => `input ${i}: i32[batch, seq]`),
    `body scope "m" {${gap}${body}${gap}}`,
    head === null ? 'heads = null' : `head h = ${head} -> { out: x }`,
    '}',
  ].join(gap)),
);

const blocks = names(0, 2).chain((ns) => fc.tuple(...ns.map(block)));
const programText = fc.tuple(blocks, fc.option(model), fc.option(fc.constantFrom('// a comment', '/* a block\n comment */')))
  .map(([blocks, m, comment]) => [comment ?? '', ...blocks, m ?? ''].join('\n'));

function parse(text: string) {
  const bag = new DiagnosticBag();
  const parsed = parseDsl(text, 'g.tcc', bag);
  return { ...parsed, errors: bag.items.map((d) => `${d.loc?.line}:${d.loc?.col}: ${d.message}`) };
}

describe('formatting generated programs', () => {
  it('is idempotent and keeps the document', () => {
    fc.assert(
      fc.property(programText, (text) => {
        const first = parse(text);
        expect(first.errors).toEqual([]);
        const formatted = printDsl(first.root!, { comments: first.comments, fallbackName: 'g' });
        const second = parse(formatted);
        expect(second.errors).toEqual([]);
        expect(toPlain(second.root!)).toEqual(toPlain(first.root!));
        expect(printDsl(second.root!, { comments: second.comments, fallbackName: 'g' })).toBe(formatted);
      }),
      { numRuns: 1000 },
    );
  });
});
