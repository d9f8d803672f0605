// Which matmul kernel each shape gets, and that the sized op-table cases
// exercise both: the tiled kernel for products of many tiles, the direct one
// for small products.

import { describe, expect, it } from 'vitest';
import { chooseVariant } from '../../backends/webgpu/matmul.js';
import { GraphBuilder } from '../../compiler/ir/graph.js';
import { lowerToKernels } from '../../compiler/lower/lower.js';
import type { MatmulKernel } from '../../kernel/ir.js';
import { SIZED_CASES } from './op-table.js';

function kernelOf(shapes: readonly (readonly number[])[], attrs: { transpose_a: boolean; transpose_b: boolean }): MatmulKernel {
  const g = new GraphBuilder('m', 'infer', {});
  const [a, b] = shapes.map((shape, i) => g.add('input', [], { name: `x${i}`, dtype: 'f32', shape: [...shape] }));
  g.output('y', g.add('matmul', [a!.id, b!.id], attrs).id);
  return lowerToKernels(g.build()).kernels.find((k) => k.kind === 'matmul') as MatmulKernel;
}

describe('WGSL matmul variants', () => {
  it('tiles large products and runs small ones directly', () => {
    const plain = { transpose_a: false, transpose_b: false };
    expect(chooseVariant(kernelOf([[128, 768], [768, 768]], plain))).toBe('tiled');
    expect(chooseVariant(kernelOf([[9, 768], [768, 30522]], plain))).toBe('direct');
    expect(chooseVariant(kernelOf([[16, 768], [768, 30522]], plain))).toBe('tiled');
    expect(chooseVariant(kernelOf([[9, 768], [768, 768]], plain))).toBe('direct');
    expect(chooseVariant(kernelOf([[12, 16, 64], [12, 64, 16]], plain))).toBe('direct');
  });

  it('has op-table cases for both', () => {
    const variants = SIZED_CASES.filter((c) => c.op === 'matmul').map((c) => chooseVariant(kernelOf(c.operands.map((o) => o.shape), c.attrs as { transpose_a: boolean; transpose_b: boolean })));
    expect(variants.filter((v) => v === 'tiled').length).toBeGreaterThanOrEqual(6);
    expect(variants).toContain('direct');
  });
});
