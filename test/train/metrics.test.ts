// The scores tcc evaluate and tcc finetune report, against cases computed by
// hand: a confusion matrix with its per-label and macro scores, BIO chunks
// as conlleval reads them, and an answer span's overlap.

import { describe, expect, it } from 'vitest';
import { classificationReport, entities, entityReport, spanScores } from '../../train/metrics.js';

describe('the evaluation scores', () => {
  it('count a confusion matrix, each label\'s precision, recall and F1, and their macro mean', () => {
    const report = classificationReport([0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 2, 0], 3);
    expect(report.confusion).toEqual([[1, 1, 0], [0, 2, 0], [1, 0, 1]]);
    expect(report.accuracy).toBeCloseTo(4 / 6, 12);
    // label 0: 1 of 2 predicted, 1 of 2 labelled; label 1: 2 of 3, 2 of 2; label 2: 1 of 1, 1 of 2.
    const want = [[1 / 2, 1 / 2, 1 / 2], [2 / 3, 1, 0.8], [1, 1 / 2, 2 / 3]];
    report.labels.forEach((l, c) => expect([l.precision, l.recall, l.f1]).toEqual(want[c]!.map((x) => expect.closeTo(x, 12))));
    expect(report.labels.map((l) => l.support)).toEqual([2, 2, 2]);
    expect(report.macroF1).toBeCloseTo((0.5 + 0.8 + 2 / 3) / 3, 12);
    // A label neither labelled nor predicted leaves the macro mean alone.
    expect(classificationReport([0, 1], [0, 1], 3).macroF1).toBe(1);
  });

  it('read BIO chunks as conlleval does: an I- after O or after another type begins one', () => {
    expect([...entities(['B-PER', 'I-PER', 'O', 'B-LOC', 'I-LOC', 'I-PER', 'O', 'I-ORG'])]).toEqual(['PER 0 2', 'LOC 3 5', 'PER 5 6', 'ORG 7 8']);
    expect([...entities(['B-PER', 'B-PER', 'I-PER'])]).toEqual(['PER 0 1', 'PER 1 3']);
    // IO tags (a bare type): a run of one type is one entity.
    expect([...entities(['PER', 'PER', 'O', 'LOC'])]).toEqual(['PER 0 2', 'LOC 3 4']);
  });

  it('score entities by exact type and span, and tags word by word', () => {
    const report = entityReport([['B-PER', 'I-PER', 'O', 'B-LOC'], ['O', 'B-ORG']], [['B-PER', 'O', 'O', 'B-LOC'], ['O', 'O']]);
    // Gold PER 0-2, LOC 3-4, ORG; predicted PER 0-1 (wrong span), LOC 3-4 (right).
    expect(report).toEqual({ precision: 1 / 2, recall: 1 / 3, f1: expect.closeTo(0.4, 12), tokenAccuracy: 4 / 6, gold: 3, predicted: 2 });
  });

  it('score an answer span by exact match and the F1 of its overlap', () => {
    expect(spanScores([3, 5], [4, 6])).toEqual({ exact: 0, f1: expect.closeTo(2 / 3, 12) });
    expect(spanScores([4, 6], [4, 6])).toEqual({ exact: 1, f1: 1 });
    expect(spanScores([2, 2], [4, 6])).toEqual({ exact: 0, f1: 0 });
  });
});
