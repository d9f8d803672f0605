// Small file systems for tests of a full or read-only disk: a tmpfs of a
// given size, mounted where this process may (root in a container usually
// may), unmounted after the test file.

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

/** Whether this process may mount a tmpfs. */
export function canMount(): boolean {
  const probe = mkdtempSync(join(tmpdir(), 'tcc-mount-'));
  const ok = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe]).status === 0;
  if (ok) spawnSync('umount', [probe]);
  return ok;
}

const mounted: string[] = [];
let registered = false;

/** A fresh tmpfs of `kilobytes`, unmounted when the test file ends. */
export function tmpfs(kilobytes: number): string {
  if (!registered) {
    afterAll(() => {
      for (const m of mounted.splice(0)) spawnSync('umount', [m]);
    });
    registered = true;
  }
  const dir = mkdtempSync(join(tmpdir(), 'tcc-tmpfs-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${kilobytes}k`, 'tmpfs', dir]);
  mounted.push(dir);
  return dir;
}
