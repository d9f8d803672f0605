// `tcc finetune SPEC_OR_HF_DIR --task classification|token-classification|qa --train FILE --eval FILE -o DIR ...`

import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { scoreFile } from './evaluate.js';
import { join, resolve } from 'node:path';
import { compileFile, isModelDirectory, specSetting } from '../compiler/compile.js';
import { CHECKPOINT_SPEC, flatSpecText } from '../compiler/parser/load.js';
import { appendRecord, writeCheckpoint } from '../runtime/checkpoint.js';
import { hfConfig } from '../compiler/export/hf-config.js';
import { readSafetensors } from '../runtime/safetensors.js';
import { matchWeights } from '../runtime/weights.js';
import { sourceName } from '../compiler/ir/graph.js';
import { TASK_OUTPUT, copyParams, evaluate, evaluateQa, trainEpoch, TASKS, type Task } from '../train/finetune.js';
import { TaskError, taskSpecFor } from '../train/task-spec.js';
import { encodeQa, readSquad, type EncodedQa } from '../train/squad.js';
import { encodeSentence, encodeTokens, labelId, labelSet, readSentenceExamples, readTokenExamples, type EncodedBatchRow } from '../train/labeled.js';
import { Rng, STREAMS } from '../train/rng.js';
import { warmupSteps } from '../train/schedule.js';
import { Trainer } from '../train/trainer.js';
import { RECOMPUTE_MODES } from '../compiler/passes/recompute.js';
import { nonNegative, oneOf, parse, positiveInt, seedFlag, MAX_ACCUMULATE, MAX_EPOCHS } from './args.js';
import { BACKEND_HELP, backendFlags, sessionFor } from './backend.js';
import { UsageError, type Io } from './errors.js';
import { initWithProgress, progress } from './progress.js';
import { readInputFile, readTextFile, writeAtomic } from './files.js';
import { claimRunDirectory } from './run-dir.js';
import { localModel, localModelFlag, localTokenizerFlag, localVocabFlag } from './hub.js';
import { listenForStop, signalExitCode } from './signals.js';
import { hfTokenizerFiles, loadTokenizer } from './tokenizer.js';

export const finetuneUsage = `usage: tcc finetune SPEC_OR_HF_DIR --task classification|token-classification|qa --train FILE --eval FILE -o DIR
    [--test FILE] [--init CKPT] [--vocab FILE | --tokenizer FILE] [--epochs N] [--batch N] [--seq N] [--lr X] [--warmup STEPS_OR_FRACTION]
    [--weight-decay X] [--clip X] [--dropout X] [--accumulate N] [--seed N] [--overwrite] [--backend NAME] [--threads N] [--recompute none|layer|sqrt] [--packed]

Fine-tunes a task head (the head HuggingFace's class for the task has in the model's
family: BertFor…, RobertaFor…, DistilBertFor…) with AdamW, logging each step to DIR/metrics.jsonl; evaluates after each epoch into DIR/eval.jsonl
(epoch, accuracy, f1 (macro), loss) and keeps the best epoch in DIR/best/, a
HuggingFace directory that tcc run loads. Sentence data: TSV with a header (text,
label, optional text_pair) or JSON lines; token data: JSON lines {tokens, tags};
question answering: SQuAD JSON (accuracy is then the span exact match, f1 the
token-overlap F1; answers cut off by --seq are left out). The tokenizer is the model's
tokenizer.json where it has one (tags go on each word's first token, answers to the tokens
their characters meet), else its vocab.txt.
--test FILE scores the best epoch on FILE as tcc evaluate does, into DIR/test.json (and each
example's prediction into DIR/test-predictions.jsonl).
DIR must hold no earlier run unless --overwrite replaces it; Ctrl-C stops after the step,
DIR/best keeping the best epoch so far.
--dropout X sets every dropout rate of the model (hidden, attention, classifier, …).
--packed runs each batch padding-free: its examples' real tokens as one stream, not padded
to --seq (sentence and token classification: the padded batch's losses, in the time of the
real tokens).
Defaults (the BERT paper's recipe): 3 epochs, batch 32, seq 128, lr 2e-5, warmup 0.1.
${BACKEND_HELP}`;


function finetuneFlags(argv: string[]) {
  return parse(argv, {
    task: { type: 'string' }, train: { type: 'string' }, eval: { type: 'string' }, test: { type: 'string' }, out: { type: 'string', short: 'o' },
    init: { type: 'string' }, vocab: { type: 'string' }, tokenizer: { type: 'string' }, lowercase: { type: 'string' }, epochs: { type: 'string' }, batch: { type: 'string' },
    seq: { type: 'string' }, lr: { type: 'string' }, warmup: { type: 'string' }, 'weight-decay': { type: 'string' }, clip: { type: 'string' },
    dropout: { type: 'string' }, seed: { type: 'string' }, accumulate: { type: 'string' }, backend: { type: 'string' }, threads: { type: 'string' }, recompute: { type: 'string' },
    overwrite: { type: 'boolean' }, packed: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
  });
}

type FinetuneFlags = ReturnType<typeof finetuneFlags>['values'] & { readonly task: string; readonly train: string; readonly eval: string; readonly out: string };

/** The fine-tuning spec of a model: its family's head for the task (one line where the family has none). */
/** The parameters of the model itself, without a task's head: those a checkpoint of it must hold. */
export function modelParamNames(model: string): Set<string> {
  return new Set(compileFile(model, { batch: 1, seq: 8, fuse: false }).graph.nodes.filter((n) => n.op === 'param').map((n) => sourceName(n)!));
}

export function finetuneSpec(model: string, task: Task, numLabels: number): { file: string; text: string } {
  try {
    return taskSpecFor(model, task, numLabels);
  } catch (e) {
    if (e instanceof TaskError) throw new UsageError(`${model}: cannot fine-tune for ${task}: ${e.message}`);
    throw e;
  }
}

export async function runFinetune(argv: string[], debug: boolean, io: Io): Promise<number> {
  const { values, positionals } = finetuneFlags(argv);
  if (values.help) {
    io.stdout.write(finetuneUsage + '\n');
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(`finetune takes one model, got ${positionals.length}\n${finetuneUsage}`);
  if (!values.task || !values.train || !values.eval || !values.out) throw new UsageError(`finetune needs --task, --train, --eval and -o\n${finetuneUsage}`);
  const run = claimRunDirectory(values.out, { overwrite: values.overwrite, canResume: false });
  const stop = listenForStop(io, 'stopping after this step');
  try {
    return await finetune({ ...values, out: values.out, train: values.train, eval: values.eval, task: values.task }, positionals[0]!, debug, io, stop.requested);
  } catch (e) {
    if (!(e instanceof Stopped)) throw e;
    const best = join(values.out, 'best');
    io.stderr.write(`\nstopped by ${e.signal} after step ${e.step}: ${existsSync(best) ? `${best} holds the best epoch so far` : 'no epoch was finished, so nothing was kept'}\n`);
    return signalExitCode(e.signal);
  } finally {
    stop.dispose();
    run.release();
  }
}

/** A fine-tuning run stopped by a signal after a step. */
class Stopped extends Error {
  constructor(
    readonly signal: NodeJS.Signals,
    readonly step: number,
  ) {
    super(`stopped by ${signal}`);
  }
}

async function finetune(values: FinetuneFlags, modelName: string, debug: boolean, io: Io, stopRequested: () => NodeJS.Signals | undefined): Promise<number> {
  const modelArg = await localModel(modelName, io);
  values.vocab = await localVocabFlag(values.vocab, io);
  values.tokenizer = await localTokenizerFlag(values.tokenizer, io);
  values.init = await localModelFlag(values.init, io);
  const task = oneOf(values.task, '--task', TASKS, 'classification');
  const model = resolve(modelArg);
  const seq = positiveInt(values.seq, '--seq', 128);
  const seed = seedFlag(values.seed);
  const backend = backendFlags(values);
  const flags = { vocab: values.vocab, tokenizer: values.tokenizer, model: modelArg, lowercase: values.lowercase };
  const tokenizer = loadTokenizer(flags);

  // Data, labels, encodings.
  const read = (file: string) => readTextFile(file);
  let labels: string[];
  let train: EncodedBatchRow[];
  let evalRows: EncodedBatchRow[];
  let qaEval: EncodedQa[] = [];
  if (task === 'qa') {
    labels = ['start', 'end'];
    train = readSquad(read(values.train), values.train).map((e) => encodeQa(tokenizer, e, seq)).filter((r) => r.start !== undefined);
    qaEval = readSquad(read(values.eval), values.eval).map((e) => encodeQa(tokenizer, e, seq)).filter((r) => r.start !== undefined);
    evalRows = qaEval;
    if (!train.length) throw new UsageError(`no answer of ${values.train} fits in --seq ${seq} tokens`);
  } else if (task === 'classification') {
    const trainSet = readSentenceExamples(read(values.train), values.train);
    const evalSet = readSentenceExamples(read(values.eval), values.eval);
    labels = labelSet(trainSet.map((e) => e.label));
    train = trainSet.map((e) => encodeSentence(tokenizer, e, labelId(labels, e.label, values.train!, e.line), seq));
    evalRows = evalSet.map((e) => encodeSentence(tokenizer, e, labelId(labels, e.label, values.eval!, e.line), seq));
  } else {
    const trainSet = readTokenExamples(read(values.train), values.train);
    const evalSet = readTokenExamples(read(values.eval), values.eval);
    labels = labelSet(trainSet.flatMap((e) => e.tags));
    const ids = (e: (typeof trainSet)[number], file: string) => e.tags.map((t) => labelId(labels, t, file, e.line));
    train = trainSet.map((e) => encodeTokens(tokenizer, e, ids(e, values.train!), seq));
    evalRows = evalSet.map((e) => encodeTokens(tokenizer, e, ids(e, values.eval!), seq));
  }
  if (labels.length < 2) throw new UsageError(`${values.train} has a single label ('${labels[0]}'); classification needs two or more`);
  // The test file read now: a mistake in it shows before the training, not after.
  const scoreTest = values.test === undefined ? undefined : scoreFile(task, tokenizer, labels, values.test, seq);
  const qa = task === 'qa';

  // Programs: training (with AdamW) and inference for evaluation, on one spec.
  const batch = Math.min(positiveInt(values.batch, '--batch', 32), train.length);
  const epochs = positiveInt(values.epochs, '--epochs', 3, MAX_EPOCHS);
  const spec = finetuneSpec(model, task, labels.length);
  const dropout = values.dropout === undefined ? undefined : nonNegative(values.dropout, '--dropout', 0.1);
  // Padding-free: each batch one stream of its examples' real tokens, at most batch × seq.
  if (values.packed && qa) throw new UsageError('--packed takes sentence and token classification; question answering scores each sequence\'s positions as classes (drop --packed)');
  const rates = { ...(dropout === undefined ? {} : { dropout }), ...(values.packed ? { packed: {} } : {}) };
  const trainGraph = compileFile(spec.file, {
    text: spec.text, batch, seq, mode: 'train', verify: debug, ...rates, recompute: oneOf(values.recompute, '--recompute', RECOMPUTE_MODES, 'none'),
    optimizer: {
      ...(values.accumulate === undefined ? {} : { accumulate: positiveInt(values.accumulate, '--accumulate', 1, MAX_ACCUMULATE) }),
      ...(values.clip === undefined ? {} : { clip: nonNegative(values.clip, '--clip', 1) }),
    },
  });
  const accumulate = trainGraph.optimizer!.accumulate;
  const evalGraph = compileFile(spec.file, { text: spec.text, batch, seq, mode: 'infer', ...rates });
  const session = await sessionFor(trainGraph.graph, backend, io, debug, trainGraph.runtime);
  const evalSession = await sessionFor(evalGraph.graph, backend, io, debug, evalGraph.runtime);
  const trainProgram = session;

  // Weights: --init, the directory's own, or a seeded initialization; a new head starts from the seed.
  const fresh = initWithProgress(io, trainProgram.program.params, seed);
  const initFile = values.init ? (isModelDirectory(values.init) ? join(values.init, 'model.safetensors') : values.init) : isModelDirectory(model) && existsSync(join(model, 'model.safetensors')) ? join(model, 'model.safetensors') : undefined;
  let weightsNote = `random weights (seed ${seed})`;
  if (initFile) {
    const matched = matchWeights(trainProgram.program.params, readSafetensors(readInputFile(initFile), initFile).tensors, initFile);
    // The task's head (and a pooler the checkpoint's class had none of) starts fresh; the rest must be there.
    const own = modelParamNames(model);
    const headless = matched.missing.filter((n) => own.has(n));
    if (headless.length) throw new UsageError(`${initFile} lacks ${headless.length} of the model's parameters, e.g. '${headless[0]}'`);
    session.setParams({ ...fresh, ...matched.values });
    weightsNote = `weights ${initFile}${matched.missing.length ? ` (new head: ${matched.missing.join(', ')})` : ''}`;
  } else session.setParams(fresh);

  const fromSpec = (key: string, fallback: number) => specSetting(trainGraph.spec, key) ?? fallback;
  const stepsPerEpoch = Math.floor(train.length / batch);
  const steps = Math.floor((stepsPerEpoch * epochs) / accumulate);
  const trainer = new Trainer(session, {
    schedule: { lr: nonNegative(values.lr, '--lr', fromSpec('lr', 2e-5)), warmupSteps: warmupSteps(nonNegative(values.warmup, '--warmup', fromSpec('warmup', 0.1)), steps), totalSteps: steps },
    weightDecay: nonNegative(values['weight-decay'], '--weight-decay', fromSpec('weight_decay', 0.01)),
    beta1: trainGraph.optimizer!.beta1, beta2: trainGraph.optimizer!.beta2, seed, accumulate,
  });
  mkdirSync(values.out, { recursive: true });
  const evalLog = join(values.out, 'eval.jsonl');
  rmSync(evalLog, { force: true });
  const majority = qa ? 0 : Math.max(...labels.map((_, c) => evalRows.flatMap((r) => (Array.isArray(r.labels) ? r.labels : [r.labels])).filter((l) => l === c).length)) /
    evalRows.flatMap((r) => (Array.isArray(r.labels) ? r.labels : [r.labels])).filter((l) => l !== -100).length;
  io.stderr.write(`${task} with ${labels.length} labels: ${train.length} training and ${evalRows.length} evaluation examples, ${epochs} epochs of ${stepsPerEpoch} steps (batch ${batch}${values.packed ? ', padding-free' : ''}), ${weightsNote}\n`);
  if (!qa) io.stderr.write(`  majority-class accuracy on the evaluation set: ${majority.toFixed(4)}\n`);

  const base = hfConfig(trainGraph.spec, new Map([TASK_OUTPUT[task]]));
  const config2 = qa ? base : { ...base, id2label: Object.fromEntries(labels.map((l, i) => [i, l])), label2id: Object.fromEntries(labels.map((l, i) => [l, i])), num_labels: labels.length };
  // Beside the weights: the tokenizer's files and the whole spec, head and all.
  const files = { [CHECKPOINT_SPEC]: flatSpecText(spec.file, new Map([[spec.file, spec.text]])), ...hfTokenizerFiles(tokenizer, Number(trainGraph.spec.config['max_position_embeddings']?.value ?? 512)) };
  const rng = new Rng(seed, STREAMS.shuffle);
  let best = -1;
  let bestParams: Record<string, Float32Array> | undefined;
  // Steps count micro-batches here (with --accumulate, several per update).
  const bar = progress(io, 'fine-tuning', stepsPerEpoch * epochs, { unit: 'steps' });
  const metricsLog = join(values.out, 'metrics.jsonl');
  rmSync(metricsLog, { force: true });
  let done = 0;
  for (let epoch = 1; epoch <= epochs; epoch++) {
    const trainLoss = await trainEpoch(trainer, train, rng.shuffle(train.map((_, i) => i)), batch, qa, (m) => {
      appendRecord(metricsLog, { step: ++done, epoch, ...m });
      bar.update(done, `epoch ${epoch} loss ${m.loss!.toFixed(4)}`);
      const signal = stopRequested();
      if (signal) throw new Stopped(signal, done);
    });
    await copyParams(session, evalSession);
    const result = qa ? await evaluateQa(evalSession, qaEval, batch) : await evaluate(evalSession, evalRows, batch, labels.length);
    appendRecord(evalLog, { epoch, ...result, train_loss: trainLoss });
    const better = result.accuracy > best;
    bar.log(`  epoch ${epoch}: train loss ${trainLoss.toFixed(4)}, eval accuracy ${result.accuracy.toFixed(4)}, f1 ${result.f1.toFixed(4)}, loss ${result.loss.toFixed(4)}${better ? ' (best)' : ''}`);
    if (better) {
      best = result.accuracy;
      const current = await session.readParams();
      if (values.test) bestParams = current;
      const params = Object.fromEntries(trainProgram.program.params.map((p) => [p.name, { dtype: 'F32' as const, shape: p.shape, data: current[p.name]! }]));
      writeCheckpoint(join(values.out, 'best'), { config: config2, params, files });
    }
  }
  bar.stop();
  io.stderr.write(`best eval ${qa ? 'exact match' : 'accuracy'} ${best.toFixed(4)}${qa ? '' : ` (majority class ${majority.toFixed(4)})`}; model in ${join(values.out, 'best')}\n`);
  if (scoreTest && bestParams) {
    evalSession.setParams(bestParams);
    const report = await scoreTest(evalSession, batch);
    writeAtomic(join(values.out, 'test.json'), JSON.stringify({ file: values.test, ...report.scores }) + '\n');
    writeAtomic(join(values.out, 'test-predictions.jsonl'), report.predictions.map((p) => JSON.stringify(p)).join('\n') + '\n');
    io.stderr.write(`test (best epoch) on ${values.test}: ${report.lines.join('\n')}\n`);
  }
  return 0;
}
