// `tcc fmt FILE... [--check]` and `tcc convert FILE --to yaml|tcc [-o OUT]`.

import type { IToken } from 'chevrotain';
import { basename, extname } from 'node:path';
import { parseDsl } from '../compiler/dsl/document.js';
import { printDsl, printYaml } from '../compiler/dsl/print.js';
import { CompileError, DiagnosticBag } from '../compiler/parser/diagnostics.js';
import { isDslFile } from '../compiler/parser/load.js';
import { checkSchema } from '../compiler/parser/schema.js';
import { parseYaml, type LMap } from '../compiler/parser/yaml.js';
import { oneOf, parse } from './args.js';
import { UsageError, type Io } from './errors.js';
import { readInputFile, writeAtomic, readTextFile } from './files.js';

export const fmtUsage = `usage: tcc fmt FILE.tcc... [--check]

Rewrites DSL files in canonical form (two-space indents, one declaration a
line, comments kept). --check writes nothing and exits 1 if a file would change.`;

export const convertUsage = `usage: tcc convert FILE --to yaml|tcc [-o OUT]

Writes a spec in the other form: YAML as DSL (.tcc) or DSL as YAML. Both
compile to the same IR. Without -o the result goes to stdout.`;

/** A YAML file's full-line comments as DSL comments at the same lines, so that conversion keeps them in place. */
function yamlComments(text: string): IToken[] {
  let offset = 0;
  return text.split('\n').flatMap((line, i) => {
    const at = offset;
    offset += line.length + 1;
    const m = /^\s*#\s?(.*)$/.exec(line);
    return m ? [{ image: `// ${m[1]}`.trimEnd(), startLine: i + 1, startOffset: at } as IToken] : [];
  });
}

/** A spec file's document, checked against the schema; every problem is a located diagnostic. */
function readDocument(file: string): { root: LMap; comments: readonly IToken[] } {
  const text = readTextFile(file);
  const bag = new DiagnosticBag();
  const parsed = isDslFile(file) ? parseDsl(text, file, bag) : { root: parseYaml(text, file, bag), comments: yamlComments(text) };
  const root = parsed.root;
  if (root && root.kind !== 'map') bag.error(root.loc, 'a spec file must be a mapping');
  if (root?.kind === 'map' && !bag.size) checkSchema(root, bag);
  if (bag.size || !root || root.kind !== 'map') throw new CompileError(bag.items, new Map([[file, text]]));
  return { root, comments: parsed.comments };
}

export function runFmt(argv: string[], _debug: boolean, io: Io): number {
  const { values, positionals } = parse(argv, { check: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } });
  if (values.help) {
    io.stdout.write(fmtUsage + '\n');
    return 0;
  }
  if (!positionals.length) throw new UsageError(`fmt needs a file\n${fmtUsage}`);
  let changed = 0;
  for (const file of positionals) {
    if (!isDslFile(file)) throw new UsageError(`${file} is not a .tcc file (YAML is formatted by YAML tools; tcc convert turns it into DSL)`);
    const before = readTextFile(file);
    const { root, comments } = readDocument(file);
    const after = printDsl(root, { comments, fallbackName: basename(file, '.tcc') });
    if (after === before) continue;
    changed++;
    if (values.check) io.stderr.write(`${file} is not formatted\n`);
    else writeAtomic(file, after);
  }
  return values.check && changed ? 1 : 0;
}

export function runConvert(argv: string[], _debug: boolean, io: Io): number {
  const { values, positionals } = parse(argv, { to: { type: 'string' }, out: { type: 'string', short: 'o' }, help: { type: 'boolean', short: 'h' } });
  if (values.help) {
    io.stdout.write(convertUsage + '\n');
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(`convert takes one file\n${convertUsage}`);
  if (!values.to) throw new UsageError(`convert needs --to yaml or --to tcc\n${convertUsage}`);
  const to = oneOf(values.to, '--to', ['yaml', 'tcc'], 'tcc');
  const file = positionals[0]!;
  const { root, comments } = readDocument(file);
  const text = to === 'tcc' ? printDsl(root, { comments, fallbackName: basename(file, extname(file)) }) : printYaml(root);
  if (values.out) writeAtomic(values.out, text);
  else io.stdout.write(text);
  return 0;
}
