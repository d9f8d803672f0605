// The verifier: run between passes in tests and under --debug. Checks that
// every operand is defined before use, arities match, stored types equal what
// the op's rule infers, and sources and outputs are named uniquely.

import { sourceName, type Graph } from './graph.js';
import { isOpName, opDef } from './ops/index.js';
import { formatType } from './types.js';

export class VerifyError extends Error {
  override name = 'VerifyError';
  constructor(readonly problems: readonly string[]) {
    super(`graph verification failed:\n  ${problems.join('\n  ')}`);
  }
}

export function verifyGraph(graph: Graph): void {
  const problems: string[] = [];
  const sourceNames = new Map<string, number>();
  graph.nodes.forEach((node, index) => {
    const where = `%${index} (${node.op})`;
    if (node.id !== index) problems.push(`${where}: id ${node.id} is not its position ${index}`);
    if (!isOpName(node.op)) {
      problems.push(`${where}: unknown op`);
      return;
    }
    const def = opDef(node.op);
    const arityOk = def.arity === 'variadic' ? node.args.length >= 1 : node.args.length === def.arity;
    if (!arityOk) problems.push(`${where}: takes ${def.arity} operands, has ${node.args.length}`);
    const bad = node.args.filter((a) => !(Number.isInteger(a) && a >= 0 && a < index));
    if (bad.length) {
      problems.push(`${where}: operands ${bad.map((a) => `%${a}`).join(', ')} are not defined before use`);
      return;
    }
    try {
      const inferred = def.infer(node.args.map((a) => graph.nodes[a]!.type), node.attrs as never);
      if (formatType(inferred) !== formatType(node.type)) {
        problems.push(`${where}: stored type ${formatType(node.type)} but the op infers ${formatType(inferred)}`);
      }
    } catch (e) {
      problems.push(`${where}: ${(e as Error).message}`);
    }
    if (sourceName(node) !== undefined) {
      const name = `${node.op} ${sourceName(node)}`;
      if (sourceNames.has(name)) problems.push(`${where}: ${name} also defined at %${sourceNames.get(name)}`);
      sourceNames.set(name, index);
    }
  });
  const outputNames = new Set<string>();
  for (const out of graph.outputs) {
    if (!(out.node >= 0 && out.node < graph.nodes.length)) problems.push(`output ${out.name}: refers to undefined %${out.node}`);
    if (outputNames.has(out.name)) problems.push(`output ${out.name}: defined twice`);
    outputNames.add(out.name);
  }
  if (problems.length) throw new VerifyError(problems);
}
