// Builds dist/ once before the suite, so that the tests that run the `tcc`
// binary as a user would always run the current sources; native modules are
// built into a directory of the suite's own (every test process inherits
// it), removed afterwards.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function setup(): () => void {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { stdio: 'inherit' });
  const cache = mkdtempSync(join(tmpdir(), 'tcc-native-'));
  process.env['TCC_CACHE_DIR'] = cache;
  return () => rmSync(cache, { recursive: true, force: true });
}
