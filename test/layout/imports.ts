// The project's own import graph, read from the sources: each file's
// static imports, re-exports and dynamic import() of a literal path.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

export const ROOT = resolve(dirname(new URL(import.meta.url).pathname), '../..');

const IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)(['"])(\.{1,2}\/[^'"]+)\1/gm;

/** The project files `file` imports (paths relative to the root), type-only imports included unless `values` is set. */
export function importsOf(file: string, values = false): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const found: string[] = [];
  for (const m of text.matchAll(IMPORT)) {
    if (values && /\bimport\s+type\b|\bexport\s+type\b/.test(lineOf(text, m.index!))) continue;
    const target = relative(ROOT, resolve(ROOT, dirname(file), m[2]!.replace(/\.js$/, '.ts')));
    if (existsSync(join(ROOT, target))) found.push(target);
  }
  return found;
}

function lineOf(text: string, at: number): string {
  const start = text.lastIndexOf('\n', at) + 1;
  const end = text.indexOf('\n', at);
  return text.slice(start, end < 0 ? undefined : end);
}

/** Every project file reachable from `roots` through imports (static and dynamic). */
export function closure(roots: readonly string[], values = false): Set<string> {
  const seen = new Set<string>();
  const stack = [...roots];
  while (stack.length) {
    const file = stack.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    stack.push(...importsOf(file, values));
  }
  return seen;
}

/** The source files under `dir` (relative to the root): TypeScript unless `extensions` says more. */
export function sourcesUnder(dir: string, extensions: readonly string[] = ['.ts']): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => extensions.some((e) => f.endsWith(e)) && !f.endsWith('.d.ts'))
    .map((f) => join(dir, f))
    .sort();
}
