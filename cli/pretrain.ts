// `tcc prepare` and `tcc pretrain`.

import { compileFile, isModelDirectory, specSetting } from '../compiler/compile.js';
import { CHECKPOINT_SPEC, flatSpecText } from '../compiler/parser/load.js';
import { headOutputs, hfConfig } from '../compiler/export/hf-config.js';
import { readSafetensors } from '../runtime/safetensors.js';
import { matchWeights } from '../runtime/weights.js';
import { sourceName } from '../compiler/ir/graph.js';
import { createInstances, PACKINGS, readCorpus, type Packing } from '../train/corpus.js';
import { encodeExample } from '../train/instances.js';
import { MASK_RATE, maskTokens, MASKING_STRATEGIES, maxMaskedPositions, WORD_STRATEGIES, type MaskingStrategy } from '../train/masking.js';
import { checkExamples, corpusData, examplesData, Interrupted, readExamples, resume, runTraining, type PretrainData, type Validation } from '../train/pretrain.js';
import { Rng, STREAMS } from '../train/rng.js';
import { warmupSteps } from '../train/schedule.js';
import { jiebaSegmenter } from '../train/jieba.js';
import { Trainer } from '../train/trainer.js';
import { RECOMPUTE_MODES } from '../compiler/passes/recompute.js';
import { nonNegative, oneOf, parse, positiveInt, seedFlag, MAX_ACCUMULATE, MAX_EPOCHS, MAX_STEPS } from './args.js';
import { BACKEND_HELP, backendFlags, sessionFor } from './backend.js';
import { UsageError, type Io } from './errors.js';
import { initWithProgress, progress } from './progress.js';
import { outputFile, readInputFile, writeAtomic, readTextFile } from './files.js';
import { claimRunDirectory, holdsRun } from './run-dir.js';
import { localModel, localModelFlag, localTokenizerFlag, localVocabFlag } from './hub.js';
import { listenForStop, signalExitCode } from './signals.js';
import { hfTokenizerFiles, loadTokenizer, tokenizerSource, type TokenizerFlags } from './tokenizer.js';
import type { TextTokenizer } from '../train/tokenizer.js';
import { basename, join } from 'node:path';
import { existsSync } from 'node:fs';

export const prepareUsage = `usage: tcc prepare --corpus PATH (--vocab FILE | --tokenizer tokenizer.json) -o data.jsonl [--packing pairs|sentence-order|full-sentences]
    [--masking dynamic|static|wwm|ngram|span] [--mask-rate X] [--dupe-factor N] [--seq N] [--seed N]

Writes pretraining examples as JSON lines (input_ids, token_type_ids, attention_mask,
labels with -100 where not masked, and for sentence pairs next_sentence_label), masks fixed.
--packing pairs (default): BERT's sentence pairs, half of them with a random second segment;
sentence-order: ALBERT's, the second segment always the first's continuation, half of the
pairs swapped (label 1); full-sentences: RoBERTa's, whole sentences packed to the length
across documents, no pairs. --mask-rate X selects that share of the tokens (default 0.15).`;

export const pretrainUsage = `usage: tcc pretrain SPEC_OR_HF_DIR (--corpus PATH | --data FILE.jsonl) -o DIR [--vocab FILE] [--tokenizer FILE]
    [--init CKPT] [--steps N | --epochs N] [--batch N] [--seq N] [--lr X] [--warmup STEPS_OR_FRACTION] [--weight-decay X]
    [--clip X] [--dropout X] [--masking dynamic|static|wwm|ngram|span] [--mask-rate X] [--packing pairs|sentence-order|full-sentences]
    [--dupe-factor N] [--accumulate N] [--validation FILE [--eval-every N]]
    [--save-every N] [--keep N] [--seed N] [--resume | --overwrite] [--backend NAME] [--threads N] [--recompute none|layer|sqrt] [--packed]

Pretrains with the model's objective (AdamW, linear warmup and decay): masked LM, with
next-sentence prediction on sentence pairs where the model has it, else on full sentences
packed to the length (RoBERTa); --packing sentence-order makes the pairs of ALBERT's
sentence-order prediction (B always follows A, swapped half the time). The tokenizer is the
model's tokenizer.json where it has one, else its vocab.txt (or --vocab); checkpoints keep it.
Writes DIR/metrics.jsonl, DIR/checkpoint-STEP/ (HuggingFace directories with the trainer
state beside) and DIR/final/. --resume continues from the latest complete checkpoint,
exactly; --overwrite replaces an earlier run in DIR (without either, DIR must hold none).
Ctrl-C (or SIGTERM) finishes the step, writes a checkpoint and says how to resume.
--keep N keeps the N latest checkpoints.
--accumulate N averages the gradients of N batches into each update; --recompute layer
keeps one tensor per layer and recomputes the rest in the backward pass (less memory).
--dropout X sets every dropout rate of the model (hidden, attention, classifier, …).
--mask-rate X selects that share of each example's tokens for the masked LM (default 0.15;
of those 80% become the mask token, 10% a random one, 10% stay).
--validation FILE scores held-back text (or prepared examples, FILE.jsonl) every --eval-every
steps (default --save-every) and at the end: the objective's losses and accuracies with dropout
off and masks drawn once, into DIR/validation.jsonl (val_loss, val_mlm_loss, val_mlm_acc, …).
--packed runs each batch padding-free: its examples' real tokens as one stream, not padded
to --seq (the masked-LM head still only at the masked tokens).
Defaults: 1 epoch, batch 8, seq 128, lr 1e-4, warmup 0.01, weight decay 0.01, clip 1.0,
dynamic masking, checkpoints every 1000 steps, seed 0.
${BACKEND_HELP}`;



function corpusInstances(corpus: string, flags: TokenizerFlags, seq: number, dupeFactor: number, seed: number, strategy: MaskingStrategy, packing: Packing) {
  const tokenizer = loadTokenizer(flags);
  const words = WORD_STRATEGIES.includes(strategy);
  if (tokenizer.specials.mask === undefined) throw new UsageError(`${tokenizerSource(tokenizer) ?? 'the tokenizer'} has no mask token ([MASK] or <mask>) for masked-LM pretraining`);
  // Whole words are read from WordPiece's "##" continuations; a vocabulary without them has no words to group.
  if (words && !tokenizer.vocab.some((t) => t.startsWith('##'))) throw new UsageError(`--masking ${strategy} groups WordPiece's "##" pieces into words; ${tokenizerSource(tokenizer) ?? 'this tokenizer'} has none: use --masking dynamic or static`);
  // Word-level masking of Chinese needs its words: jieba segments them.
  const segment = words ? jiebaSegmenter() : undefined;
  const documents = readCorpus(readTextFile(corpus), tokenizer, corpus, segment, packing);
  const instances = createInstances(documents, { maxSeqLength: seq, shortSeqProb: 0.1, dupeFactor, packing }, new Rng(seed, STREAMS.pairs), tokenizer.specials);
  return { tokenizer, instances };
}

/** --mask-rate: the share of tokens selected for the masked LM, in (0, 1) (default 15%). */
function maskRate(flag: string | undefined): number {
  const rate = nonNegative(flag, '--mask-rate', MASK_RATE);
  if (!(rate > 0 && rate < 1)) throw new UsageError(`--mask-rate must be above 0 and below 1, got ${flag}`);
  return rate;
}

export async function runPrepare(argv: string[], _debug: boolean, io: Io): Promise<number> {
  const { values } = parse(argv, {
    corpus: { type: 'string' }, vocab: { type: 'string' }, tokenizer: { type: 'string' }, packing: { type: 'string' }, out: { type: 'string', short: 'o' }, masking: { type: 'string' },
    'dupe-factor': { type: 'string' }, seq: { type: 'string' }, seed: { type: 'string' }, lowercase: { type: 'string' }, 'mask-rate': { type: 'string' }, help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.stdout.write(prepareUsage + '\n');
    return 0;
  }
  if (!values.corpus || (!values.vocab && !values.tokenizer) || !values.out) throw new UsageError(`prepare needs --corpus, --vocab or --tokenizer, and -o\n${prepareUsage}`);
  outputFile(values.out, '-o');
  values.vocab = await localVocabFlag(values.vocab, io);
  values.tokenizer = await localTokenizerFlag(values.tokenizer, io);
  const seq = positiveInt(values.seq, '--seq', 128);
  const seed = seedFlag(values.seed);
  const strategy = oneOf(values.masking, '--masking', MASKING_STRATEGIES, 'dynamic');
  const packing = oneOf(values.packing, '--packing', PACKINGS, 'pairs');
  const rate = maskRate(values['mask-rate']);
  const { tokenizer, instances } = corpusInstances(values.corpus, values, seq, positiveInt(values['dupe-factor'], '--dupe-factor', 1), seed, strategy, packing);
  const rng = new Rng(seed, STREAMS.masking);
  const lines = instances.map((instance) => {
    const masked = maskTokens(instance.tokens, strategy === 'static' ? 'dynamic' : strategy, rng, tokenizer, rate);
    return JSON.stringify(encodeExample(tokenizer, instance, masked, seq));
  });
  writeAtomic(values.out, lines.join('\n') + '\n');
  const random = instances.filter((i) => i.isRandomNext).length;
  const share = `${((100 * random) / instances.length).toFixed(1)}%`;
  const what = packing === 'pairs' ? `${share} random next sentences` : packing === 'sentence-order' ? `${share} of the pairs swapped` : 'full sentences';
  io.stderr.write(`wrote ${values.out}: ${instances.length} examples of ${seq} tokens, ${strategy} masking${rate === MASK_RATE ? '' : ` of ${100 * rate}%`}, ${what}\n`);
  return 0;
}

export async function runPretrain(argv: string[], debug: boolean, io: Io): Promise<number> {
  const { values, positionals } = pretrainFlags(argv);
  if (values.help) {
    io.stdout.write(pretrainUsage + '\n');
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(`pretrain takes one model, got ${positionals.length}\n${pretrainUsage}`);
  if ((values.corpus === undefined) === (values.data === undefined)) throw new UsageError('pretrain needs exactly one of --corpus and --data');
  if (!values.out) throw new UsageError('pretrain needs -o DIR');
  if (values.steps && values.epochs) throw new UsageError('give --steps or --epochs, not both');
  const run = claimRunDirectory(values.out, { resume: values.resume, overwrite: values.overwrite, canResume: true });
  try {
    return await pretrain(values, positionals[0]!, argv, debug, io);
  } finally {
    run.release();
  }
}

type PretrainFlags = ReturnType<typeof pretrainFlags>['values'];

function pretrainFlags(argv: string[]) {
  return parse(argv, {
    corpus: { type: 'string' }, data: { type: 'string' }, out: { type: 'string', short: 'o' }, vocab: { type: 'string' }, tokenizer: { type: 'string' }, lowercase: { type: 'string' }, packing: { type: 'string' },
    init: { type: 'string' }, steps: { type: 'string' }, epochs: { type: 'string' }, batch: { type: 'string' }, seq: { type: 'string' },
    lr: { type: 'string' }, warmup: { type: 'string' }, 'weight-decay': { type: 'string' }, clip: { type: 'string' }, dropout: { type: 'string' },
    masking: { type: 'string' }, 'save-every': { type: 'string' }, keep: { type: 'string' }, seed: { type: 'string' }, resume: { type: 'boolean' }, overwrite: { type: 'boolean' },
    accumulate: { type: 'string' }, 'dupe-factor': { type: 'string' }, backend: { type: 'string' }, threads: { type: 'string' }, recompute: { type: 'string' }, packed: { type: 'boolean' },
    'mask-rate': { type: 'string' }, validation: { type: 'string' }, 'eval-every': { type: 'string' }, help: { type: 'boolean', short: 'h' },
  });
}

/** The objective's accuracies (mlm_acc, nsp_acc, …) as `name value` pairs. */
function accuracies(metrics: Readonly<Record<string, number>>, separator = ' '): string {
  return Object.entries(metrics).filter(([name]) => name.endsWith('_acc')).map(([name, v]) => `${name} ${v.toFixed(3)}`).join(separator);
}

/** The command that continues an interrupted run: this one, with --resume. */
function resumeCommand(argv: readonly string[]): string {
  const args = argv.filter((a) => a !== '--overwrite' && a !== '--resume');
  const quoted = args.map((a) => (/^[\w./:=,@+-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`));
  return ['tcc', 'pretrain', ...quoted, '--resume'].join(' ');
}

async function pretrain(values: PretrainFlags, modelArg: string, argv: string[], debug: boolean, io: Io): Promise<number> {
  if (!values.out) throw new UsageError('pretrain needs -o DIR');
  const model = await localModel(modelArg, io);
  values.vocab = await localVocabFlag(values.vocab, io);
  values.tokenizer = await localTokenizerFlag(values.tokenizer, io);
  values.init = await localModelFlag(values.init, io);
  const batch = positiveInt(values.batch, '--batch', 8);
  const seq = positiveInt(values.seq, '--seq', 128);
  const seed = seedFlag(values.seed);
  const backend = backendFlags(values);
  const strategy = oneOf(values.masking, '--masking', MASKING_STRATEGIES, 'dynamic');
  const rate = maskRate(values['mask-rate']);
  if (values.data !== undefined && values['mask-rate'] !== undefined) throw new UsageError('--mask-rate goes with --corpus (prepared examples hold their masks: tcc prepare --mask-rate)');
  const modelFlags = { vocab: values.vocab, tokenizer: values.tokenizer, model, lowercase: values.lowercase };
  if (values.corpus && values['dupe-factor'] !== undefined && strategy !== 'static') throw new UsageError('--dupe-factor goes with --masking static');
  // Prepared examples say how many positions they label; a corpus is masked at the usual rate.
  const prepared = values.data === undefined ? undefined : readExamples(readTextFile(values.data), values.data, seq);
  const preparedData = prepared && examplesData(prepared.examples);
  const dropout = values.dropout === undefined ? undefined : nonNegative(values.dropout, '--dropout', 0.1);
  if (dropout !== undefined && dropout >= 1) throw new UsageError(`--dropout must be below 1, got ${dropout}`);
  const compiled = compileFile(model, {
    batch, seq, mode: 'train', maxPredictions: preparedData ? preparedData.maxPredictions : maxMaskedPositions(seq, rate), verify: debug,
    recompute: oneOf(values.recompute, '--recompute', RECOMPUTE_MODES, 'none'),
    optimizer: {
      ...(values.accumulate === undefined ? {} : { accumulate: positiveInt(values.accumulate, '--accumulate', 1, MAX_ACCUMULATE) }),
      ...(values.clip === undefined ? {} : { clip: nonNegative(values.clip, '--clip', 1) }),
    },
    ...(dropout === undefined ? {} : { dropout }),
    ...(values.packed ? { packed: {} } : {}),
  });

  let data;
  let tokenizer: TextTokenizer | undefined;
  // The model's objective decides the instances: sentence pairs for next-sentence prediction, else full sentences.
  const pairs = compiled.graph.nodes.some((n) => n.op === 'input' && sourceName(n) === 'next_sentence_label');
  const packing = oneOf(values.packing, '--packing', PACKINGS, pairs ? 'pairs' : 'full-sentences');
  if (values.corpus) {
    if (pairs !== (packing !== 'full-sentences')) throw new UsageError(`--packing ${packing} does not fit ${compiled.spec.name}: ${pairs ? 'it trains on sentence pairs (next_sentence_label): use pairs or sentence-order' : 'it takes no sentence pairs: use full-sentences'}`);
    const built = corpusInstances(values.corpus, modelFlags, seq, positiveInt(values['dupe-factor'], '--dupe-factor', 1), seed, strategy, packing);
    tokenizer = built.tokenizer;
    data = corpusData(built.instances, tokenizer, strategy, seed, seq, rate);
  } else {
    data = preparedData!;
    const given = values.vocab ?? values.tokenizer;
    if (given || (isModelDirectory(model) && ['tokenizer.json', 'vocab.txt'].some((f) => existsSync(join(model, f))))) tokenizer = loadTokenizer(modelFlags);
  }
  // A model that finds the masked positions by id (ELECTRA's generator fills them) must know the tokenizer's.
  const maskId = compiled.spec.config['mask_token_id']?.value;
  const tokenizerMask = tokenizer?.specials.mask === undefined ? undefined : tokenizer.id(tokenizer.specials.mask);
  if (maskId !== undefined && tokenizerMask !== undefined && maskId !== tokenizerMask) {
    throw new UsageError(`${compiled.spec.name}'s mask_token_id is ${String(maskId)}, but the tokenizer's ${tokenizer!.specials.mask} is ${tokenizerMask}: set mask_token_id: ${tokenizerMask} in its config`);
  }
  // Held-back text (its masks drawn once) or prepared examples (FILE.jsonl), at least a batch: read before anything is built.
  let held: PretrainData | undefined;
  if (values.validation !== undefined) {
    const file = values.validation;
    if (/\.jsonl$/i.test(file)) held = examplesData(readExamples(readTextFile(file), file, seq).examples);
    else if (!tokenizer) throw new UsageError(`--validation ${file} is text: tcc needs the tokenizer to read it (--vocab or --tokenizer), or give prepared examples (FILE.jsonl)`);
    else held = corpusData(corpusInstances(file, modelFlags, seq, 1, seed, strategy, packing).instances, tokenizer, strategy, seed, seq, rate);
    if (held.count < batch) throw new UsageError(`${file} gives ${held.count} validation examples; a batch takes ${batch}`);
  } else if (values['eval-every'] !== undefined) throw new UsageError('--eval-every goes with --validation FILE');
  const accumulate = compiled.optimizer!.accumulate;
  const epochSteps = Math.ceil(data.count / (batch * accumulate));
  const steps = values.steps ? positiveInt(values.steps, '--steps', 1, MAX_STEPS) : positiveInt(values.epochs, '--epochs', 1, MAX_EPOCHS) * epochSteps;
  const session = await sessionFor(compiled.graph, backend, io, debug, compiled.runtime);
  const { program } = session;
  if (prepared) checkExamples(prepared, values.data!, program.inputs);
  const initFile = values.init ?? (isModelDirectory(model) && existsSync(join(model, 'model.safetensors')) ? join(model, 'model.safetensors') : undefined);
  if (initFile) {
    const file = isModelDirectory(initFile) ? join(initFile, 'model.safetensors') : initFile;
    const matched = matchWeights(program.params, readSafetensors(readInputFile(file), file).tensors, file);
    if (matched.missing.length) throw new UsageError(`${file} lacks ${matched.missing.length} of the model's parameters, e.g. '${matched.missing[0]}'`);
    session.setParams(matched.values);
  } else session.setParams(initWithProgress(io, program.params, seed));

  const keep = values.keep === undefined ? {} : { keep: positiveInt(values.keep, '--keep', 1) };
  const saveEvery = positiveInt(values['save-every'], '--save-every', 1000);
  // Held-back text (or prepared examples), scored by a program of the step's losses alone, dropout off.
  let validation: Validation | undefined;
  if (held) {
    const scored = compileFile(model, { batch, seq, mode: 'train', evaluate: true, maxPredictions: held.maxPredictions, dropout: 0, verify: debug, ...(values.packed ? { packed: {} } : {}) });
    validation = { session: await sessionFor(scored.graph, backend, io, debug, scored.runtime), data: held, every: positiveInt(values['eval-every'], '--eval-every', saveEvery) };
  }
  const settings = { dir: values.out, steps, batch, seq, accumulate, saveEvery, ...(validation ? { validation } : {}), config: hfConfig(compiled.spec, headOutputs(compiled.spec)), ...keep, files: { [CHECKPOINT_SPEC]: flatSpecText(model), ...(tokenizer ? hfTokenizerFiles(tokenizer, Number(compiled.spec.config['max_position_embeddings']?.value ?? 512)) : {}) } };
  const fromSpec = (key: string, fallback: number) => specSetting(compiled.spec, key) ?? fallback;
  const lr = nonNegative(values.lr, '--lr', fromSpec('lr', 1e-4));
  const trainer = new Trainer(session, {
    schedule: { lr, warmupSteps: warmupSteps(nonNegative(values.warmup, '--warmup', fromSpec('warmup', 0.01)), steps), totalSteps: steps },
    weightDecay: nonNegative(values['weight-decay'], '--weight-decay', fromSpec('weight_decay', 0.01)),
    beta1: compiled.optimizer!.beta1, beta2: compiled.optimizer!.beta2,
    seed, accumulate,
  });
  let from = 0;
  if (values.resume) {
    const resumed = resume(trainer, settings, data);
    if (resumed === undefined) io.stderr.write(`${values.out} holds no complete checkpoint to resume from${holdsRun(values.out) ? ' (the earlier run stopped before its first)' : ''}: starting at step 0\n`);
    from = resumed ?? 0;
  }
  io.stderr.write(`${program.model}: pretraining ${steps} steps of ${accumulate > 1 ? `${accumulate} × ` : ''}${batch} × ${seq} on ${data.count} examples (${strategy} masking${rate === MASK_RATE ? '' : ` of ${100 * rate}%`}${values.packed ? ', padding-free' : ''})${from ? `, resumed at step ${from}` : ''}\n`);

  const bar = progress(io, 'pretraining', steps, { unit: 'steps', start: from });
  const stop = listenForStop(io, 'finishing this step and writing a checkpoint');
  let last;
  try {
    last = await runTraining(trainer, data, settings, {
      onStep(step, m) {
        bar.update(step, `loss ${m.loss!.toFixed(4)} ${accuracies(m)} ${Math.round(m.tokens_per_s!)} tok/s`);
      },
      onValidation(step, m) {
        bar.log(`  step ${step}: validation loss ${m.val_loss!.toFixed(4)}${Object.entries(m).filter(([n]) => n.endsWith('_acc')).map(([n, v]) => `, ${n.slice(4)} ${v.toFixed(3)}`).join('')}`);
      },
      onCheckpoint(dir, removed) {
        bar.log(`saved ${dir}${removed.length ? ` (removed ${removed.map((r) => basename(r)).join(', ')})` : ''}`);
      },
      stopRequested: stop.requested,
    });
  } catch (e) {
    if (!(e instanceof Interrupted)) throw e;
    bar.stop();
    io.stderr.write(`stopped by ${e.signal} after step ${e.step} of ${steps}: saved ${e.checkpoint}; continue with:\n  ${resumeCommand(argv)}\n`);
    return signalExitCode(e.signal);
  } finally {
    stop.dispose();
  }
  bar.stop();
  io.stderr.write(`done: loss ${last.loss?.toFixed(4)}, ${accuracies(last, ', ')}; metrics in ${join(values.out, 'metrics.jsonl')}\n`);
  return 0;
}
