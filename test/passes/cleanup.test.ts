// The clean-up passes, each shown on graphs before and after, in IR text.

import { describe, expect, it } from 'vitest';
import { interpret } from '../../compiler/ir/interpret.js';
import { parseGraph } from '../../compiler/ir/parse.js';
import { printGraph } from '../../compiler/ir/print.js';
import { hostTensor } from '../../compiler/ir/tensor.js';
import { cse } from '../../compiler/passes/cse.js';
import { dce } from '../../compiler/passes/dce.js';
import { fold } from '../../compiler/passes/fold.js';
import { simplify } from '../../compiler/passes/simplify.js';
import { dedent, expectPass, ir } from '../helpers/ir.js';

describe('IR text', () => {
  it('reads back what it prints', () => {
    const text = dedent(`
      graph g (train; batch=2) {
        %0: i32[2,3] = input "ids"
        %1: f32[10,4] = param "table" {std=0.5}  # emb
        %2: f32[2,3,4] = gather(%1, %0)  # emb
        %3: f32[2,4,3] = transpose(%2) {perm=[0,2,1]}
        %4: f32[2,4] = sum(%3) {axes=[2]}
        %5: f32[2,4] = dropout(%4) {rate=0.1, stream=3}
        return y=%5
      }`);
    expect(printGraph(parseGraph(text))).toBe(text);
  });

  it('rejects a stated type the op does not give', () => {
    expect(() => ir(`
      graph g (infer) {
        %0: f32[2,3] = input "x"
        %1: f32[3,2] = neg(%0)
        return y=%1
      }`)).toThrow(/line 3: stated f32\[3,2\] but neg gives f32\[2,3\]/);
  });
});

describe('dce', () => {
  it('drops what no output needs, keeps inputs and parameters', () => {
    expectPass(dce, `
      graph g (infer) {
        %0: f32[4] = input "x"
        %1: f32[4] = param "unused"
        %2: f32[4] = exp(%0)
        %3: f32[4] = neg(%0)
        return y=%3
      }`, `
      graph g (infer) {
        %0: f32[4] = input "x"
        %1: f32[4] = param "unused"
        %2: f32[4] = neg(%0)
        return y=%2
      }`);
  });
});

describe('cse', () => {
  it('merges identical nodes and what then becomes identical', () => {
    expectPass(cse, `
      graph g (train) {
        %0: f32[4] = input "x"
        %1: f32[4] = exp(%0)
        %2: f32[4] = exp(%0)
        %3: f32[4] = dropout(%1) {rate=0.1, stream=2}
        %4: f32[4] = dropout(%2) {rate=0.1, stream=2}
        %5: f32[4] = dropout(%2) {rate=0.1, stream=3}
        %6: f32[4] = add(%3, %4)
        %7: f32[4] = add(%6, %5)
        return y=%7
      }`, `
      graph g (train) {
        %0: f32[4] = input "x"
        %1: f32[4] = exp(%0)
        %2: f32[4] = dropout(%1) {rate=0.1, stream=2}
        %3: f32[4] = dropout(%1) {rate=0.1, stream=3}
        %4: f32[4] = add(%2, %2)
        %5: f32[4] = add(%4, %3)
        return y=%5
      }`);
  });
});

describe('fold', () => {
  it('evaluates ops of constants into constants, and stops where values are not uniform', () => {
    expectPass(fold, `
      graph g (infer) {
        %0: f32[2,3] = input "x"
        %1: f32[] = fill {value=2}
        %2: f32[] = fill {value=0.5}
        %3: f32[] = mul(%1, %2)
        %4: f32[3] = broadcast(%3) {shape=[3]}
        %5: f32[3] = exp(%4)
        %6: f32[5] = pad(%4) {axis=0, before=1, after=1}
        %7: f32[2,3] = add(%0, %5)
        return y=%7, z=%6
      }`, `
      graph g (infer) {
        %0: f32[2,3] = input "x"
        %1: f32[] = fill {value=2}
        %2: f32[] = fill {value=0.5}
        %3: f32[] = fill {value=1}
        %4: f32[3] = fill {value=1, shape=[3]}
        %5: f32[3] = fill {value=2.718281828459045, shape=[3]}
        %6: f32[5] = pad(%4) {axis=0, before=1, after=1}
        %7: f32[2,3] = add(%0, %5)
        return y=%7, z=%6
      }`);
  });

  it('leaves dropout of a constant alone: its draws are not a constant', () => {
    const g = fold(ir(`
      graph g (train) {
        %0: f32[4] = fill {value=1, shape=[4]}
        %1: f32[4] = dropout(%0) {rate=0.5}
        return y=%1
      }`));
    expect(g.nodes.map((n) => n.op)).toEqual(['fill', 'dropout']);
  });
});

describe('simplify', () => {
  it('rewrites identities away', () => {
    const after = dce(simplify(ir(`
      graph g (infer) {
        %0: f32[2,3,4] = input "x"
        %1: f32[] = fill {value=1}
        %2: f32[] = fill {value=0}
        %3: f32[2,3,4] = mul(%0, %1)
        %4: f32[2,3,4] = add(%2, %3)
        %5: f32[2,4,3] = transpose(%4) {perm=[0,2,1]}
        %6: f32[3,2,4] = transpose(%5) {perm=[2,0,1]}
        %7: f32[6,4] = reshape(%6) {shape=[6,4]}
        %8: f32[24] = reshape(%7) {shape=[24]}
        %9: f32[24] = affine(%8) {scale=2, shift=1}
        %10: f32[24] = affine(%9) {scale=0.5, shift=-0.5}
        %11: f32[24] = neg(%10)
        %12: f32[24] = neg(%11)
        return y=%12
      }`)));
    expect(printGraph(after)).toBe(dedent(`
      graph g (infer) {
        %0: f32[2,3,4] = input "x"
        %1: f32[3,2,4] = transpose(%0) {perm=[1,0,2]}
        %2: f32[24] = reshape(%1) {shape=[24]}
        return y=%2
      }`));
  });

  it('joins side-by-side pads into one concatenation, and sums it part by part (the fused projection\'s gradient)', () => {
    const before = ir(`
      graph g (infer) {
        %0: f32[2,3,4] = input "q"
        %1: f32[2,3,4] = input "k"
        %2: f32[2,3,4] = input "v"
        %3: f32[2,3,12] = pad(%2) {axis=2, before=8}
        %4: f32[2,3,12] = pad(%1) {axis=2, before=4, after=4}
        %5: f32[2,3,12] = add(%3, %4)
        %6: f32[2,3,12] = pad(%0) {axis=2, after=8}
        %7: f32[2,3,12] = add(%5, %6)
        %8: f32[1,1,12] = sum(%7) {axes=[0,1], keepdims=true}
        %9: f32[12] = sum(%7) {axes=[0,1]}
        %10: f32[2,3,12] = add(%3, %6)
        return d=%7, bias=%8, flat=%9, gap=%10
      }`);
    const after = dce(simplify(before));
    // Pads with a gap between them stay as they are.
    expect(printGraph(after)).toBe(dedent(`
      graph g (infer) {
        %0: f32[2,3,4] = input "q"
        %1: f32[2,3,4] = input "k"
        %2: f32[2,3,4] = input "v"
        %3: f32[2,3,12] = pad(%2) {axis=2, before=8}
        %4: f32[2,3,12] = pad(%0) {axis=2, after=8}
        %5: f32[2,3,12] = concat(%0, %1, %2) {axis=2}
        %6: f32[1,1,4] = sum(%0) {axes=[0,1], keepdims=true}
        %7: f32[1,1,4] = sum(%1) {axes=[0,1], keepdims=true}
        %8: f32[1,1,4] = sum(%2) {axes=[0,1], keepdims=true}
        %9: f32[1,1,12] = concat(%6, %7, %8) {axis=2}
        %10: f32[4] = sum(%0) {axes=[0,1]}
        %11: f32[4] = sum(%1) {axes=[0,1]}
        %12: f32[4] = sum(%2) {axes=[0,1]}
        %13: f32[12] = concat(%10, %11, %12) {axis=0}
        %14: f32[2,3,12] = add(%3, %4)
        return d=%5, bias=%9, flat=%13, gap=%14
      }`));
    // The float64 interpreter's values, before and after.
    const inputs = Object.fromEntries(['q', 'k', 'v'].map((name, i) => [name, hostTensor('f32', [2, 3, 4], Float64Array.from({ length: 24 }, (_, j) => Math.sin(7 * i + j) * 3))]));
    const [a, b] = [interpret(before, inputs, {}), interpret(after, inputs, {})];
    for (const name of ['d', 'bias', 'flat', 'gap']) expect(Array.from(b[name]!.data), name).toEqual(Array.from(a[name]!.data));
  });

  it('keeps a broadcast that changes the shape', () => {
    expectPass(simplify, `
      graph g (infer) {
        %0: f32[4] = input "x"
        %1: f32[3,4] = fill {value=0, shape=[3,4]}
        %2: f32[3,4] = add(%0, %1)
        return y=%2
      }`, `
      graph g (infer) {
        %0: f32[4] = input "x"
        %1: f32[3,4] = fill {value=0, shape=[3,4]}
        %2: f32[3,4] = add(%0, %1)
        return y=%2
      }`);
  });
});
