// `tcc dataset brown|text -o DIR`: real data that installs with tcc or the system, ready for vocab, pretrain and finetune.

import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { readBrown, splitBrown } from '../train/brown.js';
import { mixCorpora, TEXT_SOURCES, type SourceCount, type TextDocument } from '../train/text-sources.js';
import { parse, positiveInt, seedFlag } from './args.js';
import { UsageError, type Io } from './errors.js';
import { writeAtomic } from './files.js';

export const datasetUsage = `usage: tcc dataset brown -o DIR [--genres A,B,...] [--train-size N] [--eval-size N] [--seed N]
       tcc dataset text -o DIR [--sources NAME,...] [--hold-out-every K] [--NAME PATH ...]

Writes the Brown Corpus (500 documents, 15 genres; installed with tcc) as
DIR/corpus.txt (pretraining text of the training documents), DIR/valid.txt
(the held-out documents' text, to validate a pretraining on) and
DIR/genre-train.tsv, DIR/genre-eval.tsv (sentences labelled with their
document's genre; every fifth document of a genre is held out). --train-size
and --eval-size keep a seeded random sample of the sentences; --genres keeps
only those genres in the classification set.

dataset text writes pretraining text from several corpora as DIR/corpus.txt
and DIR/valid.txt (one sentence per line, a blank line between documents),
each sentence cleaned and kept once across all sources, every K-th document
of each source (default 20) held back as validation text, and the words,
sentences and documents of each source in DIR/sources.json. The sources
(default: those installed), each read from its usual place or --NAME PATH:
${TEXT_SOURCES.map((s) => `  ${s.name.padEnd(14)}${s.about}`).join('\n')}`;

export function runDataset(argv: string[], _debug: boolean, io: Io): number {
  const { values, positionals } = parse(argv, {
    out: { type: 'string', short: 'o' }, sources: { type: 'string' }, 'hold-out-every': { type: 'string' },
    ...Object.fromEntries(TEXT_SOURCES.map((s) => [s.name, { type: 'string' as const }])),
    genres: { type: 'string' }, 'train-size': { type: 'string' }, 'eval-size': { type: 'string' }, seed: { type: 'string' }, help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.stdout.write(datasetUsage + '\n');
    return 0;
  }
  if (!['brown', 'text'].includes(positionals[0] ?? '') || positionals.length !== 1) throw new UsageError(`the datasets are: brown, text\n${datasetUsage}`);
  if (!values.out) throw new UsageError('dataset needs -o DIR');
  if (positionals[0] === 'text') return writeText(values.out, values, io);
  const documents = readBrown();
  const size = (flag: 'train-size' | 'eval-size') => (values[flag] === undefined ? undefined : positiveInt(values[flag], `--${flag}`, 0));
  const split = splitBrown(documents, { ...(values.genres ? { genres: values.genres.split(',') } : {}), trainSize: size('train-size'), evalSize: size('eval-size'), seed: seedFlag(values.seed) });
  mkdirSync(values.out, { recursive: true });
  writeAtomic(join(values.out, 'corpus.txt'), split.corpus);
  writeAtomic(join(values.out, 'valid.txt'), split.validation);
  writeAtomic(join(values.out, 'genre-train.tsv'), split.train);
  writeAtomic(join(values.out, 'genre-eval.tsv'), split.eval);
  const count = (tsv: string) => tsv.trim().split('\n').length - 1;
  const text = (t: string) => `${t.split('\n\n').length} documents, ${t.split(/\s+/).filter((w) => /\w/.test(w)).length.toLocaleString('en-US')} words`;
  io.stderr.write(`wrote ${values.out}: corpus.txt (${text(split.corpus)}), valid.txt (${text(split.validation)}), genre-train.tsv (${count(split.train)} sentences), genre-eval.tsv (${count(split.eval)})\n`);
  return 0;
}

function writeText(out: string, values: Record<string, string | boolean | undefined>, io: Io): number {
  const named = typeof values.sources === 'string' ? values.sources.split(',').map((s) => s.trim()) : undefined;
  const unknown = named?.find((n) => !TEXT_SOURCES.some((s) => s.name === n));
  if (unknown !== undefined) throw new UsageError(`--sources: no source '${unknown}' (they are ${TEXT_SOURCES.map((s) => s.name).join(', ')})`);
  for (const s of TEXT_SOURCES) if (typeof values[s.name] === 'string' && named && !named.includes(s.name)) throw new UsageError(`--${s.name} is given but --sources leaves ${s.name} out`);
  const holdOut = positiveInt(values['hold-out-every'] as string | undefined, '--hold-out-every', 20);
  if (holdOut < 2) throw new UsageError('--hold-out-every must be at least 2 (1 would hold back every document)');
  const read: { name: string; documents: TextDocument[] }[] = [];
  const absent: string[] = [];
  for (const source of TEXT_SOURCES) {
    const given = values[source.name];
    if (named && !named.includes(source.name)) continue;
    const path = typeof given === 'string' ? given : source.defaultPath();
    if (!named && given === undefined && !existsSync(path)) {
      absent.push(source.name);
      continue;
    }
    read.push({ name: source.name, documents: source.read(path) });
  }
  const mixed = mixCorpora(read, holdOut);
  if (!mixed.corpus) throw new UsageError('the sources gave no text');
  mkdirSync(out, { recursive: true });
  writeAtomic(join(out, 'corpus.txt'), mixed.corpus);
  writeAtomic(join(out, 'valid.txt'), mixed.validation);
  writeAtomic(join(out, 'sources.json'), JSON.stringify(mixed.counts, null, 2) + '\n');
  const n = (x: number) => x.toLocaleString('en-US');
  const line = (c: SourceCount) => `${c.source.padEnd(14)}${n(c.documents).padStart(9)}${n(c.sentences).padStart(11)}${n(c.words).padStart(12)}${n(c.duplicates).padStart(11)}`;
  const total = (cs: SourceCount[]): SourceCount => cs.reduce((t, c) => ({ source: 'all', documents: t.documents + c.documents, sentences: t.sentences + c.sentences, words: t.words + c.words, duplicates: t.duplicates + c.duplicates }), { source: 'all', documents: 0, sentences: 0, words: 0, duplicates: 0 });
  const header = `${'source'.padEnd(14)}${'documents'.padStart(9)}${'sentences'.padStart(11)}${'words'.padStart(12)}${'duplicates'.padStart(11)}`;
  io.stdout.write(`corpus.txt\n${header}\n${[...mixed.counts.train, total(mixed.counts.train)].map(line).join('\n')}\n`);
  io.stdout.write(`valid.txt (the held-back documents)\n${header}\n${[...mixed.counts.validation, total(mixed.counts.validation)].map(line).join('\n')}\n`);
  if (absent.length) io.stderr.write(`not installed, left out: ${absent.join(', ')} (tcc dataset --help says where each comes from)\n`);
  io.stderr.write(`wrote ${out}: corpus.txt, valid.txt, sources.json\n`);
  return 0;
}
