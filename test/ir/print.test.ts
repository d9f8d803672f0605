// The IR text of a shipped model, byte for byte (regenerate on purpose with
// UPDATE_GOLDEN=1), and the JSON form's agreement with it.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compileFile } from '../../compiler/compile.js';
import { graphToJson } from '../../compiler/ir/json.js';
import { printGraph } from '../../compiler/ir/print.js';
import { parseGraph } from '../../compiler/ir/parse.js';
import { buildGraph } from '../../compiler/frontend/build.js';
import { loadSpec } from '../../compiler/parser/load.js';

function golden(name: string, text: string): void {
  const path = `test/golden/${name}`;
  if (process.env.UPDATE_GOLDEN === '1' || !existsSync(path)) writeFileSync(path, text);
  expect(text).toBe(readFileSync(path, 'utf8'));
}

describe('IR printer', () => {
  it('prints bert-tiny (batch 2, seq 8) exactly as the golden file', () => {
    const { spec } = loadSpec('models/bert-tiny.yaml');
    golden('bert-tiny.b2s8.ir.txt', printGraph(buildGraph(spec, { batch: 2, seq: 8, mode: 'infer' })));
  });

  it('prints what the compiler makes of it (attention fused, kernels scheduled) exactly as the golden file', () => {
    const { graph } = compileFile('models/bert-tiny.yaml', { batch: 2, seq: 8, verify: true });
    const text = printGraph(graph);
    golden('bert-tiny.b2s8.compiled.txt', text);
    expect(printGraph(parseGraph(text))).toBe(text);
  });

  it('prints the same bytes for the same graph', () => {
    const a = printGraph(compileFile('models/bert-mini.yaml', { batch: 1, seq: 16 }).graph);
    const b = printGraph(compileFile('models/bert-mini.yaml', { batch: 1, seq: 16 }).graph);
    expect(a).toBe(b);
  });

  it('writes a JSON form with every node of the text form', () => {
    const { graph } = compileFile('models/bert-tiny.yaml', { batch: 1, seq: 4 });
    const json = graphToJson(graph) as { format: string; nodes: { id: number; op: string; shape: number[] }[]; outputs: unknown[] };
    expect(json.format).toBe('tcc.graph.v1');
    expect(json.nodes.map((n) => n.op)).toEqual(graph.nodes.map((n) => n.op));
    expect(json.outputs).toHaveLength(4);
    expect(JSON.parse(JSON.stringify(json))).toEqual(json);
  });
});
