// Attention fusion: the composed attention of the spec library becomes one
// op, with its dropout stream; a probability with another use stays as it
// is; and the rewrite computes what the composed graph does, dropout
// included (the same draws).

import { describe, expect, it } from 'vitest';
import { interpret } from '../../compiler/ir/interpret.js';
import { fuseAttention } from '../../compiler/passes/fuse-attention.js';
import { expectPass, ir } from '../helpers/ir.js';
import { feedsFor } from '../helpers/random-graph.js';

const COMPOSED = `
  graph g (train) {
    %0: f32[2,3,5,4] = input "x0"
    %1: f32[2,3,5,4] = input "x1"
    %2: f32[2,3,5,4] = input "x2"
    %3: f32[2,1,1,5] = input "x3"
    %4: f32[2,3,5,5] = matmul(%0, %1) {transpose_b=true}
    %5: f32[2,3,5,5] = affine(%4) {scale=0.5}
    %6: f32[2,3,5,5] = add(%5, %3)
    %7: f32[2,3,5,5] = softmax(%6)
    %8: f32[2,3,5,5] = dropout(%7) {rate=0.1, stream=7}
    %9: f32[2,3,5,4] = matmul(%8, %2)
    return y=%9
  }`;

describe('fuse-attention', () => {
  it('rewrites scaled, masked softmax attention with dropout into one op', () => {
    expectPass(fuseAttention, COMPOSED, `
      graph g (train) {
        %0: f32[2,3,5,4] = input "x0"
        %1: f32[2,3,5,4] = input "x1"
        %2: f32[2,3,5,4] = input "x2"
        %3: f32[2,1,1,5] = input "x3"
        %4: f32[2,3,5,4] = attention(%0, %1, %2, %3) {scale=0.5, rate=0.1, stream=7}
        return y=%4
      }`);
  });

  it('leaves the probabilities alone when something else reads them', () => {
    const text = COMPOSED.replace('return y=%9', 'return y=%9, probs=%7');
    expect(fuseAttention(ir(text)).nodes.some((n) => n.op === 'attention')).toBe(false);
  });

  it('computes what the composed attention computes, dropout draws included', () => {
    const before = ir(COMPOSED);
    const after = fuseAttention(before);
    const { inputs, params } = feedsFor(before, 5);
    const run = { seed: 11, step: 4 };
    const [a, b] = [interpret(before, inputs, params, run)['y']!, interpret(after, inputs, params, run)['y']!];
    for (let i = 0; i < a.data.length; i++) expect(b.data[i]).toBeCloseTo(a.data[i]!, 12);
  });
});
