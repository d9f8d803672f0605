// A head that only a label loss reads is computed only at the labelled
// rows. Masked-LM pretraining labels ~15% of the positions, yet its tied
// decoder ([tokens, hidden] × [vocab, hidden]ᵀ) is the largest product of a
// small BERT's step; NVIDIA's BERT gathers the masked positions before the
// decoder. Here that is a rewrite: walking back from the logits through
// row-wise nodes (each output row computed from the same row of one operand:
// elementwise ops with operands broadcast along the rows, products with a
// weight, LayerNorm over the last axis) to where the rows come from, or to a
// value that other readers need in full anyway, the chain is rebuilt on
// `count` gathered rows:
//
//   loss = cross_entropy(f(x), labels)           x [b, s, h], labels [b, s]
//   →  loss = cross_entropy(f(gather(reshape(x, [b·s, h]), rows)), values)
//
// where `rows` and `values` are inputs derived from `labels` before each run
// (runtime/labelled-rows.ts): the flat indices of the rows whose label is not
// ignore_index, and their labels, padded with row 0 and ignore_index. The
// mean over labelled rows, the accuracy and every gradient are unchanged
// (padded rows are ignored, as unlabelled rows were); a batch with more
// labelled rows than `count` is refused when it is fed.

import type { Graph, Node } from '../ir/graph.js';
import { opDef } from '../ir/ops/index.js';
import { numel } from '../ir/types.js';
import { dce } from './dce.js';
import { rowArgs } from './needed-rows.js';
import { rebuildGraph, type Rebuild } from './rewrite.js';

export const labelledRowsPass = { name: 'labelled-rows', summary: 'computes a head that only label losses read at the labelled rows alone (the masked-LM decoder at the masked positions)' } as const;

const LABEL_STATISTICS: ReadonlySet<string> = new Set(['cross_entropy', 'accuracy']);

interface Group {
  /** The label statistics of one logits value and one label input. */
  readonly statistics: readonly Node[];
  readonly labels: Node<'input'>;
  readonly ignore: number;
  /** Row-wise nodes from the first after `source` to the logits, each with the operand its rows come from. */
  readonly chain: readonly { readonly node: Node; readonly rows: number }[];
  readonly source: Node;
}

/** The operand whose row each output row of `node` is computed from, if `node` is row-wise over the leading dims `lead` from one operand (and draws nothing). */
function rowOperand(graph: Graph, node: Node, lead: readonly number[]): number | undefined {
  if (opDef(node.op).stochastic) return undefined;
  const from = new Set(rowArgs(graph, node, lead)?.map((i) => node.args[i]!));
  return from.size === 1 ? [...from][0] : undefined;
}

/** Heads worth computing at `count` rows: their logits are read only by label statistics of one label input. */
function groups(graph: Graph, count: number): Group[] {
  const uses = graph.nodes.map(() => [] as Node[]);
  for (const n of graph.nodes) for (const a of new Set(n.args)) uses[a]!.push(n);
  const outputs = new Set(graph.outputs.map((o) => o.node));
  const found: Group[] = [];
  for (const logits of graph.nodes) {
    const readers = uses[logits.id]!;
    if (!readers.length || !readers.every((n) => LABEL_STATISTICS.has(n.op) && n.args[0] === logits.id)) continue;
    const labels = graph.nodes[readers[0]!.args[1]!]!;
    const ignore = (readers[0]!.attrs as { ignore_index: number }).ignore_index;
    if (labels.op !== 'input' || (labels as Node<'input'>).attrs.of) continue;
    if (!readers.every((n) => n.args[1] === labels.id && (n.attrs as { ignore_index: number }).ignore_index === ignore)) continue;
    if (!uses[labels.id]!.every((n) => readers.includes(n)) || outputs.has(labels.id)) continue;
    const lead = labels.type.shape;
    if (count >= numel(lead)) continue;
    const chain: { node: Node; rows: number }[] = [];
    let at: Node = logits;
    // Back to where the rows come from, or to a value other readers need in full anyway (gathering it costs nothing more).
    for (let rows = rowOperand(graph, at, lead); rows !== undefined; rows = rowOperand(graph, at, lead)) {
      chain.unshift({ node: at, rows });
      at = graph.nodes[rows]!;
      if (uses[at.id]!.length > 1 || outputs.has(at.id)) break;
    }
    if (chain.length && at.type.shape.length === lead.length + 1) found.push({ statistics: readers, labels: labels as Node<'input'>, ignore, chain, source: at });
  }
  return found;
}

/** Rebuilds a group's chain on the gathered rows; returns the gathered logits and the derived labels. */
function gathered(group: Group, count: number, r: Rebuild): { logits: number; labels: number } {
  const { labels, ignore, source, chain } = group;
  const name = labels.attrs.name;
  const derived = (take: 'rows' | 'labels') => r.b.add('input', [], { name: `${name}.${take}`, dtype: 'i32', shape: [count], of: name, of_shape: [...labels.type.shape], take, ignore }, labels.label).id;
  const width = source.type.shape.at(-1)!;
  const flat = r.b.add('reshape', [r.map(source.id)], { shape: [numel(labels.type.shape), width] }, source.label).id;
  let rows = r.b.add('gather', [flat, derived('rows')], {}, source.label).id;
  for (const { node, rows: from } of chain) {
    rows = r.b.add(node.op, node.args.map((a) => (a === from ? rows : r.map(a))), node.attrs as never, node.label).id;
  }
  return { logits: rows, labels: derived('labels') };
}

/** The graph with each label-only head computed at `count` labelled rows (count: the most a batch may label). */
export function labelledRowsRewrite(graph: Graph, count: number): Graph {
  const found = groups(graph, count);
  if (!found.length) return graph;
  const groupOf = new Map(found.flatMap((g) => g.statistics.map((n) => [n.id, g] as const)));
  const built = new Map<Group, { logits: number; labels: number }>();
  const dropped = new Set(found.map((g) => g.labels.id));
  // The head's values at every row are no longer computed: its outputs go (a training step returns only scalars anyway).
  const logits = new Set(found.map((g) => g.chain.at(-1)!.node.id));
  const kept = { ...graph, outputs: graph.outputs.filter((o) => !logits.has(o.node)) };
  const rewritten = rebuildGraph(kept, (node, r) => {
    if (dropped.has(node.id)) return undefined;
    const group = groupOf.get(node.id);
    if (!group) return r.copy(node);
    let at = built.get(group);
    if (!at) built.set(group, (at = gathered(group, count, r)));
    return r.b.add(node.op, [at.logits, at.labels], node.attrs as never, node.label).id;
  });
  return dce(rewritten);
}
