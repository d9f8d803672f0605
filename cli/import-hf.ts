// `tcc import-hf DIR -o model.yaml`: a HuggingFace BERT directory's config.json as a spec.

import { importHfConfig } from '../compiler/parser/hf-config.js';
import { parse } from './args.js';
import { UsageError, type Io } from './errors.js';
import { writeAtomic } from './files.js';
import { localModel } from './hub.js';

export const importUsage = `usage: tcc import-hf DIR [-o model.yaml]

Writes the spec equivalent to a HuggingFace BERT directory's config.json
(to stdout without -o). Commands that take a spec also take DIR itself.`;

export async function runImportHf(argv: string[], _debug: boolean, io: Io): Promise<number> {
  const { values, positionals } = parse(argv, { out: { type: 'string', short: 'o' }, help: { type: 'boolean', short: 'h' } });
  if (values.help) {
    io.stdout.write(importUsage + '\n');
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(`import-hf takes one directory, got ${positionals.length}\n${importUsage}`);
  const { yaml, architecture } = importHfConfig(await localModel(positionals[0]!, io));
  if (values.out) {
    writeAtomic(values.out, yaml);
    io.stderr.write(`wrote ${values.out} (${architecture})\n`);
  } else io.stdout.write(yaml);
  return 0;
}
