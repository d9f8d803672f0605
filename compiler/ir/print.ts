// The IR's text form, used in errors, `tcc compile -o` and golden tests:
//
//   graph bert-tiny (infer; batch=2, seq=8) {
//     %0: i32[2,8] = input "input_ids"
//     %6: f32[30522,128] = param "bert.embeddings.word_embeddings.weight"  # bert.embeddings.words
//     %7: f32[2,8,128] = gather(%6, %0)  # bert.embeddings.words
//     ...
//     return last_hidden_state=%40, pooler_output=%45
//     schedule {
//       k0: %7 %9 %10 -> %10
//     }
//   }
//
// The schedule, present after fusion, lists each kernel's nodes and, after
// the arrow, those it stores.
// Attributes equal to their default are left out; `# label` says which spec
// step made the node. The text is stable: the
// same graph always prints the same bytes.

import { sourceName, type Graph, type Node } from './graph.js';
import { opDef } from './ops/index.js';
import { formatType } from './types.js';

function formatValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(formatValue).join(',')}]`;
  return String(v);
}

export function formatAttrs(node: Node): string {
  const specs = opDef(node.op).attrs as Record<string, { default?: unknown }>;
  const attrs = node.attrs as Record<string, unknown>;
  // A source's name prints after the op, and its dtype and shape are the node's type.
  const shown = (k: string) => !(sourceName(node) !== undefined && (k === 'name' || k === 'dtype' || k === 'shape'));
  const parts = Object.keys(specs)
    .filter((k) => shown(k) && attrs[k] !== undefined && formatValue(attrs[k]) !== formatValue(specs[k]!.default))
    .map((k) => `${k}=${formatValue(attrs[k])}`);
  return parts.length ? ` {${parts.join(', ')}}` : '';
}

export function formatNode(node: Node): string {
  const name = sourceName(node);
  const args = node.args.length ? `(${node.args.map((a) => `%${a}`).join(', ')})` : name !== undefined ? ` ${JSON.stringify(name)}` : '';
  const label = node.label && node.label !== name ? `  # ${node.label}` : '';
  return `%${node.id}: ${formatType(node.type)} = ${node.op}${args}${formatAttrs(node)}${label}`;
}

export function printGraph(graph: Graph): string {
  const dims = Object.entries(graph.dims).map(([k, v]) => `${k}=${v}`).join(', ');
  const lines = [`graph ${graph.name} (${graph.mode}${dims ? `; ${dims}` : ''}) {`];
  for (const node of graph.nodes) lines.push(`  ${formatNode(node)}`);
  lines.push(`  return ${graph.outputs.map((o) => `${o.name}=%${o.node}`).join(', ')}`);
  if (graph.schedule) {
    // After fusion: each kernel's nodes, then (after ->) the ones it stores.
    lines.push('  schedule {');
    graph.schedule.forEach((k, i) => lines.push(`    k${i}: ${k.nodes.map((n) => `%${n}`).join(' ')} -> ${k.stored.map((n) => `%${n}`).join(' ')}`));
    lines.push('  }');
  }
  lines.push('}');
  return lines.join('\n') + '\n';
}
