import { describe, expect, it } from 'vitest';
import { compileFile } from '../../compiler/compile.js';
import type { Graph, Node } from '../../compiler/ir/graph.js';
import { verifyGraph } from '../../compiler/ir/verify.js';

const graph = () => compileFile('models/bert-tiny.yaml', { batch: 1, seq: 4 }).graph;

function withNode(g: Graph, index: number, change: (n: Node) => Node): Graph {
  return { ...g, nodes: g.nodes.map((n, i) => (i === index ? change(n) : n)) };
}

describe('verifier', () => {
  it('accepts what the frontend builds', () => {
    expect(() => verifyGraph(graph())).not.toThrow();
  });

  it('finds a use before definition', () => {
    const g = graph();
    const i = g.nodes.findIndex((n) => n.op === 'add');
    expect(() => verifyGraph(withNode(g, i, (n) => ({ ...n, args: [n.args[0]!, g.nodes.length + 5] })))).toThrow(/not defined before use/);
  });

  it('finds a stored type that disagrees with the op', () => {
    const g = graph();
    const i = g.nodes.findIndex((n) => n.op === 'matmul');
    expect(() => verifyGraph(withNode(g, i, (n) => ({ ...n, type: { dtype: 'f32', shape: [9, 9] } })))).toThrow(/stored type f32\[9,9\] but the op infers/);
  });

  it('finds a wrong operand count and a duplicated parameter', () => {
    const g = graph();
    const i = g.nodes.findIndex((n) => n.op === 'tanh');
    expect(() => verifyGraph(withNode(g, i, (n) => ({ ...n, args: [] })))).toThrow(/takes 1 operands, has 0/);
    const param = g.nodes.find((n) => n.op === 'param')!;
    const dup = { ...g, nodes: [...g.nodes, { ...param, id: g.nodes.length }] };
    expect(() => verifyGraph(dup)).toThrow(/param bert\.embeddings\.word_embeddings\.weight also defined at %/);
  });
});
