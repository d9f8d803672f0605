// The web page: loads a compiled model directory (program.json and its WGSL
// modules, model.safetensors, its tokenizer.json or vocab.txt) served beside it, runs the forward
// pass with WebGPU on the text typed in, and shows the tokens, the top
// predictions at each [MASK] and the time taken (a padding-free program on
// the text's own tokens, one of a fixed shape on the text padded to it). The
// result is also left in window.tccResult for programs that drive the page.

import type { Program } from '../runtime/program.js';
import { isPacked, packSequences } from '../runtime/packed.js';
import { checkProgram } from '../runtime/program-check.js';
import type { Session } from '../runtime/session.js';
import { maskPredictions, type MaskPrediction } from '../train/predictions.js';
import { vocabTokens, type TextTokenizer } from '../train/tokenizer.js';
import { $, fail, fetchOk, onRun, openServedModel, pageBackend, runsOn, showBackendChooser, type TokenizerSettings } from './page.js';
import type { Backend } from '../backends/registry.js';

const maskToken = (tokenizer: TextTokenizer) => tokenizer.specials.mask ?? '[MASK]';

export interface PageResult {
  readonly adapter: string;
  /** The tokenizer's mask token ([MASK], <mask>). */
  readonly mask: string;
  readonly tokens: readonly string[];
  readonly inputIds: readonly number[];
  readonly predictions: readonly MaskPrediction[];
  /** The MLM logits at each [MASK], for comparison with other runs. */
  readonly maskLogits: readonly (readonly number[])[];
  readonly ms: number;
}

async function load(backend: Backend): Promise<{ session: Session; tokenizer: TextTokenizer; program: Program; adapter: string }> {
  // Checked before any of its fields is read (openSession finds it checked).
  const { program } = checkProgram(await (await fetchOk('model/program.json')).json(), 'model/program.json');
  if (!isPacked(program) && program.dims['batch'] !== 1) throw new Error(`the page runs one text at a time; compile with --batch 1 (not ${program.dims['batch']}) or --packed`);
  if (!program.outputs.some((o) => o.name === 'prediction_logits')) throw new Error('the model has no masked-LM head (prediction_logits)');
  const settings = (await (await fetchOk('model/serve.json')).json()) as TokenizerSettings;
  const { session, tokenizer } = await openServedModel(program, backend, settings);
  return { session, tokenizer, program, adapter: session.executor.device };
}

async function run(model: Awaited<ReturnType<typeof load>>): Promise<PageResult> {
  const { session, tokenizer, program } = model;
  const seq = program.dims['seq']!;
  const packed = isPacked(program);
  const encoding = tokenizer.encode(($('text') as HTMLTextAreaElement).value, { maxLength: seq, pad: !packed });
  const start = performance.now();
  let out;
  if (packed) {
    const batch = packSequences(program, [{ input_ids: encoding.input_ids, token_type_ids: encoding.token_type_ids }]);
    out = await session.run(batch.inputs, { seed: 0, step: 0, sizes: batch.sizes }, ['prediction_logits']);
  } else out = await session.run({ input_ids: encoding.input_ids, token_type_ids: encoding.token_type_ids, attention_mask: encoding.attention_mask }, undefined, ['prediction_logits']);
  const ms = performance.now() - start;
  const logits = out['prediction_logits']!;
  const vocabSize = logits.shape[logits.shape.length - 1]!;
  const tokens = vocabTokens(tokenizer, encoding);
  const predictions = maskPredictions(tokenizer.vocab, tokens, logits.data, vocabSize, 5, maskToken(tokenizer));
  const shown = tokens.filter((_, i) => encoding.attention_mask[i]);
  return {
    adapter: model.adapter,
    mask: maskToken(tokenizer),
    tokens: shown,
    inputIds: encoding.input_ids.slice(0, shown.length),
    predictions,
    maskLogits: predictions.map((p) => Array.from(logits.data.subarray(p.position * vocabSize, (p.position + 1) * vocabSize))),
    ms,
  };
}

function show(result: PageResult): void {
  $('tokens').replaceChildren(...result.tokens.map((t) => Object.assign(document.createElement('span'), { className: t === result.mask ? 'token mask' : 'token', textContent: t })));
  const rows = result.predictions.map((p) => {
    const tr = document.createElement('tr');
    tr.append(Object.assign(document.createElement('th'), { textContent: `#${p.position}` }), ...p.top.map((t) => Object.assign(document.createElement('td'), { textContent: `${t.token} ${t.probability.toFixed(3)}` })));
    return tr;
  });
  const table = document.createElement('table');
  table.append(...rows);
  $('predictions').replaceChildren(result.predictions.length ? table : `no ${result.mask} in the text`);
  $('timing').textContent = `forward pass ${result.ms.toFixed(1)} ms on ${result.adapter}`;
}

async function main(): Promise<void> {
  const { backend, note, choices } = await pageBackend();
  showBackendChooser(backend, choices);
  const model = await load(backend);
  $('title').textContent = `tcc · ${model.program.model} on ${runsOn(backend)} (seq ${model.program.dims['seq']})`;
  $('adapter').textContent = note ? `${note}: ${model.adapter}` : model.adapter;
  onRun(() => run(model), show, `ready: type a text with ${maskToken(model.tokenizer)} and press Run`);
}

main().catch(fail);
