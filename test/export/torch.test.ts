// PyTorch export, checked with real PyTorch: every shipped model and variant,
// exported from its spec and run by torch at a small config.json, gives the
// float64 interpreter's outputs; train.py's AdamW steps give tcc pretrain's
// weights and losses, alone and under torchrun with two processes. Skipped
// (visibly) where no python3 with torch is installed.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileFile } from '../../compiler/compile.js';
import { exportTorch } from '../../compiler/export/torch.js';
import { sourceName } from '../../compiler/ir/graph.js';
import { interpret } from '../../compiler/ir/interpret.js';
import { hostTensor, type HostTensor } from '../../compiler/ir/tensor.js';
import { loadSpec } from '../../compiler/parser/load.js';
import { readSafetensors, writeSafetensors } from '../../runtime/safetensors.js';
import { modelsDir, tcc } from '../helpers/cli.js';
import { pretrainWorkspace } from '../helpers/corpus.js';
import { maxAbsDiff, randomTensor, rng } from '../helpers/random.js';

/** A python3 that imports torch (Debian's python3-torch is /usr/bin/python3's), or undefined. */
function torchPython(): string | undefined {
  return ['python3', '/usr/bin/python3'].find((p) => spawnSync(p, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0);
}
const python = torchPython();

function runPython(args: string[], cwd?: string): string {
  const run = spawnSync(python!, args, { encoding: 'utf8', cwd, maxBuffer: 1 << 26 });
  if (run.status !== 0) throw new Error(`python ${args.join(' ')} failed:\n${run.stderr}`);
  return run.stdout;
}

const SMALL = { vocab_size: 40, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 24, max_position_embeddings: 16 };

/** Every shipped model: the YAML specs (their DSL twins compile to the same IR: test/dsl) and the DSL variants. */
function shippedModels(): string[] {
  const dir = modelsDir();
  const files = readdirSync(dir).filter((f) => /\.yaml$/.test(f)).map((f) => join(dir, f));
  return [...files, ...readdirSync(join(dir, 'variants')).map((f) => join(dir, 'variants', f))];
}

// Runs each job's model.py on its directory's config.json and weights, and saves the outputs.
const FORWARD = String.raw`
import importlib.util, json, sys, torch
for k, job in enumerate(json.load(open(sys.argv[1]))):
    spec = importlib.util.spec_from_file_location(f'exported{k}', job['model'])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.MODEL.from_pretrained(job['dir']).eval()
    inputs = module.load_safetensors(job['inputs'])
    with torch.no_grad():
        outputs = model(**{name: t.long() for name, t in inputs.items()})
    module.save_safetensors(job['out'], outputs)
`;

describe.skipIf(!python)('PyTorch export', () => {
  it("gives the interpreter's outputs for every shipped model and variant (1e-4), from a config.json of other sizes", () => {
    const root = mkdtempSync(join(tmpdir(), 'tcc-torch-'));
    const [batch, seq] = [2, 6];
    const jobs: { name: string; model: string; dir: string; inputs: string; out: string; want: Record<string, HostTensor> }[] = [];
    for (const [k, file] of shippedModels().entries()) {
      const { spec } = loadSpec(file);
      // ModernBERT's layers follow their index: four layers, the first and third global, the others within 2 tokens.
      const layered: Record<string, number> = 'global_attn_every_n_layers' in spec.config ? { num_hidden_layers: 4, global_attn_every_n_layers: 2, local_attention: 2, global_rope_theta: 1000.0, local_rope_theta: 50.0 } : {};
      // ELECTRA's pretraining: its generator at its own sizes, and the [MASK] of the small vocabulary (outside training, each [MASK] takes the generator's likeliest token).
      const generator: Record<string, number> = 'generator_hidden_size' in spec.config ? { generator_hidden_size: 8, generator_num_attention_heads: 1, generator_intermediate_size: 16, mask_token_id: 4 } : {};
      const small = { ...SMALL, ...('embedding_size' in spec.config ? { embedding_size: 8 } : {}), ...layered, ...generator };
      const dir = join(root, String(k));
      mkdirSync(dir);
      // model.py from the spec as shipped; its sizes come from the small config.json.
      writeFileSync(join(dir, 'model.py'), exportTorch(spec, file, 'test')['model.py']);
      writeFileSync(join(dir, 'config.json'), JSON.stringify(small));
      const { graph } = compileFile(file, { batch, seq, config: small, fuse: false });
      const next = rng(k + 1);
      const params = Object.fromEntries(graph.nodes.filter((n) => n.op === 'param').map((n) => [sourceName(n)!, randomTensor(next, 'f32', n.type.shape, -0.3, 0.3)]));
      for (const t of Object.values(params)) t.data.set(Float32Array.from(t.data));
      writeFileSync(join(dir, 'model.safetensors'), writeSafetensors(Object.fromEntries(Object.entries(params).map(([n, t]) => [n, { dtype: 'F32' as const, shape: t.shape, data: Float32Array.from(t.data) }]))));
      const all: Record<string, HostTensor> = {
        input_ids: hostTensor('i32', [batch, seq], Array.from({ length: batch * seq }, () => Math.floor(next() * SMALL.vocab_size))),
        // Two token types where the model has them (RoBERTa has one).
        token_type_ids: hostTensor('i32', [batch, seq], [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0].map((t) => (spec.config['type_vocab_size']?.value === 1 ? 0 : t))),
        attention_mask: hostTensor('i32', [batch, seq], [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0]),
      };
      const inputs = Object.fromEntries(spec.inputs.map((i) => [i.name, all[i.name]!]));
      writeFileSync(join(dir, 'inputs.safetensors'), writeSafetensors(Object.fromEntries(Object.entries(inputs).map(([n, t]) => [n, { dtype: 'I32' as const, shape: t.shape, data: Int32Array.from(t.data) }]))));
      jobs.push({ name: file, model: join(dir, 'model.py'), dir, inputs: join(dir, 'inputs.safetensors'), out: join(dir, 'outputs.safetensors'), want: interpret(graph, inputs, params) });
    }
    expect(jobs.length).toBeGreaterThanOrEqual(20);
    writeFileSync(join(root, 'jobs.json'), JSON.stringify(jobs.map(({ want: _, ...job }) => job)));
    writeFileSync(join(root, 'forward.py'), FORWARD);
    runPython([join(root, 'forward.py'), join(root, 'jobs.json')]);
    for (const job of jobs) {
      const got = readSafetensors(readFileSync(job.out)).tensors;
      expect([...got.keys()].sort(), job.name).toEqual(Object.keys(job.want).sort());
      for (const [name, t] of Object.entries(job.want)) {
        expect(got.get(name)!.shape, `${job.name} ${name}`).toEqual(t.shape);
        expect(maxAbsDiff(got.get(name)!.data as Float32Array, t.data), `${job.name} ${name}`).toBeLessThan(1e-4);
      }
    }
  });

  it("trains as tcc pretrain does: three AdamW steps' losses and weights (1e-5), and the same under torchrun with two processes", async () => {
    const dir = pretrainWorkspace(8);
    const data = join(dir, 'data.jsonl');
    expect((await tcc('prepare', '--corpus', join(dir, 'corpus.txt'), '--vocab', join(dir, 'vocab.txt'), '-o', data, '--seq', '32', '--seed', '3')).code).toBe(0);
    const out = join(dir, 'torch');
    const exported = await tcc('export', join(dir, 'tiny.yaml'), '--format', 'torch', '-o', out, '--seed', '4');
    expect(exported.stderr).toContain('model.py, train.py');
    // The printed torchrun line works as printed on Debian's torch 1.13.
    expect(exported.stderr).toContain('torchrun --nproc_per_node N --redirects 1 --tee 1 ');
    expect(exported.code).toBe(0);

    const settings = ['--steps', '3', '--batch', '4', '--lr', '2e-3', '--warmup', '0', '--dropout', '0'];
    const pretrained = await tcc('pretrain', join(dir, 'tiny.yaml'), '--data', data, '-o', join(dir, 'run'), '--seq', '32', '--init', out, ...settings);
    expect(pretrained.code).toBe(0);
    const tccLosses = readFileSync(join(dir, 'run', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { loss: number }).loss);

    const losses = (stdout: string) => stdout.trim().split('\n').map((l) => (JSON.parse(l) as { loss: number }).loss);
    const alone = losses(runPython([join(out, 'train.py'), data, '--init', out, '-o', join(dir, 'trained'), ...settings], out));
    // --redirects 1 --tee 1: torch 1.13's torchrun cannot parse its default of no redirects under Python 3.11;
    // with them each process's output comes back prefixed by its name.
    const torchrun = ['--nproc_per_node', '2', '--master_port', String(29500 + (process.pid % 1000)), '--redirects', '1', '--tee', '1'];
    const run = spawnSync('torchrun', [...torchrun, join(out, 'train.py'), data, '--init', out, ...settings], { encoding: 'utf8', cwd: out, env: { ...process.env, OMP_NUM_THREADS: '1' } });
    expect(run.status, run.stderr).toBe(0);
    const two = losses(run.stdout.split('\n').filter((l) => l.includes('{')).map((l) => l.replace(/^\[\w+\]:/, '')).join('\n'));
    // Without -o the trained weights are kept, in ./trained.
    expect(existsSync(join(out, 'trained', 'model.safetensors'))).toBe(true);

    expect(tccLosses).toHaveLength(3);
    for (const [k, loss] of tccLosses.entries()) {
      expect(Math.abs(alone[k]! - loss), `step ${k + 1}: torch ${alone[k]} vs tcc ${loss}`).toBeLessThan(1e-5);
      expect(Math.abs(two[k]! - alone[k]!), `step ${k + 1}: torchrun ${two[k]} vs one process ${alone[k]}`).toBeLessThan(1e-5);
    }
    // The weights after three updates, and they load back into tcc.
    const trained = readSafetensors(readFileSync(join(dir, 'trained', 'model.safetensors'))).tensors;
    const final = readSafetensors(readFileSync(join(dir, 'run', 'final', 'model.safetensors'))).tensors;
    for (const [name, t] of final) expect(maxAbsDiff(trained.get(name)!.data as Float32Array, t.data as Float32Array), name).toBeLessThan(1e-5);
    expect((await tcc('run', '--model', join(dir, 'tiny.yaml'), '--weights', join(dir, 'trained', 'model.safetensors'), '--text', 'the runner sings .', '--vocab', join(dir, 'vocab.txt'), '--out', join(dir, 'o.safetensors'))).code).toBe(0);
  });
});
