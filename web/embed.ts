// The sentence-embedding page: loads a program whose output is
// sentence_embedding (a sentence-transformers model compiled by `tcc serve
// MODEL --embed`, its pooling and normalization inside the program), its
// weights and tokenizer (tokenizer.json, else vocab.txt), embeds each line
// typed in with the kernels on WebGPU (or the CPU in the tab) and shows
// every pair's cosine similarity. A padding-free program (as tcc serve
// compiles it where the model has that form) embeds the texts together, as
// one stream of their tokens per run; one of a fixed shape, one padded text
// at a time. The result is also left in window.tccResult for programs that
// drive the page.

import type { Program } from '../runtime/program.js';
import { isPacked, packSequences } from '../runtime/packed.js';
import { checkProgram } from '../runtime/program-check.js';
import type { Session } from '../runtime/session.js';
import type { TextTokenizer } from '../train/tokenizer.js';
import { $, fail, fetchOk, onRun, openServedModel, pageBackend, runsOn, showBackendChooser, type TokenizerSettings } from './page.js';
import type { Backend } from '../backends/registry.js';

interface EmbedSettings extends TokenizerSettings {
  readonly embed: { readonly model: string };
}

export interface EmbedResult {
  readonly adapter: string;
  readonly texts: readonly string[];
  /** Each text's tokens, special tokens included. */
  readonly tokens: readonly (readonly string[])[];
  readonly embeddings: readonly (readonly number[])[];
  /** similarities[i][j]: the cosine of texts i and j. */
  readonly similarities: readonly (readonly number[])[];
  readonly ms: number;
}

interface Model {
  readonly session: Session;
  readonly tokenizer: TextTokenizer;
  readonly program: Program;
  readonly adapter: string;
  readonly settings: EmbedSettings;
}

async function load(backend: Backend): Promise<Model> {
  const { program } = checkProgram(await (await fetchOk('model/program.json')).json(), 'model/program.json');
  if (!isPacked(program) && program.dims['batch'] !== 1) throw new Error(`the page embeds one padded text at a time; the program is compiled for batch ${program.dims['batch']}`);
  if (!program.outputs.some((o) => o.name === 'sentence_embedding')) throw new Error('the model has no output sentence_embedding');
  const settings = (await (await fetchOk('model/serve.json')).json()) as EmbedSettings;
  const { session, tokenizer } = await openServedModel(program, backend, settings);
  return { session, tokenizer, program, adapter: session.executor.device, settings };
}

/** The program's inputs for one text, padded to the compiled length. */
function inputsFor(model: Model, text: string): { tensors: Record<string, Int32Array>; tokens: string[] } {
  const seq = model.program.dims['seq']!;
  const encoding = model.tokenizer.encode(text, { maxLength: seq });
  const pad = model.tokenizer.id(model.tokenizer.specials.pad ?? '') ?? 0;
  const rows = { input_ids: encoding.input_ids, token_type_ids: encoding.token_type_ids, attention_mask: encoding.attention_mask };
  const fill = { input_ids: pad, token_type_ids: 0, attention_mask: 0 };
  const tensors: Record<string, Int32Array> = {};
  for (const input of model.program.inputs) {
    const name = input.name as keyof typeof rows;
    if (!(name in rows)) throw new Error(`the model takes an input '${input.name}'; the page gives input_ids, token_type_ids and attention_mask`);
    const data = new Int32Array(seq).fill(fill[name]);
    data.set(rows[name]);
    tensors[name] = data;
  }
  return { tensors, tokens: encoding.tokens };
}

const cosine = (a: readonly number[], b: readonly number[]): number => {
  let [ab, aa, bb] = [0, 0, 0];
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  return ab / Math.sqrt(aa * bb);
};

/**
 * The embeddings of texts on a padding-free program: as many texts per run
 * as its sequences and tokens hold, each run one stream of their real
 * tokens (sentence_embedding: a row per text).
 */
async function embedPacked(model: Model, texts: readonly string[], embeddings: number[][], tokens: string[][]): Promise<void> {
  const { program, tokenizer, session } = model;
  const max = (name: string) => program.symbols!.find((s) => s.name === name)!.max;
  const [maxTexts, maxTokens, seq] = [max('sequences'), max('tokens'), program.dims['seq']!];
  const encodings = texts.map((t) => tokenizer.encode(t, { maxLength: seq }));
  for (let first = 0; first < encodings.length;) {
    let [count, total] = [0, 0];
    while (first + count < encodings.length && count < maxTexts && total + encodings[first + count]!.input_ids.length <= maxTokens) total += encodings[first + count++]!.input_ids.length;
    // (A text the program cannot hold alone goes alone: packSequences names both numbers.)
    count = Math.max(1, count);
    const chunk = encodings.slice(first, first + count);
    const batch = packSequences(program, chunk.map((e) => ({ input_ids: e.input_ids, token_type_ids: e.token_type_ids })));
    const out = (await session.run(batch.inputs, { seed: 0, step: 0, sizes: batch.sizes }, ['sentence_embedding']))['sentence_embedding']!;
    const width = out.shape.at(-1)!;
    chunk.forEach((e, i) => {
      embeddings.push(Array.from(out.data.subarray(i * width, (i + 1) * width)));
      tokens.push(e.tokens);
    });
    first += count;
  }
}

async function run(model: Model): Promise<EmbedResult> {
  const texts = ($('texts') as HTMLTextAreaElement).value.split('\n').map((t) => t.trim()).filter((t) => t);
  if (!texts.length) throw new Error('type a sentence or more, one per line');
  const embeddings: number[][] = [];
  const tokens: string[][] = [];
  const start = performance.now();
  if (isPacked(model.program)) await embedPacked(model, texts, embeddings, tokens);
  else {
    for (const text of texts) {
      const input = inputsFor(model, text);
      const out = await model.session.run(input.tensors, undefined, ['sentence_embedding']);
      embeddings.push(Array.from(out['sentence_embedding']!.data));
      tokens.push(input.tokens);
    }
  }
  const ms = performance.now() - start;
  const similarities = embeddings.map((a) => embeddings.map((b) => cosine(a, b)));
  return { adapter: model.adapter, texts, tokens, embeddings, similarities, ms };
}

function show(result: EmbedResult): void {
  const table = document.createElement('table');
  const head = document.createElement('tr');
  head.append(document.createElement('th'), ...result.texts.map((_, j) => Object.assign(document.createElement('th'), { textContent: `${j + 1}` })));
  table.append(head);
  result.texts.forEach((text, i) => {
    const tr = document.createElement('tr');
    tr.append(Object.assign(document.createElement('th'), { className: 'text', textContent: `${i + 1}. ${text}`, title: text }));
    for (const s of result.similarities[i]!) {
      // Shaded by similarity: the closer two sentences, the darker their cell.
      const shade = Math.round(255 - 120 * Math.max(0, s));
      tr.append(Object.assign(document.createElement('td'), { textContent: s.toFixed(3), style: `background: rgb(${shade}, ${shade}, 255)` }));
    }
    table.append(tr);
  });
  $('similarities').replaceChildren(table);
  const dim = result.embeddings[0]?.length ?? 0;
  $('timing').textContent = `${result.texts.length} text${result.texts.length === 1 ? '' : 's'} → ${dim}-dimensional embeddings in ${result.ms.toFixed(1)} ms on ${result.adapter}`;
}

async function main(): Promise<void> {
  const { backend, note, choices } = await pageBackend();
  showBackendChooser(backend, choices);
  const model = await load(backend);
  $('title').textContent = `tcc · ${model.settings.embed.model}: sentence embeddings on ${runsOn(backend)} (up to ${model.program.dims['seq']} tokens)`;
  $('adapter').textContent = note ? `${note}: ${model.adapter}` : model.adapter;
  onRun(() => run(model), show, 'ready: type sentences, one per line, and press Embed and compare');
}

main().catch(fail);
