// Finding a model's tokenizer: --vocab FILE, or the vocab.txt of a HuggingFace
// directory (or beside a spec file); lower-casing from --lowercase, else the
// tokenizer_config.json beside the vocabulary (do_lower_case), else true.

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { isHfDirectory } from '../runtime/hf-config.js';
import { VocabError, WordPieceTokenizer } from '../train/tokenizer.js';
import { UsageError } from './errors.js';
import { readTextFile } from './files.js';

/** A vocabulary of a million tokens takes some 10 MB: a vocab.txt past 64 MB is not one. */
const MAX_VOCAB_BYTES = 64 * 2 ** 20;

export interface TokenizerFlags {
  readonly vocab?: string;
  readonly model?: string;
  readonly lowercase?: string;
}

function lowercaseFrom(dir: string): boolean | undefined {
  const file = join(dir, 'tokenizer_config.json');
  if (!existsSync(file)) return undefined;
  try {
    const config = JSON.parse(readTextFile(file, 1 << 20, 'tokenizer configuration')) as { do_lower_case?: unknown };
    return typeof config.do_lower_case === 'boolean' ? config.do_lower_case : undefined;
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`${file}: not valid JSON`);
  }
}

export function loadTokenizer(flags: TokenizerFlags): WordPieceTokenizer {
  let vocab = flags.vocab;
  if (!vocab && flags.model) {
    // A model directory (HuggingFace's, or a program directory) holds its vocabulary; a spec has it beside.
    const dir = isHfDirectory(flags.model) || existsSync(join(flags.model, 'program.json')) ? flags.model : dirname(flags.model);
    vocab = join(dir, 'vocab.txt');
    if (!existsSync(vocab)) throw new UsageError(`no vocab.txt in ${dir} for ${flags.model}: pass --vocab vocab.txt`);
  }
  if (!vocab) throw new UsageError('a tokenizer needs --vocab vocab.txt or --model SPEC_OR_HF_DIR');
  let lowercase: boolean;
  if (flags.lowercase === undefined) lowercase = lowercaseFrom(dirname(vocab)) ?? true;
  else if (flags.lowercase === 'true' || flags.lowercase === 'false') lowercase = flags.lowercase === 'true';
  else throw new UsageError(`--lowercase must be true or false, got '${flags.lowercase}'`);
  try {
    return WordPieceTokenizer.fromVocabText(readTextFile(vocab, MAX_VOCAB_BYTES, 'vocabulary'), { lowercase });
  } catch (e) {
    if (e instanceof VocabError) throw new UsageError(`${vocab}: ${e.message}`);
    throw e;
  }
}
