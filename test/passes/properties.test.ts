// Every pass preserves what the float64 interpreter computes, on random
// graphs (fast-check): the same outputs, to rounding where a rewrite
// reassociates (an affine of an affine).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Graph } from '../../compiler/ir/graph.js';
import { interpret } from '../../compiler/ir/interpret.js';
import { verifyGraph } from '../../compiler/ir/verify.js';
import { cse } from '../../compiler/passes/cse.js';
import { dce } from '../../compiler/passes/dce.js';
import { fold } from '../../compiler/passes/fold.js';
import { compileFile } from '../../compiler/compile.js';
import { fuse } from '../../compiler/passes/fuse.js';
import { buildProgram } from '../../compiler/program.js';
import { openSession } from '../../runtime/session.js';
import { simplify } from '../../compiler/passes/simplify.js';
import { arbitraryProgram, feedsFor, graphFromProgram } from '../helpers/random-graph.js';

/** The worst relative difference between two runs' outputs. */
export function outputsDiffer(a: Graph, b: Graph, seed: number): number {
  const { inputs, params } = feedsFor(a, seed);
  const run = { seed: 7, step: 3 };
  const x = interpret(a, inputs, params, run);
  const y = interpret(b, inputs, params, run);
  let worst = 0;
  for (const name of Object.keys(x)) {
    const [u, v] = [x[name]!.data, y[name]!.data];
    expect(v.length, name).toBe(u.length);
    for (let i = 0; i < u.length; i++) {
      if (Number.isNaN(u[i]!) && Number.isNaN(v[i]!)) continue;
      worst = Math.max(worst, Math.abs(u[i]! - v[i]!) / (1e-12 + Math.abs(u[i]!)));
    }
  }
  return worst;
}

const PASSES: readonly [string, (g: Graph) => Graph][] = [['simplify', simplify], ['fold', fold], ['cse', cse], ['dce', dce]];

describe.each(PASSES)('%s', (_name, pass) => {
  it('preserves the interpreter\'s results on random graphs', () => {
    fc.assert(
      fc.property(arbitraryProgram, fc.constantFrom('infer' as const, 'train' as const), (program, mode) => {
        const g = graphFromProgram(program, mode);
        verifyGraph(g);
        const after = pass(g);
        verifyGraph(after);
        expect(outputsDiffer(g, after, program.length)).toBeLessThan(1e-12);
      }),
      { numRuns: 200 },
    );
  });
});

describe('fuse', () => {
  it('gives programs that compute the interpreter\'s results on random graphs', async () => {
    await fc.assert(
      fc.asyncProperty(arbitraryProgram, fc.constantFrom('infer' as const, 'train' as const), async (program, mode) => {
        const g = cse(simplify(graphFromProgram(program, mode)));
        const fused = fuse(g);
        verifyGraph(fused);
        const { inputs, params } = feedsFor(g, program.length);
        const want = interpret(g, inputs, params, { seed: 7, step: 3 });
        const session = await openSession(buildProgram(fused));
        session.setParams(Object.fromEntries(Object.entries(params).map(([k, v]) => [k, v.data])));
        const got = await session.run(Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, Float32Array.from(v.data)])), { seed: 7, step: 3 });
        for (const [name, t] of Object.entries(want)) {
          let scale = 1e-6;
          for (const v of t.data) scale = Math.max(scale, Math.abs(v));
          for (let i = 0; i < t.data.length; i++) expect(Math.abs(got[name]!.data[i]! - t.data[i]!), `${name}[${i}]`).toBeLessThanOrEqual(1e-4 * scale);
        }
      }),
      { numRuns: 80 },
    );
  });

  it('computes the clipped gradient inside the moments\' kernel: an in-place concatenation costs nothing to read', () => {
    const { graph } = compileFile('models/bert-tiny.yaml', { mode: 'train', batch: 2, seq: 8 });
    const stored = new Set(graph.schedule!.flatMap((k) => k.stored));
    // g · min(1, clip / (‖g‖ + ε)) over each parameter group's concatenated gradients.
    const clipped = graph.nodes.filter((n) => n.op === 'mul' && graph.nodes[n.args[1]!]!.op === 'minimum');
    expect(clipped.length).toBe(2);
    for (const n of clipped) expect(stored.has(n.id), `%${n.id}`).toBe(false);
  });
});
