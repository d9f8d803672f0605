// Progress off a terminal: about one line per twentieth of the work, the last
// always, with the rate and the time left; nothing repeated.

import { describe, expect, it } from 'vitest';
import { progress, timedProgress } from '../../cli/progress.js';

describe('progress lines', () => {
  it('prints about twenty lines with rate and time left, ending at the total', () => {
    let text = '';
    const bar = progress({ stderr: { write: (t: string) => (text += t) } }, 'pretraining', 1000, { unit: 'steps' });
    for (let step = 1; step <= 1000; step++) bar.update(step, `loss ${(1 / step).toFixed(3)}`);
    bar.update(1000);
    bar.log('saved run/final');
    bar.stop();
    const lines = text.trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(20);
    expect(lines.length).toBeLessThanOrEqual(23);
    expect(lines[0]).toMatch(/^pretraining 1\/1000 steps \([\d.]+ steps\/s, \w+ left\) loss 1\.000$/);
    expect(lines[1]).toMatch(/^pretraining 50\/1000 steps .* loss 0\.020$/);
    expect(lines.at(-2)).toMatch(/^pretraining 1000\/1000 steps \([\d.]+ steps\/s, 0s left\)/);
    expect(lines.at(-1)).toBe('saved run/final');
  });

  it('says how long a timed job should take, from an estimate, and how long it took', () => {
    let text = '';
    const io = { stderr: { write: (t: string) => (text += t) } };
    timedProgress(io, 'compiling native kernels with cc', 2300).stop();
    timedProgress(io, 'compiling native kernels with cc').stop();
    expect(text.split('\n')).toEqual([
      "compiling native kernels with cc (about 2.3s, from this machine's earlier builds)…",
      expect.stringMatching(/^  built in \d+\.\ds$/),
      'compiling native kernels with cc…',
      expect.stringMatching(/^  built in \d+\.\ds$/),
      '',
    ]);
  });
});
