// Scores of a fine-tuned model's predictions, as the usual tools define
// them: accuracy, per-label precision, recall and F1, their macro average
// and the confusion matrix (classification); entity precision, recall and
// F1 over the chunks of BIO tags, as conlleval and seqeval count them
// (token classification); exact match and token-overlap F1 of an answer
// span (question answering, over token positions).

/** One label's scores; F1 is 0 where nothing was predicted or labelled as it. */
export interface LabelScores {
  readonly precision: number;
  readonly recall: number;
  readonly f1: number;
  /** Examples whose gold label it is. */
  readonly support: number;
}

export interface ClassificationReport {
  readonly accuracy: number;
  /** The mean F1 of the labels that occur (gold or predicted). */
  readonly macroF1: number;
  readonly labels: readonly LabelScores[];
  /** confusion[gold][predicted]: counts. */
  readonly confusion: readonly (readonly number[])[];
}

const ratio = (a: number, b: number) => (b === 0 ? 0 : a / b);
const harmonic = (p: number, r: number) => (p + r === 0 ? 0 : (2 * p * r) / (p + r));

export function classificationReport(gold: readonly number[], predicted: readonly number[], classes: number): ClassificationReport {
  const confusion = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  gold.forEach((g, i) => confusion[g]![predicted[i]!]!++);
  const labels = confusion.map((row, c) => {
    const tp = row[c]!;
    const support = row.reduce((a, n) => a + n, 0);
    const predictedAs = confusion.reduce((a, r) => a + r[c]!, 0);
    const [precision, recall] = [ratio(tp, predictedAs), ratio(tp, support)];
    return { precision, recall, f1: harmonic(precision, recall), support, occurs: support + predictedAs > 0 };
  });
  const occurring = labels.filter((l) => l.occurs);
  return {
    accuracy: ratio(confusion.reduce((a, row, c) => a + row[c]!, 0), gold.length),
    macroF1: ratio(occurring.reduce((a, l) => a + l.f1, 0), occurring.length),
    labels: labels.map(({ precision, recall, f1, support }) => ({ precision, recall, f1, support })),
    confusion,
  };
}

/** A tag's chunk type and whether it begins one: B-X and I-X (IOB2 and IOB1), else a bare type (IO); 'O' is outside. */
function split(tag: string): { type: string | undefined; begins: boolean } {
  if (tag === 'O' || tag === '') return { type: undefined, begins: false };
  const m = /^([BIES])-(.+)$/.exec(tag);
  if (!m) return { type: tag, begins: false };
  return { type: m[2], begins: m[1] === 'B' || m[1] === 'S' };
}

/**
 * The entities of one sentence's tags as "type start end" (end exclusive):
 * a chunk begins at a B- tag or where the type changes (an I- after O or
 * after another type starts one, as conlleval reads it), and runs while
 * the tags continue it.
 */
export function entities(tags: readonly string[]): Set<string> {
  const out = new Set<string>();
  let start = -1;
  let type: string | undefined;
  tags.forEach((tag, i) => {
    const t = split(tag);
    if (type !== undefined && (t.type !== type || t.begins)) {
      out.add(`${type} ${start} ${i}`);
      type = undefined;
    }
    if (t.type !== undefined && type === undefined) [type, start] = [t.type, i];
  });
  if (type !== undefined) out.add(`${type} ${start} ${tags.length}`);
  return out;
}

export interface EntityReport {
  readonly precision: number;
  readonly recall: number;
  readonly f1: number;
  /** Tags right, over every word. */
  readonly tokenAccuracy: number;
  readonly gold: number;
  readonly predicted: number;
}

/** Entity scores over sentences: a predicted entity counts where a gold one has its type and exact span. */
export function entityReport(gold: readonly (readonly string[])[], predicted: readonly (readonly string[])[]): EntityReport {
  let [found, right, labelled, words, tagsRight] = [0, 0, 0, 0, 0];
  gold.forEach((tags, s) => {
    const [want, got] = [entities(tags), entities(predicted[s]!)];
    labelled += want.size;
    found += got.size;
    for (const e of got) if (want.has(e)) right++;
    tags.forEach((t, i) => {
      words++;
      if (predicted[s]![i] === t) tagsRight++;
    });
  });
  const [precision, recall] = [ratio(right, found), ratio(right, labelled)];
  return { precision, recall, f1: harmonic(precision, recall), tokenAccuracy: ratio(tagsRight, words), gold: labelled, predicted: found };
}

/** Exact match (0 or 1) and the F1 of the overlap of a predicted token span with the gold one (both inclusive). */
export function spanScores(predicted: readonly [number, number], gold: readonly [number, number]): { exact: number; f1: number } {
  const overlap = Math.max(0, Math.min(predicted[1], gold[1]) - Math.max(predicted[0], gold[0]) + 1);
  const precision = overlap / (predicted[1] - predicted[0] + 1);
  const recall = overlap / (gold[1] - gold[0] + 1);
  return { exact: predicted[0] === gold[0] && predicted[1] === gold[1] ? 1 : 0, f1: harmonic(precision, recall) };
}
