// The fine-tuning page: the training step of a sentence classifier, compiled
// for WebGPU by `tcc serve MODEL --finetune`, run in the tab on a TSV the user
// drops, with a live loss curve (uPlot); the fine-tuned weights download as
// model.safetensors, which tcc run loads. The steps are tcc finetune's: the
// same shuffles, schedule, AdamW and dropout streams, so the losses are the
// CLI's. Progress is also left in window.tccFinetune for programs that drive
// the page.

import type uPlot from 'uplot';
import { DEFAULT_ADAMW } from '../compiler/passes/optimizer.js';
import { initParams } from '../runtime/init.js';
import type { Program } from '../runtime/program.js';
import { isPacked } from '../runtime/packed.js';
import { checkProgram } from '../runtime/program-check.js';
import { readSafetensors, writeSafetensors } from '../runtime/safetensors.js';
import { openSession, type Session } from '../runtime/session.js';
import { matchWeights } from '../runtime/weights.js';
import { trainEpoch } from '../train/finetune.js';
import { encodeSentence, labelId, labelSet, readSentenceExamples } from '../train/labeled.js';
import { Rng, STREAMS } from '../train/rng.js';
import { warmupSteps } from '../train/schedule.js';
import type { TextTokenizer } from '../train/tokenizer.js';
import { Trainer } from '../train/trainer.js';
import { $, fail, fetchOk, pageBackend, pageTokenizer, runsOn, showBackendChooser, type TokenizerSettings } from './page.js';
import type { Backend } from '../backends/registry.js';

interface Settings extends TokenizerSettings {
  readonly finetune: {
    readonly labels: number; readonly model: string; readonly epochs: number; readonly lr: number; readonly warmup: number; readonly weightDecay: number; readonly seed: number;
    /** The task head's parameters (and a pooler the model had none of): they start from the initialization, not the weights. */
    readonly head: readonly string[];
  };
}

export interface FinetuneState {
  /** The loss of each step so far. */
  readonly losses: number[];
  done: boolean;
  labels: string[];
  /** Where the starting weights came from. */
  weights: string;
}

const page = window as unknown as { tccFinetune?: FinetuneState; tccReady?: boolean };

interface Model {
  readonly program: Program;
  readonly session: Session;
  readonly tokenizer: TextTokenizer;
  readonly settings: Settings;
  /** The served weights, if any; a file the user picks replaces them. */
  weights?: { readonly name: string; readonly bytes: Uint8Array };
}

async function load(backend: Backend): Promise<Model> {
  // Checked before any of its fields is read (openSession finds it checked).
  const { program } = checkProgram(await (await fetchOk('model/program.json')).json(), 'model/program.json');
  if (program.mode !== 'train') throw new Error('the server holds no training program (tcc serve MODEL --finetune)');
  const settings = (await (await fetchOk('model/serve.json')).json()) as Settings;
  const tokenizer = await pageTokenizer(settings);
  const served = await fetch('model/model.safetensors');
  const session = await openSession({ program }, { backend: backend.name });
  return {
    program,
    session,
    settings,
    tokenizer,
    ...(served.ok ? { weights: { name: 'the served model.safetensors', bytes: new Uint8Array(await served.arrayBuffer()) } } : {}),
  };
}

const numberInput = (id: string) => Number(($(id) as HTMLInputElement).value);

/** The starting weights: BERT's initialization from the seed, overlaid with the chosen file's (the new head keeps its initialization). */
function startingWeights(model: Model, seed: number): Record<string, Float32Array> {
  const fresh = initParams(model.program.params, seed);
  if (!model.weights) return fresh;
  const matched = matchWeights(model.program.params, readSafetensors(model.weights.bytes, model.weights.name).tensors, model.weights.name);
  const head = new Set(model.settings.finetune.head);
  const body = matched.missing.filter((n) => !head.has(n));
  if (body.length) throw new Error(`${model.weights.name} lacks ${body.length} of the model's parameters, e.g. '${body[0]}'`);
  return { ...fresh, ...matched.values };
}

async function fineTune(model: Model, file: File, chart: uPlot): Promise<void> {
  const { program, session, tokenizer, settings } = model;
  const [batch, seq] = [program.dims['batch']!, program.dims['seq']!];
  const examples = readSentenceExamples(await file.text(), file.name);
  const labels = labelSet(examples.map((e) => e.label));
  if (labels.length !== settings.finetune.labels) throw new Error(`${file.name} has ${labels.length} labels (${labels.join(', ')}); the classifier was compiled for ${settings.finetune.labels} (tcc serve --labels)`);
  if (examples.length < batch) throw new Error(`${file.name} has ${examples.length} sentences; a step takes ${batch}`);
  const rows = examples.map((e) => encodeSentence(tokenizer, e, labelId(labels, e.label, file.name, e.line), seq));
  const [epochs, lr, warmup, seed] = [numberInput('epochs'), numberInput('lr'), numberInput('warmup'), numberInput('seed')];
  session.setParams(startingWeights(model, seed));
  const stepsPerEpoch = Math.floor(rows.length / batch);
  const steps = stepsPerEpoch * epochs;
  const trainer = new Trainer(session, {
    schedule: { lr, warmupSteps: warmupSteps(warmup, steps), totalSteps: steps },
    weightDecay: settings.finetune.weightDecay,
    beta1: DEFAULT_ADAMW.beta1,
    beta2: DEFAULT_ADAMW.beta2,
    seed,
    accumulate: 1,
  });
  const state: FinetuneState = { losses: [], done: false, labels, weights: model.weights?.name ?? `BERT's initialization (seed ${seed})` };
  page.tccFinetune = state;
  const shape = isPacked(program) ? `up to ${batch} sentences of up to ${seq} tokens, padding-free` : `batch ${batch} × seq ${seq}`;
  $('summary').textContent = `${rows.length} sentences, labels ${labels.join(', ')}; ${epochs} epochs of ${stepsPerEpoch} steps (${shape}); weights: ${state.weights}`;
  const rng = new Rng(seed, STREAMS.shuffle);
  const started = performance.now();
  for (let epoch = 1; epoch <= epochs; epoch++) {
    await trainEpoch(trainer, rows, rng.shuffle(rows.map((_, i) => i)), batch, false, (m) => {
      state.losses.push(m.loss!);
      chart.setData([state.losses.map((_, i) => i + 1), state.losses]);
      const rate = state.losses.length / ((performance.now() - started) / 1000);
      $('status').textContent = `epoch ${epoch}/${epochs}, step ${state.losses.length}/${steps}: loss ${m.loss!.toFixed(4)}, accuracy ${(m.accuracy ?? 0).toFixed(3)} (${rate.toFixed(1)} steps/s)`;
    });
  }
  state.done = true;
}

async function download(model: Model): Promise<void> {
  const values = await model.session.readParams();
  const tensors = Object.fromEntries(model.program.params.map((p) => [p.name, { dtype: 'F32' as const, shape: p.shape, data: values[p.name]! }]));
  const bytes = writeSafetensors(tensors, { format: 'pt', producer: 'tcc' });
  const link = Object.assign(document.createElement('a'), { href: URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' })), download: 'model.safetensors' });
  link.click();
  URL.revokeObjectURL(link.href);
}

async function main(): Promise<void> {
  const { backend, note, choices } = await pageBackend();
  showBackendChooser(backend, choices);
  const model = await load(backend);
  const { finetune } = model.settings;
  $('title').textContent = `tcc · fine-tune ${finetune.model} as a classifier of ${finetune.labels} labels on ${runsOn(backend)}`;
  $('adapter').textContent = note ? `${note}: ${model.session.executor.device}` : model.session.executor.device;
  for (const [id, value] of [['epochs', finetune.epochs], ['lr', finetune.lr], ['warmup', finetune.warmup], ['seed', finetune.seed]] as const) ($(id) as HTMLInputElement).value = String(value);
  $('weights-note').textContent = model.weights ? `(default: ${model.weights.name})` : "(default: BERT's initialization)";
  const { default: UPlot } = (await import('/vendor/uplot.js' as string)) as { default: typeof uPlot };
  const chart = new UPlot({ width: 720, height: 260, scales: { x: { time: false } }, series: [{ label: 'step' }, { label: 'training loss', stroke: '#3b6fd8', width: 1.5 }], axes: [{ label: 'step' }, { label: 'loss' }] }, [[], []], $('chart'));

  let data: File | undefined;
  const [train, save] = [$('train') as HTMLButtonElement, $('download') as HTMLButtonElement];
  const choose = (file: File | undefined) => {
    data = file;
    train.disabled = !file;
    if (file) $('status').textContent = `${file.name}: press Fine-tune`;
  };
  ($('data') as HTMLInputElement).onchange = (e) => choose((e.target as HTMLInputElement).files?.[0]);
  ($('weights') as HTMLInputElement).onchange = async (e) => {
    const file = (e.target as HTMLInputElement).files?.[0];
    if (file) model.weights = { name: file.name, bytes: new Uint8Array(await file.arrayBuffer()) };
  };
  const drop = $('drop');
  drop.ondragover = (e) => {
    e.preventDefault();
    drop.classList.add('over');
  };
  drop.ondragleave = () => drop.classList.remove('over');
  drop.ondrop = (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    choose(e.dataTransfer?.files[0]);
  };
  train.onclick = () => {
    train.disabled = save.disabled = true;
    $('status').className = '';
    fineTune(model, data!, chart)
      .then(() => {
        $('status').textContent += ' — done';
        save.disabled = false;
      })
      .catch(fail)
      .finally(() => (train.disabled = false));
  };
  save.onclick = () => void download(model).catch(fail);
  $('status').textContent = 'ready: drop or choose a TSV of labelled sentences';
  page.tccReady = true;
}

main().catch(fail);
