// tokenizer.json files of the BERT family (../shared/tokenizers: WordPiece,
// byte-level BPE, SentencePiece Unigram) against HuggingFace's tokenizers
// (the Rust library through its Node bindings): ids, tokens, type ids and
// character offsets on over 600 lines, alone and in pairs.

import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { Tokenizer } from 'tokenizers';
import { describe, expect, it } from 'vitest';
import { bpeTokenizer, unigramTokenizer } from '../../bench/fuzz/kinds.js';
import { JsonFieldError } from '../../runtime/json-fields.js';
import { JsonTokenizer } from '../../train/hf-tokenizer/tokenizer.js';
import { JSON_TOKENIZER_LINES } from './tokenizer-lines.js';

const shared = new URL('../../../shared/tokenizers/', import.meta.url);

/** One directory per distinct tokenizer.json (four BERT models ship the same file). */
function distinctFiles(): [string, string][] {
  if (!existsSync(shared)) return [];
  const seen = new Set<string>();
  const out: [string, string][] = [];
  for (const dir of readdirSync(shared).sort()) {
    const file = new URL(`${dir}/tokenizer.json`, shared);
    if (!existsSync(file)) continue;
    const hash = createHash('sha256').update(readFileSync(file)).digest('hex');
    if (seen.has(hash)) continue;
    seen.add(hash);
    out.push([dir, file.pathname]);
  }
  return out;
}

const FILES = distinctFiles();

/** Ours and HuggingFace's on every line, alone and paired with another. */
async function compare(ours: JsonTokenizer, theirs: Tokenizer): Promise<void> {
  theirs.disableTruncation();
  theirs.disablePadding();
  const lines = JSON_TOKENIZER_LINES;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const pair = i % 3 === 0 ? lines[(i * 7 + 5) % lines.length] : undefined;
    const want = await theirs.encode(line, pair ?? null);
    const got = ours.encode(line, { pair });
    const where = `line ${i}: ${JSON.stringify(line)}${pair === undefined ? '' : ` with ${JSON.stringify(pair)}`}`;
    expect(got.input_ids, where).toEqual(want.getIds());
    expect(got.tokens, where).toEqual(want.getTokens());
    expect(got.token_type_ids, where).toEqual(want.getTypeIds());
    expect(got.offsets, where).toEqual(want.getOffsets());
  }
}

describe('small tokenizer.json files against HuggingFace tokenizers', () => {
  it.each([['byte-level BPE', bpeTokenizer()], ['Unigram', unigramTokenizer()]])('%s', async (_name, json) => {
    const text = JSON.stringify(json);
    await compare(JsonTokenizer.fromJson(text), Tokenizer.fromString(text));
  });

  it("merges a word of 40,000 characters (no space in it, many merges) as HuggingFace does", async () => {
    // A word as long as the text: byte-level BPE merges it by a heap of candidate pairs, not by scanning the word per merge.
    // Merges inside words (the fuzz seed's are of words after a space), overlapping ones among them.
    const json = bpeTokenizer() as { model: { vocab: Record<string, number>; merges: string[] } };
    for (const [a, b] of [['c', 'a'], ['ca', 't'], ['d', 'o'], ['do', 'g'], ['a', 't'], ['cat', 'dog'], ['r', 'a'], ['ra', 'n']]) {
      json.model.merges.push(`${a} ${b}`);
      json.model.vocab[a + b] ??= Object.keys(json.model.vocab).length;
    }
    const text = JSON.stringify(json);
    const [ours, theirs] = [JsonTokenizer.fromJson(text), Tokenizer.fromString(text)];
    let state = 5;
    const next = () => (state = (state * 48271) % 2147483647) / 2147483647;
    const word = Array.from({ length: 20_000 }, () => ['cat', 'dog', 'ran', 'fast', 'xq', 'a'][Math.floor(next() * 6)]).join('').slice(0, 40_000);
    expect(word).toHaveLength(40_000);
    const want = await theirs.encode(`a ${word} end`);
    const got = ours.encode(`a ${word} end`);
    expect(got.input_ids).toEqual(want.getIds());
    expect(got.offsets).toEqual(want.getOffsets());
  });

  it('truncates longest first and pads with the padding token, as HuggingFace', async () => {
    const text = JSON.stringify(bpeTokenizer());
    const ours = JsonTokenizer.fromJson(text);
    const theirs = Tokenizer.fromString(text);
    theirs.setTruncation(12);
    theirs.setPadding({ maxLength: 12, padId: 1, padToken: '<pad>' });
    for (const [a, b] of [['the cat sat on the mat and ran fast', 'the dog'], ['a dog', 'the cat sat on the mat and ran fast'], ['the cat', undefined]] as const) {
      const want = await theirs.encode(a, b ?? null);
      const got = ours.encode(a, { pair: b, maxLength: 12, pad: true });
      expect(got.input_ids).toEqual(want.getIds());
      expect(got.attention_mask).toEqual(want.getAttentionMask());
      expect(got.offsets).toEqual(want.getOffsets());
    }
  });

  it('refuses what it does not implement or cannot use, at the field', () => {
    const refused = (edit: (j: any) => void): string => {
      const j = unigramTokenizer() as any;
      edit(j);
      try {
        JsonTokenizer.fromJson(JSON.stringify(j));
      } catch (e) {
        expect(e).toBeInstanceOf(JsonFieldError);
        return (e as Error).message;
      }
      throw new Error('accepted');
    };
    expect(refused((j) => (j.normalizer.normalizers[2] = { type: 'Nmt' }))).toMatch(/^normalizer\.normalizers\[2\]\.type: expected one of BertNormalizer, .*Precompiled, Sequence, got 'Nmt'/);
    expect(refused((j) => (j.pre_tokenizer.pretokenizers[0] = { type: 'UnicodeScripts' }))).toMatch(/^pre_tokenizer\.pretokenizers\[0\]\.type: expected one of/);
    expect(refused((j) => (j.model.type = 'WordLevel'))).toMatch(/^model\.type: expected one of WordPiece, BPE, Unigram/);
    expect(refused((j) => (j.model.unk_id = null))).toMatch(/^model\.unk_id: a Unigram model needs/);
    expect(refused((j) => (j.model.byte_fallback = true))).toMatch(/^model\.byte_fallback: byte fallback is not supported/);
    expect(refused((j) => (j.post_processor.single[0].SpecialToken.id = '<cls>'))).toMatch(/^post_processor\.single\[0\]: names the special token "<cls>"/);
    expect(refused((j) => (j.added_tokens[0].id = -1))).toMatch(/^added_tokens\[0\]\.id: -1 is out of range/);
    expect(refused((j) => (j.normalizer = { type: 'Precompiled', precompiled_charsmap: 'AAAAAA==' }))).toMatch(/^normalizer\.precompiled_charsmap: declares a trie of 0 bytes/);
    expect(refused((j) => (j.extra = 1))).toMatch(/^extra: is not a field here/);
    const bpe = (edit: (j: any) => void): string => {
      const j = bpeTokenizer() as any;
      edit(j);
      try {
        JsonTokenizer.fromJson(JSON.stringify(j));
      } catch (e) {
        return (e as Error).message;
      }
      throw new Error('accepted');
    };
    expect(bpe((j) => j.model.merges.push('Ġ zz'))).toMatch(/^model\.merges\[\d+\]: merges tokens that are not in the vocabulary: "Ġ zz"/);
    expect(bpe((j) => (j.model.dropout = 0.1))).toMatch(/^model\.dropout: BPE dropout is not supported/);
  });
});

describe.runIf(FILES.length > 0)('tokenizer.json against HuggingFace tokenizers', () => {
  it('has the family\'s tokenizers and over 600 lines', () => {
    expect(FILES.map(([d]) => d)).toEqual(expect.arrayContaining(['roberta-base', 'xlm-roberta-base', 'ModernBERT-base', 'albert-base-v2', 'all-MiniLM-L6-v2', 'all-mpnet-base-v2', 'bge-small-en-v1.5']));
    expect(JSON_TOKENIZER_LINES.length).toBeGreaterThan(600);
  });

  it.each(FILES)('%s', async (_dir, file) => {
    await compare(JsonTokenizer.fromJson(readFileSync(file, 'utf8')), Tokenizer.fromFile(file));
  });
});
