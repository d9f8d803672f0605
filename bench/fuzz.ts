// npm run fuzz: mutated input files of every kind tcc reads, run through the
// CLI, counted by how they ended. Each kind's cases run in a worker process
// that this one watches: a case that runs past --timeout seconds is a hang
// and a worker that dies by a signal is a crash; both are counted against the
// case and the worker restarts after it. Cases are drawn by fast-check from
// --seed, so `--kind K --case I` reruns one exactly (and prints its output).
//
//   node dist/bench/fuzz.js [--cases 10000] [--seed N] [--kind NAME] [--jobs 2] [--timeout 30]

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { drawCases, KINDS, runCase, writeSeeds, type Kind } from './fuzz/kinds.js';
import { machine } from './stats.js';

interface Options {
  cases: number;
  seed: number;
  kinds: Kind[];
  jobs: number;
  timeout: number;
  only?: number;
}

function options(argv: string[]): Options {
  const value = (flag: string) => {
    const i = argv.indexOf(flag);
    return i < 0 ? undefined : argv[i + 1];
  };
  const kind = value('--kind');
  const kinds = kind === undefined ? [...KINDS] : KINDS.filter((k) => k.name === kind);
  if (kinds.length === 0) throw new Error(`unknown kind '${kind}'; kinds: ${KINDS.map((k) => k.name).join(', ')}`);
  const only = value('--case');
  return {
    cases: Number(value('--cases') ?? 10_000),
    seed: Number(value('--seed') ?? 1),
    kinds,
    jobs: Number(value('--jobs') ?? Math.min(2, cpus().length)),
    timeout: Number(value('--timeout') ?? 30),
    ...(only !== undefined ? { only: Number(only) } : {}),
  };
}

const modelsDir = () => fileURLToPath(new URL('../../models', import.meta.url));

/** The worker: runs cases [from, count) of one kind, one JSON line per case on stdout. */
async function worker(kindName: string, seedDir: string, seed: number, from: number, count: number): Promise<void> {
  const kind = KINDS.find((k) => k.name === kindName)!;
  const cases = drawCases(kind, seedDir, count, seed);
  const caseDir = mkdtempSync(join(tmpdir(), 'tcc-fuzz-case-'));
  let peak = 0;
  for (let i = from; i < count; i++) {
    process.stdout.write(JSON.stringify({ start: i }) + '\n');
    const t = performance.now();
    const r = await runCase(kind, seedDir, caseDir, cases[i]!);
    peak = Math.max(peak, process.memoryUsage().rss);
    const line: Record<string, unknown> = { i, verdict: r.verdict, ms: Math.round(performance.now() - t), rss: peak };
    if (r.verdict === 'broken') Object.assign(line, { why: r.why, stderr: r.stderr.slice(0, 2000) });
    process.stdout.write(JSON.stringify(line) + '\n');
  }
  rmSync(caseDir, { recursive: true, force: true });
}

interface Tally {
  cases: number;
  ok: number;
  located: number;
  broken: { i: number; why: string; stderr: string }[];
  slowest: number;
  rss: number;
  seconds: number;
}

/** Runs a kind's cases in workers, restarting past a hang or a crash. */
async function fuzzKind(kind: Kind, seedDir: string, o: Options): Promise<Tally> {
  const tally: Tally = { cases: 0, ok: 0, located: 0, broken: [], slowest: 0, rss: 0, seconds: 0 };
  const start = performance.now();
  let next = 0;
  const script = fileURLToPath(import.meta.url);
  const run = (from: number): Promise<void> => new Promise((resolve) => {
    const child = spawn(process.execPath, [script, '--worker', kind.name, seedDir, String(o.seed), String(from), String(o.cases)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let current = from;
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        tally.broken.push({ i: current, why: `hang (> ${o.timeout} s)`, stderr: '' });
        tally.cases++;
        next = current + 1;
        child.kill('SIGKILL');
      }, o.timeout * 1000);
    };
    arm();
    createInterface({ input: child.stdout! }).on('line', (text) => {
      const line = JSON.parse(text) as { start?: number; i: number; verdict: 'ok' | 'located' | 'broken'; ms: number; rss: number; why?: string; stderr?: string };
      if (line.start !== undefined) { current = line.start; arm(); return; }
      tally.cases++;
      if (line.verdict === 'broken') tally.broken.push({ i: line.i, why: line.why!, stderr: line.stderr! });
      else tally[line.verdict]++;
      tally.slowest = Math.max(tally.slowest, line.ms);
      tally.rss = Math.max(tally.rss, line.rss);
      next = line.i + 1;
      if (tally.cases % 500 === 0) process.stderr.write(`  ${kind.name}: ${tally.cases}/${o.cases}\n`);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (signal !== null && signal !== 'SIGKILL' || code !== 0 && signal === null) {
        tally.broken.push({ i: current, why: signal ? `signal ${signal}` : `worker exit ${code}`, stderr: '' });
        tally.cases++;
        next = current + 1;
      }
      resolve();
    });
  });
  while (next < o.cases) await run(next);
  tally.seconds = (performance.now() - start) / 1000;
  process.stderr.write(`  ${kind.name}: done, ${tally.cases} cases, ${tally.broken.length} broken, ${Math.round(tally.seconds)} s\n`);
  return tally;
}

async function parent(o: Options): Promise<void> {
  const seedDir = mkdtempSync(join(tmpdir(), 'tcc-fuzz-seed-'));
  await writeSeeds(seedDir, modelsDir());
  if (o.only !== undefined) {
    const kind = o.kinds[0]!;
    const c = drawCases(kind, seedDir, o.only + 1, o.seed)[o.only]!;
    const r = await runCase(kind, seedDir, join(seedDir, 'case'), c);
    console.log(`${kind.name} case ${o.only}: ${JSON.stringify(c.edits)}\nexit ${r.code} (${r.verdict}${r.why ? `: ${r.why}` : ''})\n${r.stderr}`);
    console.log(`files kept in ${join(seedDir, 'case')}`);
    return;
  }
  console.log(`tcc fuzz: ${o.cases} cases per input kind, seed ${o.seed}, ${o.jobs} workers at a time, ${o.timeout} s per case`);
  console.log(machine());
  const tallies = new Map<Kind, Tally>();
  const queue = [...o.kinds];
  await Promise.all(Array.from({ length: o.jobs }, async () => {
    for (let kind = queue.shift(); kind; kind = queue.shift()) tallies.set(kind, await fuzzKind(kind, seedDir, o));
  }));
  const rows = o.kinds.map((k) => {
    const t = tallies.get(k)!;
    return [k.name, String(t.cases), String(t.ok), String(t.located), String(t.broken.length), `${(t.slowest / 1000).toFixed(2)} s`, `${Math.round(t.rss / 2 ** 20)} MiB`, `${Math.round(t.seconds)} s`];
  });
  const header = ['input kind', 'cases', 'exit 0', 'exit 2 located', 'anything else', 'slowest case', 'peak RSS', 'time'];
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (r: string[]) => `| ${r.map((x, c) => (c === 0 ? x.padEnd(widths[c]!) : x.padStart(widths[c]!))).join(' | ')} |`;
  console.log(['', line(header), `|${widths.map((w, c) => (c === 0 ? ':' : '') + '-'.repeat(w) + (c === 0 ? '' : ':')).join('|')}|`, ...rows.map(line)].join('\n'));
  for (const [kind, t] of tallies) {
    for (const b of t.broken.slice(0, 5)) console.log(`\n${kind.name} case ${b.i}: ${b.why} (rerun: node dist/bench/fuzz.js --seed ${o.seed} --kind '${kind.name}' --case ${b.i})\n${b.stderr}`);
  }
  rmSync(seedDir, { recursive: true, force: true });
  if ([...tallies.values()].some((t) => t.broken.length > 0)) process.exitCode = 1;
}

const argv = process.argv.slice(2);
if (argv[0] === '--worker') {
  const [, kind, seedDir, seed, from, count] = argv;
  await worker(kind!, seedDir!, Number(seed), Number(from), Number(count));
  process.exit(0);
} else {
  await parent(options(argv));
  // Dawn or a worker's pipes may keep the loop alive.
  process.exit(process.exitCode ?? 0);
}
