// Finding a model's tokenizer: --tokenizer tokenizer.json or --vocab
// vocab.txt, else the tokenizer.json of the model's directory (a HuggingFace
// directory, a program directory, or beside a spec file), else its vocab.txt.
// A vocab.txt is WordPiece as BERT's tokenizer does it, lower-cased from
// --lowercase, else the tokenizer_config.json beside it (do_lower_case), else
// true; a tokenizer.json says everything itself. An error in a tokenizer.json
// is reported at its line and column.

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CompileError, DiagnosticBag } from '../compiler/parser/diagnostics.js';
import { parseJson } from '../compiler/parser/json.js';
import { nodeAt } from '../compiler/parser/yaml.js';
import { isHfDirectory } from '../runtime/hf-config.js';
import { JsonFieldError } from '../runtime/json-fields.js';
import { JsonTokenizer } from '../train/hf-tokenizer/tokenizer.js';
import { VocabError, WordPieceTokenizer, type TextTokenizer } from '../train/tokenizer.js';
import { UsageError } from './errors.js';
import { readTextFile } from './files.js';

/** A vocabulary of a million tokens takes some 10 MB: a vocab.txt past 64 MB is not one. */
const MAX_VOCAB_BYTES = 64 * 2 ** 20;

export interface TokenizerFlags {
  readonly vocab?: string;
  readonly tokenizer?: string;
  readonly model?: string;
  readonly lowercase?: string;
}

/** The largest tokenizer.json read (XLM-R's is 9 MB). */
const MAX_TOKENIZER_JSON_BYTES = 256 * 2 ** 20;

/** The directory that holds a model's tokenizer files: the model's own (HuggingFace's, a program's), or a spec's. */
function modelDirectory(model: string): string {
  return isHfDirectory(model) || existsSync(join(model, 'program.json')) ? model : dirname(model);
}

/** The JSON pointer of a field path as JsonFieldError writes it (`model.vocab."tok"`, `normalizer.normalizers[2].type`). */
function pointerOf(path: string): string {
  const parts: string[] = [];
  for (const m of path.matchAll(/\[(\d+)\]|"((?:[^"\\]|\\.)*)"|([^.[\]"]+)/g)) {
    const part = m[1] ?? (m[2] !== undefined ? (JSON.parse(`"${m[2]}"`) as string) : m[3]!);
    parts.push(part.replace(/~/g, '~0').replace(/\//g, '~1'));
  }
  return parts.map((p) => `/${p}`).join('');
}

/** The file each loaded tokenizer came from, for messages about it. */
const sources = new WeakMap<TextTokenizer, string>();
/** A tokenizer.json's text as read and checked, which checkpoints and exports copy (the file is not read again). */
const jsonTexts = new WeakMap<TextTokenizer, string>();

export function tokenizerSource(tokenizer: TextTokenizer): string | undefined {
  return sources.get(tokenizer);
}

/** A tokenizer.json, every field checked; a bad one is a diagnostic at its line in the file. */
export function readJsonTokenizer(file: string): JsonTokenizer {
  const text = readTextFile(file, MAX_TOKENIZER_JSON_BYTES, 'tokenizer');
  try {
    const tokenizer = JsonTokenizer.fromJson(text);
    sources.set(tokenizer, file);
    jsonTexts.set(tokenizer, text);
    return tokenizer;
  } catch (e) {
    if (!(e instanceof JsonFieldError)) throw e;
    const bag = new DiagnosticBag();
    const root = parseJson(text, file, bag);
    if (bag.size || !root) throw new CompileError(bag.items, new Map([[file, text]]));
    const found = nodeAt(root, pointerOf(e.path));
    const loc = found?.keyLoc ?? found?.node.loc ?? root.loc;
    bag.error(loc, `${e.path ? `${e.path}: ` : ''}${e.problem}`);
    throw new CompileError(bag.items, new Map([[file, text]]));
  }
}

/**
 * The tokenizer of the commands that only encode text (tokenize, run): a
 * tokenizer.json where the model has one or --tokenizer names it, else the
 * WordPiece vocab.txt.
 */
export function loadTokenizer(flags: TokenizerFlags): TextTokenizer {
  if (flags.tokenizer !== undefined) {
    if (flags.vocab !== undefined) throw new UsageError('give --tokenizer or --vocab, not both');
    return readJsonTokenizer(flags.tokenizer);
  }
  if (flags.vocab === undefined && flags.model) {
    const file = join(modelDirectory(flags.model), 'tokenizer.json');
    if (existsSync(file)) {
      if (flags.lowercase !== undefined) throw new UsageError(`--lowercase applies to a vocab.txt; ${file} sets its own normalization`);
      return readJsonTokenizer(file);
    }
  }
  return loadWordPiece(flags);
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

/** A WordPiece vocab.txt: what pretraining, fine-tuning and the exports read and write. */
export function loadWordPiece(flags: TokenizerFlags): WordPieceTokenizer {
  if (flags.tokenizer !== undefined) throw new UsageError('this command reads a WordPiece vocab.txt (--vocab); a tokenizer.json serves tcc tokenize and tcc run');
  let vocab = flags.vocab;
  if (!vocab && flags.model) {
    // A model directory (HuggingFace's, or a program directory) holds its vocabulary; a spec has it beside.
    const dir = modelDirectory(flags.model);
    vocab = join(dir, 'vocab.txt');
    if (!existsSync(vocab)) throw new UsageError(`no vocab.txt in ${dir} for ${flags.model}: pass --vocab vocab.txt`);
  }
  if (!vocab) throw new UsageError('a tokenizer needs --vocab vocab.txt or --model SPEC_OR_HF_DIR');
  let lowercase: boolean;
  if (flags.lowercase === undefined) lowercase = lowercaseFrom(dirname(vocab)) ?? true;
  else if (flags.lowercase === 'true' || flags.lowercase === 'false') lowercase = flags.lowercase === 'true';
  else throw new UsageError(`--lowercase must be true or false, got '${flags.lowercase}'`);
  try {
    const tokenizer = WordPieceTokenizer.fromVocabText(readTextFile(vocab, MAX_VOCAB_BYTES, 'vocabulary'), { lowercase });
    sources.set(tokenizer, vocab);
    return tokenizer;
  } catch (e) {
    if (e instanceof VocabError) throw new UsageError(`${vocab}: ${e.message}`);
    throw e;
  }
}

/** A HuggingFace directory's tokenizer files: vocab.txt for WordPiece, else the tokenizer.json itself; the special tokens named. */
export function hfTokenizerFiles(tokenizer: TextTokenizer, maxLength: number): Record<string, string> {
  const { cls, sep, pad, mask } = tokenizer.specials;
  const named = { cls_token: cls, sep_token: sep, pad_token: pad, mask_token: mask, unk_token: ['[UNK]', '<unk>'].find((t) => tokenizer.id(t) !== undefined) };
  const special = Object.fromEntries(Object.entries(named).filter(([, t]) => t !== undefined));
  const json = (value: object) => JSON.stringify(value, null, 2) + '\n';
  if (tokenizer instanceof WordPieceTokenizer) {
    return {
      'vocab.txt': tokenizer.vocab.join('\n') + '\n',
      'tokenizer_config.json': json({ tokenizer_class: 'BertTokenizer', do_lower_case: tokenizer.options.lowercase, model_max_length: maxLength, ...special }),
      'special_tokens_map.json': json(special),
    };
  }
  // Every tokenizer.json the commands hold was read by readJsonTokenizer.
  return {
    'tokenizer.json': jsonTexts.get(tokenizer)!,
    'tokenizer_config.json': json({ model_max_length: maxLength, ...special }),
    'special_tokens_map.json': json(special),
  };
}
