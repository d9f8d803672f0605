// The compiler's checks on DSL programs, each at its line and column in the
// .tcc file: unknown op or block (with a suggestion), wrong arity, unknown
// parameter or attribute, shape errors, recursive blocks, duplicate names,
// unknown values; and several errors in one run.

import { describe, expect, it } from 'vitest';
import { compileFile } from '../../compiler/compile.js';
import { CompileError } from '../../compiler/parser/diagnostics.js';
import { modelsDir, specFiles } from '../helpers/cli.js';

/** A model over the tiny BERT whose pooler is replaced by `blocks` and `body` (the pooler's steps). */
function program(blocks: string, poolerBody: string): string {
  return `${blocks}
block pooler(x) {
${poolerBody}
}

model m extends "${modelsDir()}/bert-tiny.tcc" {
  config { vocab_size = 50  hidden_size = 16  num_attention_heads = 2  intermediate_size = 32 }
  heads = null
  training = null
}
`;
}

function diagnostics(text: string): string[] {
  const file = specFiles({ 'm.tcc': text })['m.tcc']!;
  try {
    compileFile(file, { batch: 1, seq: 8 });
  } catch (e) {
    if (!(e instanceof CompileError)) throw e;
    return e.diagnostics.map((d) => `${d.loc?.line}:${d.loc?.col}: ${d.message}`);
  }
  return [];
}

const FIRST = '  let first = select(x, axis: 1, index: 0)';

describe('DSL programs through the compiler\'s checks', () => {
  it('compiles the well-formed program', () => {
    expect(diagnostics(program('', `${FIRST}\n  let out = tanh(first)\n  return out`))).toEqual([]);
  });

  it('unknown op, with a suggestion', () => {
    expect(diagnostics(program('', `${FIRST}\n  let out = tahn(first)\n  return out`))).toEqual(["4:13: unknown op 'tahn'; did you mean 'tanh'?"]);
  });

  it('unknown block in a repeat', () => {
    const text = program('', `${FIRST}\n  let out = repeat 2 { poolr(first) @ "p.{i}" }\n  return out`);
    expect(diagnostics(text)).toEqual(["4:24: unknown block 'poolr'; did you mean 'pooler'?"]);
  });

  it('wrong arity of an op and of a block', () => {
    expect(diagnostics(program('', `${FIRST}\n  let out = tanh(first, x)\n  return out`))).toEqual(["4:13: op 'tanh' takes 1 operand, got 2"]);
    const block = 'block twice(a, b) {\n  let s = add(a, b)\n  return s\n}\n';
    expect(diagnostics(program(block, `${FIRST}\n  let out = twice(first)\n  return out`))).toEqual(["8:13: block 'twice' takes 2 inputs (a, b), got 1"]);
  });

  it('unknown attribute and unknown block parameter', () => {
    expect(diagnostics(program('', `${FIRST}\n  let out = linear(first, outs: 4)\n  return out`))).toEqual(["4:27: unknown attribute 'outs' for op 'linear'; did you mean 'out'?"]);
    const block = 'block scaled(a) with (factor: float = 2.0) {\n  let s = affine(a, scale: factor)\n  return s\n}\n';
    expect(diagnostics(program(block, `${FIRST}\n  let out = scaled(first, factr: 3)\n  return out`))).toEqual(["8:27: unknown parameter 'factr' for block 'scaled'; did you mean 'factor'?"]);
  });

  it('a shape error names the op and both shapes', () => {
    const [message] = diagnostics(program('', `${FIRST}\n  let wide = linear(first, name: "w", out: 3)\n  let out = add(first, wide)\n  return out`));
    expect(message).toBe("5:13: shape error in 'out': add: shapes f32[1,16] and f32[1,3] do not broadcast");
  });

  it('recursive blocks', () => {
    const block = 'block loop(a) {\n  let b = loop(a)\n  return b\n}\n';
    expect(diagnostics(program(block, `${FIRST}\n  let out = loop(first)\n  return out`))[0]).toMatch(/^2:11: block 'loop' instantiates itself: loop → loop/);
  });

  it('unknown values and duplicate names', () => {
    expect(diagnostics(program('', `${FIRST}\n  let out = tanh(frist)\n  return out`))).toEqual(["4:18: unknown value 'frist'; did you mean 'first'?"]);
    expect(diagnostics(program('', `${FIRST}\n  let first = tanh(x)\n  return first`))).toEqual(["4:7: duplicate step 'first' (first at line 3)"]);
  });

  it('several errors in one run', () => {
    const text = program('', `${FIRST}\n  let a = tahn(first)\n  let b = linear(first, outs: 4)\n  let out = add(a, b)\n  return out`);
    expect(diagnostics(text)).toEqual(["4:11: unknown op 'tahn'; did you mean 'tanh'?", "5:25: unknown attribute 'outs' for op 'linear'; did you mean 'out'?"]);
  });
});
