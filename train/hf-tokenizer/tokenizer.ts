// A tokenizer read from HuggingFace's tokenizer.json: added tokens found,
// then normalizer → pre-tokenizer → model (WordPiece, byte-level BPE or
// Unigram) → post-processor, giving the ids, type ids and character offsets
// that HuggingFace's tokenizers give. Every field of the file is checked
// before use; a component tcc does not implement is refused at its path.

import { Fields, JsonFieldError } from '../../runtime/json-fields.js';
import type { Encoding, EncodeOptions, SpecialTokens, TextTokenizer } from '../tokenizer.js';
import { AddedVocabulary, readAddedTokens, type AddedToken } from './added-tokens.js';
import { readModel, type Model } from './models.js';
import { NormalizedText } from './normalized.js';
import { readNormalizer, type Normalizer } from './normalizers.js';
import { readPostProcessor, type Encoded, type PostProcessor } from './post-processors.js';
import { readPreTokenizer, type PreTokenizer } from './pre-tokenizers.js';

export interface JsonEncoding extends Encoding {
  readonly offsets: [number, number][];
}

const KNOWN = ['version', 'truncation', 'padding', 'added_tokens', 'normalizer', 'pre_tokenizer', 'post_processor', 'decoder', 'model'];

/** Names a tokenizer's padding, mask and unknown tokens go by, in the order they are looked for. */
const PAD_NAMES = ['[PAD]', '<pad>', '<|padding|>'];
const MASK_NAMES = ['[MASK]', '<mask>'];

export class JsonTokenizer implements TextTokenizer {
  private readonly added: AddedVocabulary;
  private readonly addedIds = new Map<string, number>();
  private readonly specialTokens = new Set<string>();
  /** Token strings by id, the model's and the added ones ('' for an id that has none). */
  readonly vocab: readonly string[];
  readonly specials: SpecialTokens;

  private constructor(
    private readonly model: Model,
    normalizer: Normalizer | undefined,
    private readonly preTokenizer: PreTokenizer | undefined,
    private readonly postProcessor: PostProcessor | undefined,
    addedTokens: readonly AddedToken[],
    padToken: string | undefined,
  ) {
    const vocab = [...model.vocab];
    for (const t of addedTokens) {
      this.addedIds.set(t.content, t.id);
      if (t.special) this.specialTokens.add(t.content);
      vocab[t.id] ??= t.content;
    }
    this.vocab = Array.from(vocab, (t) => t ?? '');
    const normalizeContent = (content: string) => (normalizer ? normalizer(NormalizedText.of(content)).text() : content);
    this.added = new AddedVocabulary(addedTokens, normalizer, normalizeContent);
    const sequenceTokens = postProcessor?.specials ?? [];
    this.specials = {
      cls: sequenceTokens[0],
      sep: sequenceTokens[sequenceTokens.length - 1],
      pad: padToken ?? PAD_NAMES.find((t) => this.id(t) !== undefined),
      mask: MASK_NAMES.find((t) => this.id(t) !== undefined),
    };
  }

  /** Parses and checks a tokenizer.json; errors are JsonFieldErrors at a path of the document. */
  static fromJson(text: string): JsonTokenizer {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (e) {
      throw new JsonFieldError('', `not valid JSON (${(e as Error).message})`);
    }
    const f = Fields.of(doc, '');
    f.only(KNOWN);
    const model = readModel(f.object('model'));
    const normalizer = readNormalizer(f.has('normalizer') ? f.get('normalizer') : null, 'normalizer');
    const preTokenizer = readPreTokenizer(f.has('pre_tokenizer') ? f.get('pre_tokenizer') : null, 'pre_tokenizer');
    const postProcessor = readPostProcessor(f.has('post_processor') ? f.get('post_processor') : null, 'post_processor');
    const added = f.has('added_tokens') ? readAddedTokens(f.get('added_tokens'), 'added_tokens', 4_000_000) : [];
    let padToken: string | undefined;
    if (f.has('padding') && f.value.padding !== null) padToken = f.object('padding').string('pad_token');
    for (const key of ['truncation', 'decoder'] as const) {
      if (f.has(key) && f.value[key] !== null) f.object(key);
    }
    const tokenizer = new JsonTokenizer(model, normalizer, preTokenizer, postProcessor, added, padToken);
    tokenizer.checkSpecials();
    return tokenizer;
  }

  private checkSpecials(): void {
    for (const token of this.postProcessor?.specials ?? []) {
      if (this.id(token) === undefined) throw new JsonFieldError('post_processor', `its special token ${JSON.stringify(token)} is neither an added token nor in the vocabulary`);
    }
  }

  id(token: string): number | undefined {
    return this.addedIds.get(token) ?? this.model.id(token);
  }

  /** An added token marked special, or one of the post-processor's. */
  isSpecial(token: string): boolean {
    return this.specialTokens.has(token) || (this.postProcessor?.specials.includes(token) ?? false);
  }

  /** One text's tokens before post-processing, with offsets in it. */
  private encodeSequence(text: string, limit = Infinity): Encoded {
    const e: Encoded = { ids: [], tokens: [], offsets: [], typeIds: [] };
    for (const piece of this.added.split(NormalizedText.of(text))) {
      if (e.ids.length >= limit) break;
      if (piece.token) {
        e.ids.push(piece.token.id);
        e.tokens.push(piece.text.text());
        e.offsets.push(piece.text.originalRange(0, piece.text.length));
        continue;
      }
      const words = this.preTokenizer ? this.preTokenizer([piece.text]) : [piece.text];
      for (const word of words) {
        for (const t of this.model.tokenize(word.text())) {
          e.ids.push(t.id);
          e.tokens.push(t.value);
          e.offsets.push(word.originalRange(t.start, t.end));
        }
        if (e.ids.length >= limit) break;
      }
    }
    if (e.ids.length > limit) for (const k of ['ids', 'tokens', 'offsets'] as const) e[k].length = limit;
    e.typeIds = e.ids.map(() => 0);
    return e;
  }

  /** The model's tokens of a text, without special tokens; with `limit`, only the first `limit`. */
  tokenize(text: string, limit = Infinity): string[] {
    return this.encodeSequence(text, limit).tokens;
  }

  encode(text: string, options: EncodeOptions = {}): JsonEncoding {
    const limit = options.maxLength ?? Infinity;
    const a = this.encodeSequence(text, limit);
    const b = options.pair === undefined ? undefined : this.encodeSequence(options.pair, limit);
    b?.typeIds.fill(1);
    if (options.maxLength !== undefined) {
      const budget = options.maxLength - (this.postProcessor?.added(b !== undefined) ?? 0);
      if (budget < 0) throw new JsonFieldError('post_processor', `max length ${options.maxLength} leaves no room for the special tokens`);
      let [na, nb] = [a.ids.length, b?.ids.length ?? 0];
      while (na + nb > budget) {
        if (b && nb >= na) nb--;
        else na--;
      }
      truncate(a, na);
      if (b) truncate(b, nb);
    }
    const sequences = b ? [a, b] : [a];
    const joined = this.postProcessor ? this.postProcessor.process(sequences) : sequences;
    const all: Encoded = { ids: joined.flatMap((e) => e.ids), tokens: joined.flatMap((e) => e.tokens), offsets: joined.flatMap((e) => e.offsets), typeIds: joined.flatMap((e) => e.typeIds) };
    const mask = all.ids.map(() => 1);
    if (options.pad && options.maxLength !== undefined && all.ids.length < options.maxLength) {
      const pad = this.specials.pad;
      if (pad === undefined) throw new JsonFieldError('added_tokens', 'the tokenizer has no padding token to pad with');
      const padId = this.id(pad)!;
      while (all.ids.length < options.maxLength) {
        all.ids.push(padId);
        all.tokens.push(pad);
        all.offsets.push([0, 0]);
        all.typeIds.push(0);
        mask.push(0);
      }
    }
    return { tokens: all.tokens, input_ids: all.ids, token_type_ids: all.typeIds, attention_mask: mask, offsets: all.offsets };
  }
}

function truncate(e: Encoded, n: number): void {
  e.ids.length = n;
  e.tokens.length = n;
  e.offsets.length = n;
  e.typeIds.length = n;
}
