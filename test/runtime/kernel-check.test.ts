// The kernel check on the kernels that ops without a kind of their own
// lower to (compiler/lower/expand.ts): a scatter-add's ordered map, whose
// stores go where token ids say, and a loss's reductions into working space.

import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../compiler/ir/graph.js';
import { buildProgram } from '../../compiler/program.js';
import { checkKernel, KernelCheckError } from '../../runtime/kernel-check.js';
import type { MapKernel } from '../../kernel/ir.js';

function scatterProgram() {
  const g = new GraphBuilder('scatter', 'infer', {});
  const ids = g.add('input', [], { name: 'ids', dtype: 'i32', shape: [6] }).id;
  const values = g.add('input', [], { name: 'values', dtype: 'f32', shape: [6, 3] }).id;
  g.output('table', g.add('scatter_add', [ids, values], { rows: 5 }).id);
  return buildProgram(g.build());
}

describe('the kernel check of expanded ops', () => {
  it('passes a scatter-add (a zeroing map, then a map ordered along the ids) and refuses one edited to order more axes than it has', () => {
    const { kernels } = scatterProgram();
    expect(kernels.map((k) => [k.kind, (k as MapKernel).ordered ?? 0])).toEqual([['map', 0], ['map', 1]]);
    for (const k of kernels) expect(() => checkKernel(k, 1 << 20)).not.toThrow();
    const edited = { ...(kernels[1] as MapKernel), ordered: 3 };
    expect(() => checkKernel(edited, 1 << 20)).toThrow(KernelCheckError);
    expect(() => checkKernel(edited, 1 << 20)).toThrow(/it orders 3 axes of a 2-axis space/);
  });

  it('refuses a scatter-add whose ids are no longer clamped to the table', () => {
    const map = scatterProgram().kernels[1] as MapKernel;
    const store = map.stores[0]!;
    // The row index without its max/min: a token id could place the store anywhere.
    const unclamp = (e: any): any => (e.op === 'binary' && (e.fn === 'max' || e.fn === 'min') && e.type === 'i32' ? unclamp(e.a) : e.op === 'binary' ? { ...e, a: unclamp(e.a), b: unclamp(e.b) } : e);
    const edited: MapKernel = { ...map, stores: [{ ...store, index: unclamp(store.index) }] };
    expect(() => checkKernel(edited, 1 << 20)).toThrow(/reaches \[-Infinity, Infinity\]/);
  });
});
