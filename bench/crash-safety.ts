// npm run crash-safety: kill -9 a pretraining at random moments, again and
// again, and check what tcc promises: the latest checkpoint always loads,
// and --resume continues exactly. A reference run trains uninterrupted with
// a checkpoint after every step; the killed run is restarted with --resume
// after each SIGKILL, at a moment drawn uniformly over its remaining training
// (checkpoint writes included), every other one a moment into a checkpoint
// write.
// After every kill, the latest checkpoint must load and hold the same bytes
// as the reference's checkpoint of that step; when a killed run completes,
// every step's losses and the final weights must be bit-identical to the
// reference's. A kill that leaves a NAME.tmp-PID behind landed during a
// checkpoint write (or the rewrite of the log when a run resumes).
//
//   node dist/bench/crash-safety.js [--kills 100] [--steps 24] [--seed 1] [--backend js]

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, watch, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

/** Runs tcc to the end; fails loudly (this is a check, not a product command). */
function tcc(args: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [tccBin, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('exit', (code, signal) => resolve({ code, signal, stderr }));
  });
}

async function must(args: string[]): Promise<number> {
  const start = performance.now();
  const r = await tcc(args);
  if (r.code !== 0) throw new Error(`tcc ${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
  return (performance.now() - start) / 1000;
}

/**
 * Starts a resumed pretraining and kills it: at `fraction` of its remaining
 * training time after its training begins (its header line), or, with
 * `duringWrite`, a moment after it starts writing its next checkpoint (a
 * DIR.tmp-PID appears); returns how it ended. `training` is the reference's
 * training seconds for the whole run.
 */
function killedRun(args: string[], dir: string, fraction: number, duringWrite: boolean, training: number, remainingSteps: number): Promise<{ killed: boolean; code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    mkdirSync(dir, { recursive: true });
    const child = spawn(process.execPath, [tccBin, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    let killed = false;
    const kill = (ms: number) => {
      if (timer === undefined) timer = setTimeout(() => { killed = child.kill('SIGKILL'); }, ms);
    };
    const watcher = duringWrite ? watch(dir, (_, name) => { if (name && /^checkpoint-\d+\.tmp-\d+$/.test(String(name))) kill(fraction * 2); }) : undefined;
    child.stderr.on('data', (d: Buffer) => {
      const before = stderr;
      stderr += d;
      if (!duringWrite && !/pretraining \d+ steps/.test(before) && /pretraining \d+ steps/.test(stderr)) kill(fraction * training * 1000 * (remainingSteps / STEPS));
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      watcher?.close();
      resolve({ killed, code, stderr });
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
  const wall = await must(args(reference));
  // The run's training time: the whole run less a run that stops at once (startup and compile).
  const startup = await must([...args(join(work, 'startup')), '--steps', '1']);
  const training = Math.max(0.5, wall - startup);
  console.log(`reference run: ${wall.toFixed(1)} s (${training.toFixed(1)} s training, ${startup.toFixed(1)} s to start and train one step)`);

  let kills = 0;
  let duringWrites = 0;
  let unloadable = 0;
  let differing = 0;
  let rounds = 0;
  let identicalRounds = 0;
  const problems: string[] = [];
  let round = 0;
  let dir = join(work, `killed-${round}`);
  for (;;) {
    const latest = latestCheckpoint(dir);
    const done = latest?.step ?? 0;
    // Every other kill aims at a checkpoint write, the rest fall anywhere in the training.
    const r = await killedRun(args(dir), dir, uniform(), kills % 2 === 1, training, STEPS - done);
    if (r.killed) {
      kills++;
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
      if (kills % 10 === 0) process.stderr.write(`  ${kills} kills (${duringWrites} during writes), latest checkpoint step ${now?.step ?? 0}\n`);
      if (kills < KILLS) continue;
      // The last kill: finish the run.
      const end = await tcc(args(dir));
      if (end.code !== 0) throw new Error(`the resumed run failed: ${end.stderr}`);
    } else if (r.code !== 0) {
      throw new Error(`a resumed run failed: ${r.stderr}`);
    }
    // The run completed: compare it with the reference.
    rounds++;
    const a = losses(reference);
    const b = losses(dir);
    const lossesSame = a.length === b.length && a.every((l, i) => l === b[i]);
    const weightsSame = same(join(reference, 'final', 'model.safetensors'), join(dir, 'final', 'model.safetensors'));
    if (lossesSame && weightsSame) identicalRounds++;
    else {
      const at = a.findIndex((l, i) => l !== b[i]);
      problems.push(`round ${round}: ${lossesSame ? '' : `losses differ (${a.length} vs ${b.length} steps; first: ${a[at] ?? '-'} vs ${b[at] ?? '-'}) `}${weightsSame ? '' : 'final weights differ'}`);
    }
    if (kills >= KILLS) break;
    rmSync(dir, { recursive: true, force: true });
    dir = join(work, `killed-${++round}`);
  }

  const rows: [string, string][] = [
    ['SIGKILLs', String(kills)],
    ['  of which during a checkpoint or log write', String(duringWrites)],
    ['latest checkpoint unloadable after a kill', String(unloadable)],
    ['latest checkpoint differing from the reference', String(differing)],
    ['killed runs resumed to the end', String(rounds)],
    ['  with every loss and the final weights bit-identical', String(identicalRounds)],
  ];
  console.log('');
  for (const [k, v] of rows) console.log(`${k.padEnd(56)}${v}`);
  for (const p of problems) console.log(`problem: ${p}`);
  console.log(JSON.stringify({ bench: 'crash-safety', kills, during_writes: duringWrites, unloadable, differing, rounds, identical_rounds: identicalRounds }));
  rmSync(work, { recursive: true, force: true });
  if (problems.length > 0) process.exitCode = 1;
}

await main();
