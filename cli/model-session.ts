// What the commands that run a model share once its session is open: the
// tokenizer checked against the model's vocabulary, and the weights set
// (from a checkpoint, or drawn as BERT initializes them).

import { readSafetensors } from '../runtime/safetensors.js';
import type { Program } from '../runtime/program.js';
import type { Session } from '../runtime/session.js';
import { matchWeights } from '../runtime/weights.js';
import { WordPieceTokenizer, type TextTokenizer } from '../train/tokenizer.js';
import { UsageError, type Io } from './errors.js';
import { readInputFile } from './files.js';
import { initWithProgress } from './progress.js';
import { tokenizerSource } from './tokenizer.js';

/**
 * A vocabulary of another size gives other ids than the model learned:
 * refused, not guessed at. A tokenizer.json may have fewer tokens than the
 * model has rows (nomic-embed pads 30,522 to 30,528), never more.
 */
export function checkTokenizerSize(tokenizer: TextTokenizer | undefined, program: Program): void {
  const vocabSize = program.inputs.find((i) => i.name === 'input_ids')?.bound;
  if (!tokenizer || vocabSize === undefined) return;
  const json = !(tokenizer instanceof WordPieceTokenizer);
  if (json ? tokenizer.vocab.length > vocabSize : tokenizer.vocab.length !== vocabSize) {
    throw new UsageError(`${tokenizerSource(tokenizer) ?? 'the vocabulary'} has ${tokenizer.vocab.length.toLocaleString('en-US')} tokens, but the model's vocab_size is ${vocabSize.toLocaleString('en-US')}: give the model's own ${json ? 'tokenizer.json (--tokenizer)' : 'vocab.txt (--vocab)'}`);
  }
}

/** Sets the session's parameters from a safetensors file, or draws them from `seed`; returns a note saying which. */
export function setWeights(session: Session, weights: string | undefined, seed: number, io: Io): string {
  const { program } = session;
  if (!weights) {
    session.setParams(initWithProgress(io, program.params, seed));
    return `random weights (seed ${seed})`;
  }
  const file = readSafetensors(readInputFile(weights), weights);
  const matched = matchWeights(program.params, file.tensors, weights);
  if (matched.missing.length) throw new UsageError(`${weights} lacks ${matched.missing.length} of the model's parameters, e.g. '${matched.missing[0]}'`);
  session.setParams(matched.values);
  return `weights ${weights}${matched.unused.length ? ` (${matched.unused.length} tensors unused, e.g. '${matched.unused[0]}')` : ''}`;
}
