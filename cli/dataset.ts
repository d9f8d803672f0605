// `tcc dataset brown -o DIR`: real data that installs with tcc, ready for vocab, pretrain and finetune.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { readBrown, splitBrown } from '../train/brown.js';
import { parse, positiveInt, seedFlag } from './args.js';
import { UsageError, type Io } from './errors.js';
import { writeAtomic } from './files.js';

export const datasetUsage = `usage: tcc dataset brown -o DIR [--genres A,B,...] [--train-size N] [--eval-size N] [--seed N]

Writes the Brown Corpus (500 documents, 15 genres; installed with tcc) as
DIR/corpus.txt (pretraining text of the training documents), DIR/valid.txt
(the held-out documents' text, to validate a pretraining on) and
DIR/genre-train.tsv, DIR/genre-eval.tsv (sentences labelled with their
document's genre; every fifth document of a genre is held out). --train-size
and --eval-size keep a seeded random sample of the sentences; --genres keeps
only those genres in the classification set.`;

export function runDataset(argv: string[], _debug: boolean, io: Io): number {
  const { values, positionals } = parse(argv, {
    out: { type: 'string', short: 'o' }, genres: { type: 'string' }, 'train-size': { type: 'string' }, 'eval-size': { type: 'string' }, seed: { type: 'string' }, help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.stdout.write(datasetUsage + '\n');
    return 0;
  }
  if (positionals[0] !== 'brown' || positionals.length !== 1) throw new UsageError(`the datasets are: brown\n${datasetUsage}`);
  if (!values.out) throw new UsageError('dataset needs -o DIR');
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
