// The rotary-tables rewrite against rotary computed per element: ModernBERT
// (two bases) and its training step give the same values in the float64
// interpreter with the rewrite (fused) and without it (unfused), and every
// layer of a base shares one table.

import { describe, expect, it } from 'vitest';
import { compileFile } from '../../compiler/compile.js';
import { interpret } from '../../compiler/ir/interpret.js';
import { interpreterFeeds } from '../helpers/programs.js';

const SMALL = { vocab_size: 40, hidden_size: 16, num_hidden_layers: 4, num_attention_heads: 2, intermediate_size: 24, local_attention: 4, global_attn_every_n_layers: 2 };

describe('rotary tables', () => {
  it.each(['infer', 'train'] as const)('turns ModernBERT (%s) by two tables, one per base, as rotary does', (mode) => {
    const shape = { batch: 2, seq: 6, mode, config: SMALL, ...(mode === 'train' ? { maxPredictions: 2 } : {}) };
    const tabled = compileFile('models/modernbert.yaml', { ...shape, verify: true });
    const plain = compileFile('models/modernbert.yaml', { ...shape, fuse: false });
    expect(tabled.passes).toContain('rotary-tables');
    expect(tabled.graph.nodes.filter((n) => n.op === 'rotary')).toEqual([]);
    const tables = tabled.graph.nodes.filter((n) => n.op === 'rotary_table');
    expect(tables.map((n) => (n.attrs as { base: number }).base).sort((a, b) => a - b)).toEqual([10000, 160000]);
    expect(tabled.graph.nodes.filter((n) => n.op === 'rotate').length).toBe(mode === 'train' ? 16 : 8);
    expect(plain.graph.nodes.filter((n) => n.op === 'rotary').length).toBe(mode === 'train' ? 16 : 8);

    const labels = { labels: { dtype: 'i32' as const, shape: [2, 6] } };
    const { inputs, values } = interpreterFeeds(plain.graph, mode === 'train' ? labels : {});
    const want = interpret(plain.graph, inputs, values, { seed: 1, step: 1 });
    const got = interpret(tabled.graph, { ...inputs, ...interpreterFeeds(tabled.graph, mode === 'train' ? labels : {}).inputs }, values, { seed: 1, step: 1 });
    for (const [name, t] of Object.entries(want)) {
      const scale = Math.max(1e-6, ...Array.from(t.data, Math.abs));
      const worst = Array.from(t.data).reduce((m, v, i) => Math.max(m, Math.abs(v - got[name]!.data[i]!)), 0);
      expect(worst / scale, name).toBeLessThan(1e-9);
    }
  });
});
