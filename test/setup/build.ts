// Builds dist/ once before the suite, so that the tests that run the `tcc`
// binary as a user would always run the current sources (`npm test` has
// just built it, type-checking the tests with the sources: TCC_BUILT says
// so, and nothing is compiled twice); native modules are
// built into a directory of the suite's own (every test process inherits
// it), removed afterwards.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function setup(): () => void {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  if (process.env['TCC_BUILT'] !== '1') execFileSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { stdio: 'inherit' });
  const cache = mkdtempSync(join(tmpdir(), 'tcc-native-'));
  process.env['TCC_CACHE_DIR'] = cache;
  return () => rmSync(cache, { recursive: true, force: true });
}
