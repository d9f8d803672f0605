// Memory planning: on random graphs (fused or not, inference or training)
// the checker accepts every plan the planner makes, a deliberately
// corrupted plan is rejected, and planned programs compute what unplanned
// ones do (ModernBERT's training step among them). Updates of parameters and
// moments are computed in place.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileFile } from '../../compiler/compile.js';
import type { Graph } from '../../compiler/ir/graph.js';
import { lowerToKernels } from '../../compiler/lower/lower.js';
import { cse } from '../../compiler/passes/cse.js';
import { fuse } from '../../compiler/passes/fuse.js';
import { checkPlan, PlanError, planMemory, type MemoryPlan } from '../../compiler/kernel-passes/plan-memory.js';
import { simplify } from '../../compiler/passes/simplify.js';
import { buildProgram } from '../../compiler/program.js';
import { arbitraryProgram, graphFromProgram } from '../helpers/random-graph.js';
import { runOnce, worstDifference } from '../helpers/programs.js';

/**
 * Moves one live arena allocation onto another one live at the same time, if
 * there is such a pair. An allocation is a buffer with those computed in
 * place over it (their lifetimes are the plan's merged one), so all of them
 * move: moving the first alone may put it where nothing else is live by then.
 */
function corrupt(plan: MemoryPlan): MemoryPlan | undefined {
  const live = plan.lifetimes.map((l, id) => ({ id, l })).filter((x): x is { id: number; l: [number, number] } => x.l !== undefined && plan.alias[x.id] === x.id);
  for (const a of live) {
    for (const b of live) {
      if (a.id !== b.id && a.l[0] <= b.l[1] && b.l[0] <= a.l[1]) {
        const offsets = plan.offsets.map((o, id) => (plan.alias[id] === b.id ? plan.offsets[a.id]! : o));
        return { ...plan, offsets };
      }
    }
  }
  return undefined;
}

const arbitraryGraph = fc.tuple(arbitraryProgram, fc.constantFrom('infer' as const, 'train' as const), fc.boolean()).map(([program, mode, fused]) => {
  const g = cse(simplify(graphFromProgram(program, mode)));
  return fused ? fuse(g) : g;
});

describe('memory planning', () => {
  it('makes plans the checker accepts, and the checker rejects a corrupted one', () => {
    let corrupted = 0;
    fc.assert(
      fc.property(arbitraryGraph, (g: Graph) => {
        const lowered = lowerToKernels(g);
        const plan = planMemory(lowered);
        checkPlan(lowered, plan);
        expect(plan.arenaBytes).toBeGreaterThanOrEqual(plan.lowerBoundBytes);
        const bad = corrupt(plan);
        if (bad) {
          expect(() => checkPlan(lowered, bad)).toThrow(PlanError);
          corrupted++;
        }
      }),
      { numRuns: 300 },
    );
    expect(corrupted).toBeGreaterThan(50);
  });

  it('gives programs that compute what unplanned ones compute', async () => {
    await fc.assert(
      fc.asyncProperty(arbitraryGraph, async (g: Graph) => {
        const worst = worstDifference(await runOnce(buildProgram(g, { check: true })), await runOnce(buildProgram(g, { plan: false })), 1e-6);
        expect(worst.ratio, worst.where).toBeLessThanOrEqual(1);
      }),
      { numRuns: 60 },
    );
  });

  it('computes the updates of parameters and moments in place: no copies after a training step', async () => {
    const { graph } = compileFile('models/bert-tiny.yaml', { batch: 2, seq: 8, mode: 'train', config: { vocab_size: 50 } });
    const planned = buildProgram(graph, { check: true });
    const unplanned = buildProgram(graph, { plan: false });
    expect(unplanned.program.updates.length).toBeGreaterThan(30);
    expect(planned.program.updates).toEqual([]);
    expect(planned.plan.arenaBytes).toBeLessThan(unplanned.plan.arenaBytes / 2);
    const worst = worstDifference(await runOnce(planned), await runOnce(unplanned), 1e-6);
    expect(worst.ratio, worst.where).toBeLessThanOrEqual(1);
  });

  it("never computes a value over one that a later store of the same kernel reads (ModernBERT's layer norm gradients)", async () => {
    // Its pre-norm layer norm's backward writes two values, each in the place of one it reads; the second reads the first's.
    const config = { vocab_size: 40, hidden_size: 16, num_hidden_layers: 3, num_attention_heads: 2, intermediate_size: 24, local_attention: 4, global_attn_every_n_layers: 2 };
    const { graph } = compileFile('models/modernbert.yaml', { batch: 2, seq: 8, mode: 'train', maxPredictions: 3, config });
    const worst = worstDifference(await runOnce(buildProgram(graph, { check: true })), await runOnce(buildProgram(graph, { plan: false })), 1e-6);
    expect(worst.ratio, worst.where).toBeLessThanOrEqual(1);
  });
});
