// `npm run bench -- packed`: one padding-free bert-base program (up to 8
// sequences of up to 512 tokens, 4,096 in all) against programs compiled
// for exactly each batch's shape, on real-sized weights: 1 × 7, 3 × 128,
// 8 × 512 and a batch of mixed lengths (each of its sequences against a
// program of its own length). The largest difference of any real token's
// hidden state and any pooled output, per backend (JavaScript's 8 × 512
// takes tens of minutes). The suite checks the same at bert-tiny's sizes on
// every backend.

import { buildGraph } from '../compiler/frontend/build.js';
import { loadSpec } from '../compiler/parser/load.js';
import { compilePacked } from '../compiler/packed.js';
import { runPipeline } from '../compiler/passes/pipeline.js';
import { buildProgram } from '../compiler/program.js';
import { initParams } from '../runtime/init.js';
import { packSequences } from '../runtime/packed.js';
import { openSession, type Session } from '../runtime/session.js';
import { backendNamed } from '../backends/registry.js';
import type { Record_ } from './stats.js';
import { emit } from './stats.js';

const SIZES = { tokens: 4096, sequences: 8, longest: 512 };
const BATCHES: readonly (readonly number[])[] = [[7], [128, 128, 128], Array<number>(8).fill(512), [5, 128, 37, 512, 64, 9], [5, 40, 17, 64, 9]];

export async function benchPackedCheck(progress: (line: string) => void): Promise<Record_[]> {
  const file = 'bench:bert-base-encoder.yaml';
  const { spec } = loadSpec(file, new Map([[file, 'extends: tcc:bert-base.yaml\nname: bert-base\nheads: null\n']]));
  progress('compiling the padding-free program…');
  const { compiled } = compilePacked(spec, SIZES);
  const params = initParams(compiled.program.params, 0);
  const records: Record_[] = [];
  for (const backend of ['native', 'wasm', 'webgpu', 'js']) {
    const state = await backendNamed(backend).probe();
    if (!state.ok) {
      progress(`${backend}: left out (${state.found})`);
      continue;
    }
    const packed = await openSession(compiled, { backend });
    packed.setParams(params);
    const fixed = new Map<number, Session>();
    for (const lengths of BATCHES) {
      const many = lengths.length > 1 && new Set(lengths).size > 1;
      progress(`${backend}: ${many ? `mixed ${lengths.join(', ')}` : `${lengths.length} × ${lengths[0]}`}…`);
      let next = lengths.length;
      const sequences = lengths.map((n) => ({ input_ids: Int32Array.from({ length: n }, (_, i) => ((i + 1) * 7919 + next++ * 104729) % 30000 + 100), token_type_ids: new Int32Array(n) }));
      const batch = packSequences(compiled.program, sequences);
      const out = await packed.run(batch.inputs, { seed: 0, step: 0, sizes: batch.sizes });
      let worst = 0;
      // Each sequence against a program of exactly its shape: equal lengths as one batch, mixed ones one by one.
      const groups = many ? lengths.map((n, i) => ({ first: i, count: 1, seq: n })) : [{ first: 0, count: lengths.length, seq: lengths[0]! }];
      for (const g of groups) {
        const key = g.count * 10_000 + g.seq;
        let session = fixed.get(key);
        if (!session) {
          session = await openSession(buildProgram(runPipeline(buildGraph(spec, { batch: g.count, seq: g.seq, mode: 'infer' }), { fuse: true }).graph), { backend });
          session.setParams(params);
          fixed.set(key, session);
        }
        const rows = sequences.slice(g.first, g.first + g.count);
        const joined = (key: 'input_ids' | 'token_type_ids') => Int32Array.from(rows.flatMap((r) => Array.from(r[key])));
        const ref = await session.run({ input_ids: joined('input_ids'), token_type_ids: joined('token_type_ids'), attention_mask: new Int32Array(g.count * g.seq).fill(1) });
        const hidden = ref['last_hidden_state']!.data;
        const start = batch.offsets[g.first]! * 768;
        for (let k = 0; k < hidden.length; k++) worst = Math.max(worst, Math.abs(out['last_hidden_state']!.data[start + k]! - hidden[k]!));
        const pooled = ref['pooler_output']!.data;
        for (let k = 0; k < pooled.length; k++) worst = Math.max(worst, Math.abs(out['pooler_output']!.data[g.first * 768 + k]! - pooled[k]!));
      }
      const record: Record_ = { bench: 'packed', model: 'bert-base', backend, batch: lengths.length, seq: Math.max(...lengths), metric: many ? `max_abs_diff mixed ${lengths.join(',')}` : 'max_abs_diff', value: worst, unit: '' };
      emit(record);
      records.push(record);
    }
    for (const s of [packed, ...fixed.values()]) s.destroy();
  }
  return records;
}
