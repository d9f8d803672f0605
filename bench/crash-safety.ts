// npm run crash-safety: kill -9 a pretraining at random moments, again and
// again, and check what tcc promises: the latest checkpoint always loads,
// and --resume continues exactly. A reference run trains uninterrupted with
// a checkpoint after every step; the killed run is restarted with --resume
// after each SIGKILL, in a step drawn uniformly from those it has still to
// run: at a random moment of the step (checkpoint write included), or, every
// other kill, a moment into the step's checkpoint write. A draw of no step
// lets the run complete, and a new one starts from scratch.
// After every kill, the latest checkpoint must load and hold the same bytes
// as the reference's checkpoint of that step; when a killed run completes,
// every step's losses and the final weights must be bit-identical to the
// reference's. A kill that leaves a NAME.tmp-PID behind landed during a
// checkpoint write (or the rewrite of the log when a run resumes).
//
//   node dist/bench/crash-safety.js [--kills 100] [--steps 24] [--seed 1] [--backend js]

import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, watch, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { latestCheckpoint, readTrainerState } from '../runtime/checkpoint.js';
import { readSafetensors } from '../runtime/safetensors.js';
import { machine } from './stats.js';

const flag = (name: string, fallback: string) => {
  const i = process.argv.indexOf(name);
  return i < 0 ? fallback : process.argv[i + 1]!;
};
const KILLS = Number(flag('--kills', '100'));
const STEPS = Number(flag('--steps', '24'));
const BACKEND = flag('--backend', 'js');
let random = Number(flag('--seed', '1'));
const uniform = () => (random = (random * 48271) % 2147483647) / 2147483647;

const tccBin = fileURLToPath(new URL('../cli/tcc.js', import.meta.url));
const models = fileURLToPath(new URL('../../models', import.meta.url));

/** The header line a pretraining prints before its first step. */
const HEADER = /pretraining \d+ steps/;

/** Collects a child's stderr (read through the returned function); `onHeader` runs once, when the header line has come. */
function readStderr(child: ChildProcessByStdio<null, null, Readable>, onHeader: () => void): () => string {
  let stderr = '';
  let seen = false;
  child.stderr.on('data', (d: Buffer) => {
    stderr += d;
    if (!seen && HEADER.test(stderr)) {
      seen = true;
      onHeader();
    }
  });
  return () => stderr;
}

/** Runs tcc to the end; fails loudly (this is a check, not a product command). */
function tcc(args: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; trainingFrom: number }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [tccBin, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let trainingFrom = NaN;
    const stderr = readStderr(child, () => (trainingFrom = Date.now()));
    child.on('exit', (code, signal) => resolve({ code, signal, stderr: stderr(), trainingFrom }));
  });
}

async function must(args: string[]): Promise<{ seconds: number; trainingFrom: number }> {
  const start = performance.now();
  const r = await tcc(args);
  if (r.code !== 0) throw new Error(`tcc ${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
  return { seconds: (performance.now() - start) / 1000, trainingFrom: r.trainingFrom };
}

/**
 * Starts a resumed pretraining that has `done` steps checkpointed and kills it
 * during step `target` (one of the steps still to run, drawn uniformly): with
 * `duringWrite`, `fraction` × 2 ms after its checkpoint write begins (a
 * checkpoint-TARGET.tmp-PID appears); else at `fraction` of a step's time
 * after the step begins (the header line for the first step of the process,
 * which takes `firstStepSeconds`, the previous step's checkpoint for the
 * others). Returns how it ended.
 */
function killedRun(args: string[], dir: string, done: number, target: number, fraction: number, duringWrite: boolean, firstStepSeconds: number, stepSeconds: number): Promise<{ killed: boolean; code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    mkdirSync(dir, { recursive: true });
    const child = spawn(process.execPath, [tccBin, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let timer: NodeJS.Timeout | undefined;
    let killed = false;
    const kill = (ms: number) => {
      if (timer === undefined) timer = setTimeout(() => { killed = child.kill('SIGKILL'); }, ms);
    };
    const watcher = watch(dir, (_, name) => {
      const m = /^checkpoint-(\d+)(\.tmp-\d+)?$/.exec(String(name ?? ''));
      if (!m) return;
      const step = Number(m[1]);
      if (duringWrite && m[2] && step === target) kill(fraction * 2);
      if (!duringWrite && !m[2] && step === target - 1) kill(fraction * stepSeconds * 1000);
    });
    const stderr = readStderr(child, () => {
      if (!duringWrite && target === done + 1) kill(fraction * firstStepSeconds * 1000);
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      watcher.close();
      resolve({ killed, code, stderr: stderr() });
    });
  });
}

const same = (a: string, b: string) => readFileSync(a).equals(readFileSync(b));

/** The losses of each step in a run's metrics.jsonl (timings left out). */
function losses(runDir: string): string[] {
  return readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => {
    const { tokens_per_s: _, ...rest } = JSON.parse(l) as Record<string, number>;
    return JSON.stringify(rest);
  });
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'tcc-crash-'));
  console.log(`tcc crash safety: ${KILLS} SIGKILLs of a ${STEPS}-step pretraining (checkpoint every step, ${BACKEND} backend)`);
  console.log(machine());
  // A small BERT on the Brown Corpus with its own WordPiece vocabulary.
  await must(['dataset', 'brown', '-o', work, '--train-size', '10', '--eval-size', '10']);
  await must(['vocab', '--corpus', join(work, 'corpus.txt'), '--size', '1000', '-o', join(work, 'vocab.txt')]);
  await must(['prepare', '--corpus', join(work, 'corpus.txt'), '--vocab', join(work, 'vocab.txt'), '--seq', '64', '-o', join(work, 'data.jsonl')]);
  writeFileSync(join(work, 'model.yaml'), `extends: ${join(models, 'bert.yaml')}\nname: crash\nconfig: {vocab_size: 1000, hidden_size: 128, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 512}\n`);
  const args = (dir: string) => ['pretrain', join(work, 'model.yaml'), '--data', join(work, 'data.jsonl'), '--vocab', join(work, 'vocab.txt'), '--steps', String(STEPS), '--batch', '4', '--seq', '64', '--save-every', '1', '--backend', BACKEND, '--resume', '-o', dir];

  const reference = join(work, 'reference');
  const { seconds: wall, trainingFrom } = await must(args(reference));
  // A process's first step (slower: the JIT warms up) and the later ones, from the checkpoints' times.
  const written = (step: number) => statSync(join(reference, `checkpoint-${step}`)).mtimeMs;
  const firstStepSeconds = (written(1) - trainingFrom) / 1000;
  const stepSeconds = (written(STEPS) - written(1)) / 1000 / (STEPS - 1);
  console.log(`reference run: ${wall.toFixed(1)} s, its first step ${firstStepSeconds.toFixed(2)} s, later steps ${stepSeconds.toFixed(2)} s each`);

  let kills = 0;
  const killedSteps = new Set<number>();
  let duringWrites = 0;
  let unloadable = 0;
  let differing = 0;
  let rounds = 0;
  let identicalRounds = 0;
  const problems: string[] = [];
  let round = 0;
  let dir = join(work, `killed-${round}`);
  let killedThisRun = false;
  for (;;) {
    const latest = latestCheckpoint(dir);
    const done = latest?.step ?? 0;
    // The step to kill in, drawn from those still to run or, with the same
    // chance as each of them, none (the run completes and a new one starts).
    // Every other kill aims at a checkpoint write, the rest fall anywhere in the step.
    const target = done + 1 + Math.floor(uniform() * (STEPS - done + 1));
    const fraction = uniform();
    const r = target > STEPS ? { killed: false, ...(await tcc(args(dir))) } : await killedRun(args(dir), dir, done, target, fraction, kills % 2 === 1, firstStepSeconds, stepSeconds);
    if (r.killed) {
      kills++;
      killedThisRun = true;
      killedSteps.add(target);
      const stale = existsSync(dir) ? readdirSync(dir).filter((n) => /\.tmp-\d+$/.test(n)) : [];
      if (stale.length > 0) duringWrites++;
      const now = latestCheckpoint(dir);
      if (now) {
        try {
          readTrainerState(now.dir);
          JSON.parse(readFileSync(join(now.dir, 'config.json'), 'utf8'));
          readSafetensors(readFileSync(join(now.dir, 'model.safetensors')));
          const ref = join(reference, `checkpoint-${now.step}`);
          if (!same(join(now.dir, 'model.safetensors'), join(ref, 'model.safetensors')) || !same(join(now.dir, 'optimizer.safetensors'), join(ref, 'optimizer.safetensors'))) {
            differing++;
            problems.push(`kill ${kills}: ${now.dir} differs from the reference's checkpoint-${now.step}`);
          }
        } catch (e) {
          unloadable++;
          problems.push(`kill ${kills}: ${now.dir} does not load: ${(e as Error).message}`);
        }
      }
      if (kills % 10 === 0) process.stderr.write(`  ${kills} kills (${duringWrites} during writes), ${rounds} runs completed\n`);
      if (kills < KILLS) continue;
      // The last kill: finish the run.
      const end = await tcc(args(dir));
      if (end.code !== 0) throw new Error(`the resumed run failed: ${end.stderr}`);
    } else if (r.code !== 0) {
      throw new Error(`a resumed run failed: ${r.stderr}`);
    }
    // The run completed: compare it with the reference.
    if (killedThisRun) rounds++;
    const a = losses(reference);
    const b = losses(dir);
    const lossesSame = a.length === b.length && a.every((l, i) => l === b[i]);
    const weightsSame = same(join(reference, 'final', 'model.safetensors'), join(dir, 'final', 'model.safetensors'));
    if (lossesSame && weightsSame) identicalRounds += killedThisRun ? 1 : 0;
    else {
      const at = a.findIndex((l, i) => l !== b[i]);
      problems.push(`round ${round}: ${lossesSame ? '' : `losses differ (${a.length} vs ${b.length} steps; first: ${a[at] ?? '-'} vs ${b[at] ?? '-'}) `}${weightsSame ? '' : 'final weights differ'}`);
    }
    if (kills >= KILLS) break;
    rmSync(dir, { recursive: true, force: true });
    dir = join(work, `killed-${++round}`);
    killedThisRun = false;
  }

  const rows: [string, string][] = [
    ['SIGKILLs', String(kills)],
    ['  of which during a checkpoint or log write', String(duringWrites)],
    ['  steps they fell in', `${killedSteps.size} of ${STEPS}`],
    ['latest checkpoint unloadable after a kill', String(unloadable)],
    ['latest checkpoint differing from the reference', String(differing)],
    ['killed runs resumed to the end', String(rounds)],
    ['  with every loss and the final weights bit-identical', String(identicalRounds)],
  ];
  console.log('');
  for (const [k, v] of rows) console.log(`${k.padEnd(56)}${v}`);
  for (const p of problems) console.log(`problem: ${p}`);
  console.log(JSON.stringify({ bench: 'crash-safety', kills, during_writes: duringWrites, steps_hit: killedSteps.size, unloadable, differing, rounds, identical_rounds: identicalRounds }));
  rmSync(work, { recursive: true, force: true });
  if (problems.length > 0) process.exitCode = 1;
}

await main();
