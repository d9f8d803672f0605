// `tcc evaluate MODEL --data FILE`: a fine-tuned model's scores on a
// labelled file (its task read from the model's head), the whole file in
// batches, and each example's prediction written out.

import { compileFile } from '../compiler/compile.js';
import { loadSpec } from '../compiler/parser/load.js';
import { readSafetensors } from '../runtime/safetensors.js';
import { matchWeights } from '../runtime/weights.js';
import type { Session } from '../runtime/session.js';
import { predictClasses, predictSpans, type Task } from '../train/finetune.js';
import { classificationReport, entityReport, spanScores } from '../train/metrics.js';
import { encodeSentence, encodeTokens, labelId, readSentenceExamples, readTokenExamples } from '../train/labeled.js';
import { encodeQa, readSquad } from '../train/squad.js';
import type { TextTokenizer } from '../train/tokenizer.js';
import { parse, positiveInt } from './args.js';
import { BACKEND_HELP, backendFlags, sessionFor } from './backend.js';
import { UsageError, type Io } from './errors.js';
import { outputFile, readInputFile, readTextFile, writeAtomic } from './files.js';
import { localModel, localTokenizerFlag, localVocabFlag } from './hub.js';
import { labelNames, weightsFile } from './run.js';
import { loadTokenizer } from './tokenizer.js';

export const evaluateUsage = `usage: tcc evaluate MODEL --data FILE [-o PREDICTIONS.jsonl] [--batch N] [--seq N] [--vocab FILE | --tokenizer FILE] [--backend NAME] [--threads N]

Scores a fine-tuned model (a HuggingFace directory with a task head, such as the best/
directory of tcc finetune) on a labelled file of its task, read from its head:
classification (TSV with text, label and optional text_pair, or JSON lines): accuracy,
macro F1, each label's precision, recall and F1, and the confusion matrix;
token classification (JSON lines {tokens, tags}): entity precision, recall and F1 over
the chunks of BIO tags (as conlleval counts them) and tag accuracy;
question answering (SQuAD JSON): exact match and F1 of the answer's tokens.
Labels are matched by name to config.json's id2label. -o writes each example's
prediction as a JSON line. Defaults: batch 32, seq 128 (or the model's positions, if fewer).
${BACKEND_HELP}`;

/** The task a model's outputs answer: a class per row, a class per token, or an answer span. */
function taskOf(outputs: ReadonlyMap<string, readonly number[]>): Task | undefined {
  if (outputs.has('start_logits') && outputs.has('end_logits')) return 'qa';
  const logits = outputs.get('logits');
  if (logits?.length === 2) return 'classification';
  if (logits?.length === 3) return 'token-classification';
  return undefined;
}

export interface Report {
  /** What is printed. */
  readonly lines: string[];
  /** One JSON line per example, in order. */
  readonly predictions: object[];
  /** The headline scores, by name. */
  readonly scores: Record<string, number>;
}

const pct = (x: number) => (100 * x).toFixed(2);

/** Scores a session (of a program of `batch` rows) on examples read and encoded already. */
type Scoring = (session: Session, batch: number) => Promise<Report>;

const MODEL_LABELS = "labels of the model (config.json's id2label)";

function classification(tokenizer: TextTokenizer, names: readonly string[], file: string, seq: number): Scoring {
  const examples = readSentenceExamples(readTextFile(file), file);
  const rows = examples.map((e) => encodeSentence(tokenizer, e, labelId(names, e.label, file, e.line, MODEL_LABELS), seq));
  return async (session, batch) => {
    const predicted = await predictClasses(session, rows, batch, names.length);
    const report = classificationReport(predicted.map((p) => p.gold), predicted.map((p) => p.predicted), names.length);
    const width = Math.max(5, ...names.map((n) => n.length));
    const lines = [
      `accuracy ${pct(report.accuracy)}, macro F1 ${pct(report.macroF1)} (${examples.length} examples)`,
      `${'label'.padEnd(width)}  precision  recall     f1  support`,
      ...report.labels.map((l, c) => `${names[c]!.padEnd(width)}  ${pct(l.precision).padStart(9)}  ${pct(l.recall).padStart(6)}  ${pct(l.f1).padStart(5)}  ${String(l.support).padStart(7)}`),
      `confusion (rows: gold, columns: predicted, in the order above):`,
      ...report.confusion.map((row, c) => `${names[c]!.padEnd(width)}  ${row.map((n) => String(n).padStart(6)).join('')}`),
    ];
    const predictions = examples.map((e, i) => ({ line: e.line, label: e.label, predicted: names[predicted[i]!.predicted]! }));
    return { lines, predictions, scores: { accuracy: report.accuracy, macro_f1: report.macroF1 } };
  };
}

function tokenClassification(tokenizer: TextTokenizer, names: readonly string[], file: string, seq: number): Scoring {
  const examples = readTokenExamples(readTextFile(file), file);
  const rows = examples.map((e) => encodeTokens(tokenizer, e, e.tags.map((t) => labelId(names, t, file, e.line, MODEL_LABELS)), seq));
  return async (session, batch) => {
    const predicted = await predictClasses(session, rows, batch, names.length);
    // Each word's tag is the prediction at its first token; words cut off by --seq are predicted outside every entity.
    const tags = examples.map((e) => e.tags.map(() => 'O'));
    const seen = new Array<number>(examples.length).fill(0);
    for (const p of predicted) tags[p.row]![seen[p.row]!++] = names[p.predicted]!;
    const report = entityReport(examples.map((e) => e.tags), tags);
    const cut = examples.filter((e, i) => seen[i]! < e.tokens.length).length;
    const lines = [
      `entity F1 ${pct(report.f1)} (precision ${pct(report.precision)}, recall ${pct(report.recall)}; ${report.gold} entities labelled, ${report.predicted} predicted), tag accuracy ${pct(report.tokenAccuracy)} (${examples.length} sentences${cut ? `; ${cut} cut at --seq ${seq}, their last words predicted O` : ''})`,
    ];
    const predictions = examples.map((e, i) => ({ line: e.line, tokens: e.tokens, tags: e.tags, predicted: tags[i] }));
    return { lines, predictions, scores: { entity_f1: report.f1, entity_precision: report.precision, entity_recall: report.recall, tag_accuracy: report.tokenAccuracy } };
  };
}

function questionAnswering(tokenizer: TextTokenizer, file: string, seq: number): Scoring {
  const examples = readSquad(readTextFile(file), file);
  const rows = examples.map((e) => encodeQa(tokenizer, e, seq));
  const kept = rows.flatMap((r, i) => (r.start === undefined ? [] : [i]));
  if (!kept.length) throw new UsageError(`no answer of ${file} fits in --seq ${seq} tokens`);
  return async (session, batch) => {
    const spans = await predictSpans(session, kept.map((i) => rows[i]!), batch);
    let [exact, f1] = [0, 0];
    const predictions = kept.map((i, k) => {
      const [row, span] = [rows[i]!, spans[k]!];
      const scores = spanScores([span.start, span.end], [row.start!, row.end!]);
      exact += scores.exact;
      f1 += scores.f1;
      const tokens = (from: number, to: number) => row.input_ids.slice(from, to + 1).map((id) => tokenizer.vocab[id] ?? `#${id}`);
      return { question: examples[i]!.question, answer: examples[i]!.answer, answer_tokens: tokens(row.start!, row.end!), predicted_tokens: tokens(span.start, span.end), exact: scores.exact, f1: scores.f1 };
    });
    const left = examples.length - kept.length;
    const lines = [`exact match ${pct(exact / kept.length)}, F1 ${pct(f1 / kept.length)} (over answer tokens; ${kept.length} questions${left ? `, ${left} whose answer --seq ${seq} cuts off left out` : ''})`];
    return { lines, predictions, scores: { exact_match: exact / kept.length, f1: f1 / kept.length } };
  };
}

/**
 * A labelled file of a task read and encoded now (`names`: the model's
 * labels by id, for the classification tasks; a mistake in the file shows
 * before any program is built), scored later on a session, with each
 * example's prediction.
 */
export function scoreFile(task: Task, tokenizer: TextTokenizer, names: readonly string[], file: string, seq: number): Scoring {
  if (task === 'qa') return questionAnswering(tokenizer, file, seq);
  return (task === 'classification' ? classification : tokenClassification)(tokenizer, names, file, seq);
}

export async function runEvaluate(argv: string[], debug: boolean, io: Io): Promise<number> {
  const { values, positionals } = parse(argv, {
    data: { type: 'string' }, out: { type: 'string', short: 'o' }, batch: { type: 'string' }, seq: { type: 'string' }, weights: { type: 'string' },
    vocab: { type: 'string' }, tokenizer: { type: 'string' }, lowercase: { type: 'string' }, backend: { type: 'string' }, threads: { type: 'string' }, help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.stdout.write(evaluateUsage + '\n');
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(`evaluate takes one model, got ${positionals.length}\n${evaluateUsage}`);
  if (!values.data) throw new UsageError(`evaluate needs --data FILE\n${evaluateUsage}`);
  if (values.out !== undefined) outputFile(values.out, '-o');
  const model = await localModel(positionals[0]!, io);
  // The longest text by default: 128 tokens, or fewer where the model has fewer positions (a spec that does not load is reported by the compile below, at its place).
  let positions = 512;
  try {
    positions = Number(loadSpec(model).spec.config['max_position_embeddings']?.value ?? positions);
  } catch {
    /* compileFile says what is wrong */
  }
  const [batch, seq] = [positiveInt(values.batch, '--batch', 32), positiveInt(values.seq, '--seq', Math.min(128, positions))];
  const compiled = compileFile(model, { batch, seq, mode: 'infer', verify: debug });
  const outputs = new Map(compiled.graph.outputs.map((o) => [o.name, compiled.graph.nodes[o.node]!.type.shape]));
  const task = taskOf(outputs);
  if (!task) throw new UsageError(`${model} has no task head (logits, or start_logits and end_logits): fine-tune it first (tcc finetune)`);
  const weights = weightsFile(values.weights, model, false);
  if (!weights) throw new UsageError(`${model} has no model.safetensors: pass --weights FILE`);
  const tokenizer = loadTokenizer({ model, vocab: await localVocabFlag(values.vocab, io), tokenizer: await localTokenizerFlag(values.tokenizer, io), lowercase: values.lowercase });
  const classes = task === 'qa' ? 0 : outputs.get('logits')!.at(-1)!;
  const name = labelNames(model) ?? ((id: number) => `LABEL_${id}`);
  const score = scoreFile(task, tokenizer, Array.from({ length: classes }, (_, c) => name(c)), values.data, seq);
  const session = await sessionFor(compiled.graph, backendFlags(values), io, debug);
  const matched = matchWeights(session.program.params, readSafetensors(readInputFile(weights), weights).tensors, weights);
  if (matched.missing.length) throw new UsageError(`${weights} lacks ${matched.missing.length} of the model's parameters, e.g. '${matched.missing[0]}'`);
  session.setParams(matched.values);
  const report = await score(session, batch);
  session.destroy();
  io.stdout.write(`${task} on ${values.data}: ${report.lines.join('\n')}\n`);
  if (values.out) {
    writeAtomic(values.out, report.predictions.map((p) => JSON.stringify(p)).join('\n') + '\n');
    io.stderr.write(`wrote ${report.predictions.length} predictions to ${values.out}\n`);
  }
  return 0;
}
