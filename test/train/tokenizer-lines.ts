// Test lines for the tokenizer: hand-written cases for each rule, then lines
// generated from fragments (seeded), over 300 in all.

import { rng } from '../helpers/random.js';

export const HAND_WRITTEN: readonly string[] = [
  '',
  ' ',
  '\t\n\r',
  'Hello, world!',
  "The café's naïve coöperation — déjà vu…",
  'Ångström, São Paulo, Zürich, Kraków, Þórr, Œuvre, Straße.',
  'ÉCOLE NORMALE SUPÉRIEURE',
  'He said: "Don\'t do that!" (really?) [maybe] {ok} <tag> a/b a\\b a|b ~tilde `tick` ^caret',
  '$100.00 + 20% = €120; #hashtag @user & co. *bold* _under_',
  'e-mail: someone@example.com, url: https://example.org/path?q=1&r=2',
  'Numbers: 3.14159, 1,000,000, 2nd, 3rd, 4th, 1990s, 10km.',
  'unaffable unbelievably antidisestablishmentarianism',
  'pneumonoultramicroscopicsilicovolcanoconiosis',
  'a'.repeat(100),
  'a'.repeat(101),
  'x'.repeat(150) + ' short words after a long one',
  '東京は日本の首都です。',
  '我爱北京天安门，天安门上太阳升。',
  '今天天气很好，我们去公园散步吧！',
  '中文English混合mixed文本text。',
  'BERT模型在2018年发布，它使用了Transformer编码器。',
  '한국어 텍스트도 있습니다.',
  'Русский текст: Привет, мир!',
  'Ελληνικά: Καλημέρα κόσμε.',
  'العربية: مرحبا بالعالم',
  'עברית: שלום עולם',
  'हिन्दी: नमस्ते दुनिया',
  'ไทย: สวัสดีชาวโลก',
  'emoji 😀 🎉 👍🏽 family 👨‍👩‍👧',
  'control\u0000chars\u0001here\u0007and\ufffdreplacement',
  'zero\u200bwidth\u200cjoiner\u200dtext\ufeffbom',
  'non\u00a0breaking\u2003em\u3000ideographic spaces',
  'combining: e\u0301 a\u0308 n\u0303 and precomposed: é ä ñ',
  'Full-width: ＡＢＣ１２３！？',
  'Quotes: “double” ‘single’ «guillemets» „low“',
  'Dashes: en–dash em—dash minus−sign hyphen-ated',
  'Math: x² + y³ = z⁴; ½ ¼ ∑ ∫ √ ∞ ≈ ≠ ≤ ≥',
  'the [MASK] of france is paris .',
  '[CLS] already has [SEP] tokens [PAD] inside [UNK]',
  'lower [mask] is not special',
  '[MASK][MASK]adjacent[MASK]',
  'tab\tseparated\tvalues',
  'multiple    spaces   between     words',
  'trailing spaces   ',
  '   leading spaces',
  "it's isn't we'll they'd y'all",
  'U.S.A. e.g. i.e. etc. Mr. Dr. St.',
  'CamelCaseWords and snake_case_words and kebab-case-words',
  'ALLCAPS SENTENCE WITH SHOUTING!!!',
  '...???!!!,,,;;;:::',
  '日本語とEnglishの混在テキスト。カタカナ、ひらがな。',
  '𠀀𠀁 rare CJK extension B characters 𪜀',
  'Ｈｅｌｌｏ　Ｗｏｒｌｄ',
  'İstanbul ıi İI',
  'Ǆ ǅ ǆ titlecase digraphs',
  'ﬁ ﬂ ligatures',
  'naïve résumé façade jalapeño piñata',
  'Tokyo東京Osaka大阪Kyoto京都',
  '2023年10月1日',
  'a,b.c;d:e!f?g',
];

const WORDS = ['the', 'quick', 'brown', 'fox', 'jumps', 'over', 'lazy', 'dog', 'running', 'unhappiness', 'international', 'café', 'naïve', 'Zürich',
  'Hello', 'WORLD', 'transformers', 'tokenization', 'pre-training', "don't", 'U.S.', '3.14', '2024', 'x86_64', 'e-mail', 'co-operate'];
const CJK = ['我', '爱', '北', '京', '天', '安', '门', '中', '文', '模', '型', '训', '练', '東', '京', '日', '本'];
const PUNCT = [',', '.', '!', '?', ';', ':', '—', '…', '"', "'", '(', ')', '[', ']', '«', '»', '、', '。', '，'];

/** Seeded lines mixing English words, CJK characters, punctuation and odd spacing. */
export function generatedLines(count: number, seed = 17): string[] {
  const next = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  return Array.from({ length: count }, () => {
    const parts: string[] = [];
    const n = 1 + Math.floor(next() * 14);
    for (let i = 0; i < n; i++) {
      const r = next();
      if (r < 0.55) parts.push(pick(WORDS));
      else if (r < 0.75) parts.push(Array.from({ length: 1 + Math.floor(next() * 4) }, () => pick(CJK)).join(''));
      else if (r < 0.9) parts.push(pick(PUNCT));
      else parts.push(pick(WORDS) + pick(PUNCT) + pick(WORDS));
    }
    return parts.join(next() < 0.8 ? ' ' : '');
  });
}

const SCRIPTS = [
  'مرحبا', 'بالعالم', 'الكتاب', 'नमस्ते', 'दुनिया', 'भारत', 'สวัสดี', 'ภาษาไทย', '안녕하세요', '세계', 'Привет', 'мир', 'Καλημέρα',
  'שלום', 'こんにちは', 'カタカナ', '北京', '東京', 'Ünïcödé', 'façade', 'Ærøskøbing', 'Dvořák', 'Łódź', 'ĳssel',
];
const ODD = ['😀', '👍🏽', '👨‍👩‍👧', '🇫🇷', '\u00a0', '\u3000', '\u200b', '\ufeff', '\u0085', '\u2028', '\ue000', '\u{10ffff}', '\u0301', 'e\u0301', '\ufffd', '\u0007',
  '<s>', '</s>', '<mask>', '<pad>', '[MASK]', '[CLS]', '  ', '    ', '\t\t', '\n\n', '▁', 'Ġ', '##ing', "'s", "'ll"];

/** Seeded lines of other scripts, emoji, whitespace runs, special-token look-alikes and long words, for byte-level and SentencePiece tokenizers. */
export function multilingualLines(count: number, seed = 29): string[] {
  const next = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  return Array.from({ length: count }, () => {
    const parts: string[] = [];
    const n = 1 + Math.floor(next() * 12);
    for (let i = 0; i < n; i++) {
      const r = next();
      if (r < 0.35) parts.push(pick(SCRIPTS));
      else if (r < 0.6) parts.push(pick(WORDS));
      else if (r < 0.8) parts.push(pick(ODD));
      else if (r < 0.9) parts.push(pick(PUNCT));
      else parts.push(pick([...WORDS, ...SCRIPTS]).repeat(2 + Math.floor(next() * 30)));
    }
    const glue = next();
    return parts.join(glue < 0.6 ? ' ' : glue < 0.8 ? '' : glue < 0.9 ? '   ' : '\t');
  });
}

export const TEST_LINES: readonly string[] = [...HAND_WRITTEN, ...generatedLines(260)];

/** Lines for tokenizer.json files: the WordPiece lines and as many again of other scripts and odd text. */
export const JSON_TOKENIZER_LINES: readonly string[] = [...TEST_LINES, ...multilingualLines(300)];
