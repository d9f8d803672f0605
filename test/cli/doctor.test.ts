// tcc doctor: every piece checked, what is missing said with its cost; a
// machine without a C compiler is told that CPU code falls back to WebAssembly.

import { describe, expect, it } from 'vitest';
import { resetCompilerProbe } from '../../backends/native/build.js';
import { BACKENDS } from '../../backends/registry.js';
import { tcc } from '../helpers/cli.js';

interface Report {
  checks: { name: string; ok: boolean; found: string; cost?: string }[];
}

describe('tcc doctor', () => {
  it('checks node, every registered backend, Chromium and PyTorch, and says what a missing one costs', { timeout: 60_000 }, async () => {
    const result = await tcc('doctor', '--json');
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as Report;
    expect(report.checks.map((c) => c.name)).toEqual(['node', ...BACKENDS.map((b) => b.name), 'chromium', 'python-torch']);
    expect(report.checks[0]!.ok).toBe(true);
    for (const c of report.checks) expect(c.ok || (c.cost ?? '').length > 0, c.name).toBe(true);

    const path = process.env['PATH'];
    const cc = process.env['CC'];
    process.env['PATH'] = '/nonexistent';
    delete process.env['CC'];
    resetCompilerProbe();
    try {
      const text = await tcc('doctor');
      expect(text.stdout).toMatch(/^missing native +no C compiler found \(cc, gcc or \$CC\)$/m);
      expect(text.stdout).toMatch(/without it: --backend cpu runs WebAssembly instead of native code; install gcc/);
      expect(text.stdout).toMatch(/pieces? missing; tcc runs without them/);
    } finally {
      process.env['PATH'] = path;
      if (cc !== undefined) process.env['CC'] = cc;
      resetCompilerProbe();
    }
  });
});
