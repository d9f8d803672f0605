// A training run owns its directory and trusts nothing it finds there: a
// second run is kept out, an earlier run is continued only with --resume or
// replaced only with --overwrite, a trainer state or checkpoint that is not
// this run's is refused naming the file, Ctrl-C and SIGTERM stop after the
// step with a checkpoint and the command that resumes, and numeric flags
// past sense are refused in tcc's own words.

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { readSafetensors, writeSafetensors } from '../../runtime/safetensors.js';
import { modelsDir, tcc } from '../helpers/cli.js';
import { smallPretrainWorkspace } from '../helpers/corpus.js';

function workspace(): string {
  const dir = smallPretrainWorkspace(11);
  writeFileSync(join(dir, 'other.yaml'), `extends: ${modelsDir()}/bert.yaml\nconfig: {vocab_size: 40, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 16, max_position_embeddings: 16}\n`);
  return dir;
}

const args = (dir: string, out: string, steps: number, ...extra: string[]) =>
  ['pretrain', join(dir, 'm.yaml'), '--corpus', join(dir, 'corpus.txt'), '--vocab', join(dir, 'vocab.txt'), '--seq', '16', '--batch', '2', '--steps', String(steps), '--backend', 'js', '-o', out, ...extra];

const pretrain = (dir: string, out: string, steps: number, ...extra: string[]) => tcc(...args(dir, out, steps, ...extra));

/** Exit 2, one line naming what is wrong, no stack, quickly. */
async function refused(run: Promise<{ code: number; stderr: string }>, message: RegExp): Promise<void> {
  const start = performance.now();
  const { code, stderr } = await run;
  expect(stderr, stderr).toMatch(message);
  expect(code, stderr).toBe(2);
  expect(stderr.split('\n').filter((l) => l.startsWith('tcc: '))).toHaveLength(1);
  expect(stderr).not.toMatch(/^\s+at /m);
  expect(performance.now() - start).toBeLessThan(10_000);
}

/** The CLI as a process of its own, for signals and for locks held by another process. */
function spawnTcc(argv: string[]): { exited: Promise<{ code: number | null; stderr: string }>; kill(signal: NodeJS.Signals): void; pid: number } {
  const child = spawn(process.execPath, ['dist/cli/tcc.js', ...argv], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  return { exited: new Promise((done) => child.once('close', (code) => done({ code, stderr }))), kill: (signal) => child.kill(signal), pid: child.pid! };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let waited = 0; !condition(); waited += 50) {
    if (waited > 60_000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 50));
  }
}

const loggedSteps = (out: string) => (existsSync(join(out, 'metrics.jsonl')) ? readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').filter(Boolean).length : 0);

describe('run directories', () => {
  it('keep a second run out, and an earlier run needs --resume or --overwrite', async () => {
    const dir = workspace();
    const out = join(dir, 'run');
    // Two runs started at once into one directory: one runs, the other is refused.
    const [a, b] = await Promise.all([pretrain(dir, out, 2), pretrain(dir, out, 2)]);
    expect([a.code, b.code].sort()).toEqual([0, 2]);
    expect([a, b].find((r) => r.code === 2)!.stderr).toMatch(/run is in use by another tcc run \(process \d+\); wait for it to end, or write to another directory/);
    // The run finished: running again needs a word.
    await refused(pretrain(dir, out, 2), /run holds an earlier run \(checkpoint-2, final, metrics\.jsonl\); continue it with --resume, replace it with --overwrite, or write to another directory/);
    const again = await pretrain(dir, out, 3, '--overwrite', '--save-every', '1', '--keep', '2');
    expect(again.code, again.stderr).toBe(0);
    expect(readdirSync(out).filter((n) => n.startsWith('checkpoint-')).sort()).toEqual(['checkpoint-2', 'checkpoint-3']);
    expect(loggedSteps(out)).toBe(3);
    await refused(pretrain(dir, out, 3, '--overwrite', '--resume'), /give --resume or --overwrite, not both/);
    // A lock left by a process that is gone is taken over.
    writeFileSync(join(out, '.tcc-run.lock'), '999999999\n');
    expect((await pretrain(dir, out, 3, '--overwrite')).code).toBe(0);
    expect(existsSync(join(out, '.tcc-run.lock'))).toBe(false);
    // Fine-tuning owns its directory the same way.
    writeFileSync(join(dir, 'train.tsv'), 'text\tlabel\nw1 w2\ta\nw3 w4\tb\nw5 w6\ta\nw7 w8\tb\n');
    const tune = (...extra: string[]) => tcc('finetune', join(dir, 'm.yaml'), '--task', 'classification', '--train', join(dir, 'train.tsv'), '--eval', join(dir, 'train.tsv'), '--vocab', join(dir, 'vocab.txt'), '--seq', '8', '--batch', '2', '--epochs', '1', '--backend', 'js', '-o', join(dir, 'tuned'), ...extra);
    expect((await tune()).code).toBe(0);
    await refused(tune(), /tuned holds an earlier run \(best, eval\.jsonl, metrics\.jsonl\); replace it with --overwrite, or write to another directory/);
    expect((await tune('--overwrite')).code).toBe(0);
  });

  it('refuses a trainer state or checkpoint that is not this run\'s, naming the file, and resumes from the last complete checkpoint', async () => {
    const dir = workspace();
    const out = join(dir, 'run');
    expect((await pretrain(dir, out, 3, '--save-every', '1')).code).toBe(0);
    const state = join(out, 'checkpoint-3', 'trainer_state.json');
    const good = readFileSync(state, 'utf8');
    const fields = JSON.parse(good) as Record<string, unknown>;
    rmSync(join(out, 'final'), { recursive: true });
    const resume = () => pretrain(dir, out, 4, '--save-every', '1', '--resume');
    for (const [bad, message] of [
      [{ ...fields, step: 'four' }, /checkpoint-3\/trainer_state\.json: step: expected an integer, got 'four'/],
      [{ ...fields, step: 1e15 }, /checkpoint-3\/trainer_state\.json: step: 1000000000000000 is out of range \[1, 1099511627776\]/],
      [{ ...fields, step: -5 }, /step: -5 is out of range/],
      [{ ...fields, step: null }, /step: expected an integer, got null/],
      [{ __proto__: fields }, /step: is missing/],
      [{ ...fields, step: 2 }, /trainer_state\.json: step 2 is not the step of .*checkpoint-3/],
      [null, /trainer_state\.json: expected an object, got null/],
    ] as const) {
      writeFileSync(state, JSON.stringify(bad));
      await refused(resume(), message);
    }
    writeFileSync(state, '{"step": 3, "seed": 0, "batch": 2, "seq": 16, "examples": 1, "accumulate": 1, "sneaky": "x"}');
    await refused(resume(), /trainer_state\.json: sneaky: is not a field here/);
    writeFileSync(state, good);
    // A checkpoint missing its optimizer state is not complete: the run resumes from the one before.
    rmSync(join(out, 'checkpoint-3', 'optimizer.safetensors'));
    const resumed = await resume();
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/resumed at step 2/);
    // Weights of another model, and weights that diverged, are refused naming the file.
    const other = join(dir, 'other');
    expect((await tcc(...args(dir, other, 2).map((a) => a.replace('m.yaml', 'other.yaml')))).code).toBe(0);
    writeFileSync(join(out, 'checkpoint-4', 'model.safetensors'), readFileSync(join(other, 'checkpoint-2', 'model.safetensors')));
    rmSync(join(out, 'final'), { recursive: true });
    const more = () => pretrain(dir, out, 5, '--resume');
    await refused(more(), /checkpoint-4\/model\.safetensors: 'bert\.embeddings\.word_embeddings\.weight' has 320 values; this model's has 640 \(is it a checkpoint of another model\?\)/);
    const file = join(out, 'checkpoint-3', 'model.safetensors');
    rmSync(join(out, 'checkpoint-4'), { recursive: true });
    const tensors = readSafetensors(readFileSync(file), file).tensors;
    const poisoned = Object.fromEntries([...tensors].map(([n, t]) => [n, { dtype: 'F32' as const, shape: t.shape, data: Float32Array.from(t.data) }]));
    poisoned['bert.pooler.dense.bias']!.data[3] = NaN;
    writeFileSync(file, writeSafetensors(poisoned));
    await refused(more(), /checkpoint-3\/model\.safetensors: tensor 'bert\.pooler\.dense\.bias' holds NaN at element 3; a checkpoint's values must be finite/);
    const run = await tcc('run', '--model', join(dir, 'm.yaml'), '--weights', file, '--text', 'w1 [MASK] w3', '--vocab', join(dir, 'vocab.txt'), '--backend', 'js');
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/tensor 'bert\.pooler\.dense\.bias' holds NaN at element 3/);
  });

  it('stops on Ctrl-C or SIGTERM after the step with a checkpoint, and says how to resume', { timeout: 120_000 }, async () => {
    const dir = workspace();
    for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
      const out = join(dir, signal);
      const run = spawnTcc(args(dir, out, 100_000));
      await until(() => loggedSteps(out) >= 2, 'the run to log its steps');
      // A second run into the same directory, from another process, is kept out meanwhile.
      const second = await tcc(...args(dir, out, 3, '--resume'));
      expect(second.code).toBe(2);
      expect(second.stderr).toMatch(new RegExp(`is in use by another tcc run \\(process ${run.pid}\\)`));
      run.kill(signal);
      const { code: exit, stderr } = await run.exited;
      expect(exit, stderr).toBe(code);
      const stopped = new RegExp(`stopped by ${signal} after step (\\d+) of 100000: saved (.*checkpoint-\\d+); continue with:\\n  (tcc pretrain .* --resume)\\n`);
      expect(stderr).toMatch(stopped);
      const [, step, checkpoint, command] = stopped.exec(stderr)!;
      expect(checkpoint).toBe(join(out, `checkpoint-${step}`));
      expect(readdirSync(checkpoint!).sort()).toEqual(['config.json', 'model.safetensors', 'optimizer.safetensors', 'special_tokens_map.json', 'tcc.yaml', 'tokenizer_config.json', 'trainer_state.json', 'vocab.txt']);
      expect(existsSync(join(out, '.tcc-run.lock'))).toBe(false);
      // The printed command resumes (with fewer steps, so that it ends).
      const argv = command!.split(' ').slice(1).map((a) => (a === '100000' ? String(Number(step) + 1) : a));
      const resumed = await tcc(...argv);
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(resumed.stderr).toMatch(new RegExp(`resumed at step ${step}`));
    }
    // --resume where nothing was written: said, not silent.
    const fresh = await pretrain(dir, join(dir, 'fresh'), 1, '--resume');
    expect(fresh.code).toBe(0);
    expect(fresh.stderr).toMatch(/fresh holds no complete checkpoint to resume from: starting at step 0/);
  });

  it('refuses numeric flags past sense in its own words', async () => {
    const dir = workspace();
    const out = join(dir, 'run');
    mkdirSync(out);
    await refused(pretrain(dir, out, 1, '--accumulate', '1000000000'), /--accumulate must be at most 4,096, got 1000000000/);
    await refused(pretrain(dir, out, 1, '--threads', '100000'), /--threads must be at most 1,024, got 100000/);
    await refused(pretrain(dir, out, 1, '--threads', '-1'), /--threads must be a positive integer, got '-1'/);
    await refused(tcc(...args(dir, out, 1).map((a) => (a === '1' ? '-1' : a))), /--steps must be a positive integer, got '-1'/);
  });
});
