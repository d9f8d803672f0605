// The rooms of the tree keep to their arrows (the Layout section of the
// README): the runtime loads and runs programs without the compiler, and a
// backend is reached only through the registry, so that a new backend is a
// folder and a line in backends/registry.ts.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../../backends/registry.js';
import { closure, importsOf, ROOT, sourcesUnder } from './imports.js';

/** The product's own code: what ships, tests and benchmarks aside (they pick backends by name, as a user does). */
const PRODUCT = ['kernel', 'numerics', 'compiler', 'backends', 'runtime', 'train', 'cli', 'web'];

describe('the import graph', () => {
  it('keeps the runtime free of the compiler: no compiler/ file in its import closure, static or dynamic', () => {
    const reached = closure(sourcesUnder('runtime'));
    expect(reached.size).toBeGreaterThan(sourcesUnder('runtime').length);
    expect([...reached].filter((f) => f.startsWith('backends/registry'))).toEqual(['backends/registry.ts']);
    expect([...reached].filter((f) => f.startsWith('compiler/'))).toEqual([]);
  });

  it('keeps the kernel IR and the shared numerics below everything else', () => {
    for (const file of sourcesUnder('numerics')) expect(importsOf(file).filter((f) => !f.startsWith('numerics/')), file).toEqual([]);
    for (const file of sourcesUnder('kernel')) expect(importsOf(file, true).filter((f) => !f.startsWith('kernel/') && !f.startsWith('numerics/')), file).toEqual([]);
  });

  it('lets a backend import no other backend, and nothing but the registry import a backend', () => {
    const folders = BACKENDS.map((b) => `backends/${b.name}/`);
    for (const file of PRODUCT.flatMap((dir) => sourcesUnder(dir))) {
      const own = folders.find((f) => file.startsWith(f));
      const others = importsOf(file).filter((f) => folders.some((folder) => f.startsWith(folder) && folder !== own));
      if (file === 'backends/registry.ts') continue;
      expect(others, file).toEqual([]);
    }
  });

  it('finds the imports it checks (a test of the reader itself)', () => {
    expect(importsOf('runtime/session.ts')).toContain('backends/registry.ts');
    expect(importsOf('backends/webgpu/index.ts')).toContain('backends/webgpu/executor.ts');
    expect(importsOf('cli/backend.ts')).toContain('compiler/program.ts');
  });
});

describe('backend names', () => {
  it('appear in the product only in their own folder and in the registry', () => {
    const offenders: string[] = [];
    for (const backend of BACKENDS) {
      const quoted = new RegExp(`(['"\`])${backend.name}\\1|--backend[ =]${backend.name}\\b|\\|${backend.name}\\b|\\b${backend.name}\\|`);
      for (const file of PRODUCT.flatMap((dir) => sourcesUnder(dir))) {
        if (file.startsWith(`backends/${backend.name}/`) || file === 'backends/registry.ts') continue;
        readFileSync(join(ROOT, file), 'utf8').split('\n').forEach((line, i) => {
          if (quoted.test(line)) offenders.push(`${file}:${i + 1}: ${line.trim()}`);
        });
      }
    }
    expect(offenders).toEqual([]);
  });

  it('match their folders, one backend per folder', () => {
    const names = BACKENDS.map((b) => b.name);
    expect(new Set(names).size).toBe(names.length);
    for (const name of names) expect(sourcesUnder(`backends/${name}`)).toContain(`backends/${name}/index.ts`);
  });
});

describe('renderers', () => {
  it('hold no loss or scatter code: those ops reach every backend as maps and reductions', () => {
    const comment = /^\s*(\/\/|\*|\/\*)/;
    const opCode = /cross.?entropy|scatter|ignore.?index|labelled|argmax/i;
    const offenders: string[] = [];
    for (const file of sourcesUnder('backends', ['.ts', '.c'])) {
      readFileSync(join(ROOT, file), 'utf8').split('\n').forEach((line, i) => {
        if (!comment.test(line) && opCode.test(line)) offenders.push(`${file}:${i + 1}: ${line.trim()}`);
      });
    }
    expect(offenders).toEqual([]);
  });
});
