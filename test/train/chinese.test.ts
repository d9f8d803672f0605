// Chinese whole-word masking: jieba's words are masked whole, and the
// continuation marks never reach the token ids.

import { describe, expect, it } from 'vitest';
import { createInstances, markChineseWords, readCorpus, vocabularyToken } from '../../train/corpus.js';
import { encodeExample } from '../../train/instances.js';
import { jiebaSegmenter } from '../../train/jieba.js';
import { maskTokens, wordsOf } from '../../train/masking.js';
import { Rng } from '../../train/rng.js';
import { WordPieceTokenizer } from '../../train/tokenizer.js';

const TEXT = `我们今天去北京天安门参观。
天气很好，大家都很高兴。
中国的首都是北京。

他喜欢在公园里散步和读书。
图书馆里有很多有趣的书籍。
学生们认真学习自然语言处理。

深度学习模型需要大量的数据。
训练模型的时候要注意过拟合。
我们使用梯度下降优化参数。`;

const chars = [...new Set([...TEXT].filter((c) => /\p{Script=Han}/u.test(c)))];
const vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', '。', '，', ...chars];
const tokenizer = new WordPieceTokenizer(vocab, { lowercase: false });

describe('Chinese whole-word masking', () => {
  it('marks the characters that continue a jieba word', () => {
    const sentence = '我们今天去北京天安门参观。';
    expect(markChineseWords(tokenizer.tokenize(sentence), sentence, jiebaSegmenter())).toEqual(['我', '##们', '今', '##天', '去', '北', '##京', '天', '##安', '##门', '参', '##观', '。']);
    expect(vocabularyToken('##们')).toBe('们');
    expect(vocabularyToken('##ing')).toBe('##ing');
  });

  it('masks whole words and encodes plain character ids', () => {
    const documents = readCorpus(TEXT, tokenizer, 'zh.txt', jiebaSegmenter());
    const instances = createInstances(documents, { maxSeqLength: 40, shortSeqProb: 0, dupeFactor: 30 }, new Rng(1, 2));
    const rng = new Rng(2, 3);
    let multiCharWords = 0;
    for (const instance of instances) {
      const masked = maskTokens(instance.tokens, 'wwm', rng, tokenizer);
      for (const word of wordsOf(instance.tokens, (t) => tokenizer.isSpecial(t))) {
        const picked = word.filter((i) => masked.labels[i] !== null).length;
        expect(picked === 0 || picked === word.length).toBe(true);
        if (word.length > 1 && picked) multiCharWords++;
      }
      const example = encodeExample(tokenizer, instance, masked, 40);
      const unknown = tokenizer.id('[UNK]');
      expect(example.input_ids.filter((id) => id === unknown)).toEqual([]);
      expect(example.labels.filter((id) => id === unknown)).toEqual([]);
    }
    expect(multiCharWords).toBeGreaterThan(20);
  });
});
