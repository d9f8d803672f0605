// `tcc vocab --corpus PATH --size N -o vocab.txt [--lowercase true|false] [--min-frequency N]`

import { trainVocabulary } from '../train/vocab.js';
import { parse, positiveInt } from './args.js';
import { UsageError, type Io } from './errors.js';
import { readInputFile, writeAtomic, readTextFile } from './files.js';

export const vocabUsage = `usage: tcc vocab --corpus PATH --size N -o vocab.txt [--lowercase true|false] [--min-frequency N]

Trains a WordPiece vocabulary (HuggingFace's WordPiece trainer: merges of frequent
piece pairs) with [PAD] [UNK] [CLS] [SEP] [MASK] first. Default: lower-cased, pairs
seen at least twice.`;

export function runVocab(argv: string[], _debug: boolean, io: Io): number {
  const { values } = parse(argv, {
    corpus: { type: 'string' }, size: { type: 'string' }, out: { type: 'string', short: 'o' }, lowercase: { type: 'string' }, 'min-frequency': { type: 'string' }, help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.stdout.write(vocabUsage + '\n');
    return 0;
  }
  if (!values.corpus || !values.size || !values.out) throw new UsageError(`vocab needs --corpus, --size and -o\n${vocabUsage}`);
  if (values.lowercase !== undefined && values.lowercase !== 'true' && values.lowercase !== 'false') throw new UsageError(`--lowercase must be true or false, got '${values.lowercase}'`);
  const size = positiveInt(values.size, '--size', 0);
  const vocab = trainVocabulary(readTextFile(values.corpus), size, { lowercase: values.lowercase !== 'false' }, positiveInt(values['min-frequency'], '--min-frequency', 2));
  writeAtomic(values.out, vocab.join('\n') + '\n');
  io.stderr.write(`wrote ${values.out}: ${vocab.length} tokens${vocab.length < size ? ` (the corpus allowed no more than ${vocab.length})` : ''}\n`);
  return 0;
}
