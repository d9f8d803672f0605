// Chinese word segmentation for whole-word masking, by jieba (@node-rs/jieba),
// loaded only when a run needs it.

import { createRequire } from 'node:module';
import type { Segmenter } from './corpus.js';

let segmenter: Segmenter | undefined;

export function jiebaSegmenter(): Segmenter {
  if (!segmenter) {
    const require = createRequire(import.meta.url);
    const { Jieba } = require('@node-rs/jieba') as { Jieba: { withDict(dict: Uint8Array): { cut(text: string, hmm: boolean): string[] } } };
    const { dict } = require('@node-rs/jieba/dict') as { dict: Uint8Array };
    const jieba = Jieba.withDict(dict);
    segmenter = (sentence) => jieba.cut(sentence, false);
  }
  return segmenter;
}
