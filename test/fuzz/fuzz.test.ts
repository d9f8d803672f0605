// The fuzz suites at a size for every run of the tests: mutated files of each
// kind tcc reads (specs, checkpoints, configs, vocabularies, inputs, data,
// program directories), run through the CLI in this process. Each must end
// in exit 0 or exit 2 with an error line naming the file. `npm run fuzz` runs
// 10,000 cases of each in watched worker processes (hangs, signals, memory).

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { drawCases, KINDS, runCase, writeSeeds } from '../../bench/fuzz/kinds.js';
import { modelsDir } from '../helpers/cli.js';

const CASES = 60;
const seedDir = mkdtempSync(join(tmpdir(), 'tcc-fuzz-seed-'));

describe(`fuzz: ${CASES} mutated files per input kind end in exit 0 or a located exit 2`, () => {
  beforeAll(async () => {
    await writeSeeds(seedDir, modelsDir());
  }, 60_000);

  for (const kind of KINDS) {
    it(kind.name, async () => {
      const seed = fc.readConfigureGlobal().seed ?? 1;
      const cases = drawCases(kind, seedDir, CASES, seed);
      const verdicts = { ok: 0, located: 0, broken: 0 };
      for (const [i, c] of cases.entries()) {
        const r = await runCase(kind, seedDir, join(seedDir, 'case'), c);
        verdicts[r.verdict]++;
        expect(r.verdict, `${kind.name} case ${i} (node dist/bench/fuzz.js --seed ${seed} --kind '${kind.name}' --case ${i}): ${r.why}\n${r.stderr}`).not.toBe('broken');
      }
      // The seed file itself must be accepted, or every case would be a refusal of something else.
      expect(verdicts.ok, 'no mutated case ran through: is the seed file accepted?').toBeGreaterThan(0);
    }, 120_000);
  }
});
