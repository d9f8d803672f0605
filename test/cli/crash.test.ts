// What a run leaves when it dies or its disk fails: a resume after a kill
// (a torn log line, a checkpoint half written) continues exactly; a full or
// read-only disk stops the run in one line with the previous checkpoint
// intact. `npm run crash-safety` kills a pretraining 100 times at random.

import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readTrainerState } from '../../runtime/checkpoint.js';
import { tcc } from '../helpers/cli.js';
import { canMount, tmpfs } from '../helpers/tmpfs.js';
import { smallPretrainWorkspace } from '../helpers/corpus.js';

const workspace = () => smallPretrainWorkspace(7);

const pretrain = (dir: string, out: string, steps: number, ...extra: string[]) =>
  tcc('pretrain', join(dir, 'm.yaml'), '--corpus', join(dir, 'corpus.txt'), '--vocab', join(dir, 'vocab.txt'), '--seq', '16', '--batch', '2', '--steps', String(steps), '--save-every', '1', '--backend', 'js', '-o', out, ...extra);

const logged = (out: string) => readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => {
  const { tokens_per_s: _, ...rest } = JSON.parse(l) as Record<string, number>;
  return rest;
});

describe('crash safety', () => {
  it('resumes after a kill exactly: a torn log line, a half-written checkpoint and a log past the checkpoint are cleaned up', async () => {
    const dir = workspace();
    const reference = join(dir, 'reference');
    expect((await pretrain(dir, reference, 4)).code).toBe(0);
    // The same run as killed during step 3's checkpoint write: checkpoint-2, steps 1-3 logged, a torn line after them.
    const killed = join(dir, 'killed');
    mkdirSync(killed);
    cpSync(join(reference, 'checkpoint-2'), join(killed, 'checkpoint-2'), { recursive: true });
    const lines = readFileSync(join(reference, 'metrics.jsonl'), 'utf8').split('\n');
    writeFileSync(join(killed, 'metrics.jsonl'), `${lines.slice(0, 3).join('\n')}\n{"step": 4, "lo`);
    mkdirSync(join(killed, 'checkpoint-3.tmp-999999999'));
    writeFileSync(join(killed, 'checkpoint-3.tmp-999999999', 'model.safetensors'), 'partial');
    const resumed = await pretrain(dir, killed, 4, '--resume');
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/resumed at step 2/);
    expect(logged(killed)).toEqual(logged(reference));
    expect(readFileSync(join(killed, 'final', 'model.safetensors')).equals(readFileSync(join(reference, 'final', 'model.safetensors')))).toBe(true);
    expect(readdirSync(killed).filter((n) => n.includes('.tmp-'))).toEqual([]);
    // Killed before its first checkpoint: the resumed run starts over, its log too.
    const early = join(dir, 'early');
    mkdirSync(early);
    writeFileSync(join(early, 'metrics.jsonl'), `${JSON.stringify({ step: 1, loss: 9 })}\n`);
    expect((await pretrain(dir, early, 4, '--resume')).code).toBe(0);
    expect(logged(early)).toEqual(logged(reference));
  });

  it.runIf(canMount())('stops in one line on a full disk and on a read-only one, the previous checkpoint intact', async () => {
    const dir = workspace();
    // Room for a few checkpoints of this model (about 40 kB each), not for eight.
    const full = tmpfs(160);
    const run = await pretrain(dir, full, 8);
    expect(run.code, run.stderr).toBe(1);
    const ours = run.stderr.split('\n').filter((l) => l.startsWith('tcc: '));
    expect(ours).toHaveLength(1);
    expect(ours[0]).toMatch(/^tcc: error: cannot write .*: no space left on device at step \d+; stopping, .*checkpoint-(\d+) is kept$/);
    const kept = /checkpoint-(\d+) is kept/.exec(ours[0]!)![0].replace(' is kept', '');
    expect(readTrainerState(join(full, kept)).state).toMatchObject({ step: Number(kept.split('-')[1]) });
    expect(readdirSync(full).filter((n) => n.includes('.tmp-'))).toEqual([]);

    const ro = tmpfs(1024);
    expect((await pretrain(dir, ro, 2)).code).toBe(0);
    const before = readFileSync(join(ro, 'checkpoint-2', 'model.safetensors'));
    execFileSync('mount', ['-o', 'remount,ro', ro]);
    const again = await pretrain(dir, ro, 4, '--resume');
    expect([1, 2]).toContain(again.code);
    const lines = again.stderr.split('\n').filter((l) => l.startsWith('tcc: '));
    expect(lines, again.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/read-only file system/);
    expect(readFileSync(join(ro, 'checkpoint-2', 'model.safetensors')).equals(before)).toBe(true);
    expect(existsSync(join(ro, 'checkpoint-3'))).toBe(false);
  });
});
