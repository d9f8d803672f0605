// `tcc tokenize (--tokenizer tokenizer.json | --vocab vocab.txt | --model SPEC_OR_HF_DIR) (--text "…" [--text-pair "…"] | --file F) [--max-length N] [--pad] [--lowercase true|false] [--json]`

import type { Encoding } from '../train/tokenizer.js';
import { parse, positiveInt } from './args.js';
import { UsageError, type Io } from './errors.js';
import { readInputFile, readTextFile } from './files.js';
import { loadTokenizer } from './tokenizer.js';
import { localModelFlag, localTokenizerFlag, localVocabFlag } from './hub.js';

export const tokenizeUsage = `usage: tcc tokenize (--tokenizer tokenizer.json | --vocab vocab.txt | --model SPEC_OR_HF_DIR) (--text "..." [--text-pair "..."] | --file F) [--max-length N] [--pad] [--lowercase true|false] [--json]

Tokenizes text as HuggingFace's tokenizers do: a tokenizer.json (WordPiece,
byte-level BPE or SentencePiece Unigram, with its normalizer, pre-tokenizer,
added tokens and post-processor), or a WordPiece vocab.txt as BertTokenizer:
[CLS] A [SEP] (B [SEP]). Prints tokens, ids, type ids, the attention mask and,
for a tokenizer.json, each token's character range in its text.
  --model M         a HuggingFace directory (its tokenizer.json, else vocab.txt),
                    or a spec with vocab.txt beside it
  --file F          JSON lines, each a string or {"text": ..., "text_pair": ...};
                    prints one JSON object per line
  --max-length N    truncate (longest first) to N tokens, special tokens included
  --pad             pad to --max-length with [PAD]
  --lowercase B     for a vocab.txt; default: its tokenizer_config.json, else true`;

function printable(e: Encoding) {
  return { tokens: e.tokens, input_ids: e.input_ids, token_type_ids: e.token_type_ids, attention_mask: e.attention_mask, ...(e.offsets ? { offsets: e.offsets } : {}) };
}

export async function runTokenize(argv: string[], _debug: boolean, io: Io): Promise<number> {
  const { values, positionals } = parse(argv, {
    vocab: { type: 'string' },
    tokenizer: { type: 'string' },
    model: { type: 'string' },
    text: { type: 'string' },
    'text-pair': { type: 'string' },
    file: { type: 'string' },
    'max-length': { type: 'string' },
    pad: { type: 'boolean' },
    lowercase: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.stdout.write(tokenizeUsage + '\n');
    return 0;
  }
  if (positionals.length) throw new UsageError(`tokenize takes no positional arguments, got '${positionals[0]}'`);
  if ((values.text === undefined) === (values.file === undefined)) throw new UsageError('tokenize needs exactly one of --text and --file');
  if (values.pad && !values['max-length']) throw new UsageError('--pad needs --max-length');
  const tokenizer = loadTokenizer({ ...values, vocab: await localVocabFlag(values.vocab, io), tokenizer: await localTokenizerFlag(values.tokenizer, io), model: await localModelFlag(values.model, io) });
  const options = { maxLength: values['max-length'] ? positiveInt(values['max-length'], '--max-length', 0) : undefined, pad: values.pad ?? false };

  if (values.text !== undefined) {
    const e = tokenizer.encode(values.text, { ...options, pair: values['text-pair'] });
    if (values.json) io.stdout.write(JSON.stringify(printable(e)) + '\n');
    else {
      io.stdout.write(`tokens          ${e.tokens.join(' ')}\n`);
      io.stdout.write(`input_ids       ${e.input_ids.join(' ')}\n`);
      io.stdout.write(`token_type_ids  ${e.token_type_ids.join(' ')}\n`);
      io.stdout.write(`attention_mask  ${e.attention_mask.join(' ')}\n`);
      if (e.offsets) io.stdout.write(`offsets         ${e.offsets.map(([a, b]) => `${a}-${b}`).join(' ')}\n`);
    }
    return 0;
  }
  const lines = readTextFile(values.file!).split('\n');
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    let item: unknown;
    try {
      item = JSON.parse(line);
    } catch {
      throw new UsageError(`${values.file}:${i + 1}: not a JSON value`);
    }
    const obj = item as { text?: unknown; text_pair?: unknown };
    const text = typeof item === 'string' ? item : obj?.text;
    const pair = typeof item === 'string' ? undefined : obj?.text_pair;
    if (typeof text !== 'string' || (pair !== undefined && typeof pair !== 'string')) {
      throw new UsageError(`${values.file}:${i + 1}: expected a string or {"text": string, "text_pair"?: string}`);
    }
    io.stdout.write(JSON.stringify(printable(tokenizer.encode(text, { ...options, pair: pair as string | undefined }))) + '\n');
  });
  return 0;
}
