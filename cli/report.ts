// `tcc report RUN_DIR -o report.html`: a training run as one page: loss,
// accuracy, learning rate, gradient norm and tokens/s over the steps of
// metrics.jsonl, the validation curves of validation.jsonl (pretraining on
// held-back text), the evaluation curves of eval.jsonl, and the run's
// settings (its latest checkpoint's trainer_state.json and config.json).

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { parse } from './args.js';
import { UsageError, type Io } from './errors.js';
import { readInputFile, writeAtomic, readTextFile } from './files.js';

export const reportUsage = `usage: tcc report RUN_DIR -o report.html

Draws a training run (tcc pretrain or tcc finetune's -o DIR) as one HTML page:
loss, MLM/NSP or task accuracy, learning rate, gradient norm and tokens/s over
the steps of DIR/metrics.jsonl, the validation curves of DIR/validation.jsonl
(tcc pretrain --validation), the evaluation curves of DIR/eval.jsonl, and the
run's settings.`;

type Row = Record<string, number>;

/** A JSON-lines log: one object per line; a line that is not one is an error at its line. */
function readLog(file: string): Row[] {
  if (!existsSync(file)) return [];
  return readTextFile(file).split('\n').flatMap((line, i) => {
    if (!line.trim()) return [];
    try {
      const row = JSON.parse(line) as unknown;
      if (typeof row !== 'object' || row === null || Array.isArray(row)) throw new Error('not an object');
      return [row as Row];
    } catch (e) {
      throw new UsageError(`${file}:${i + 1}: not a JSON object (${(e as Error).message})`);
    }
  });
}

/** The run's settings: the latest checkpoint's (or best/'s) trainer state and model config. */
function settings(dir: string): [string, string][] {
  const candidates = ['final', 'best', ...readdirSync(dir).filter((n) => /^checkpoint-\d+$/.test(n)).sort((a, b) => Number(b.split('-')[1]) - Number(a.split('-')[1]))];
  const found = candidates.map((c) => join(dir, c)).find((c) => existsSync(join(c, 'config.json')));
  if (!found) return [];
  const read = (file: string): Record<string, unknown> => {
    try {
      return JSON.parse(readFileSync(join(found, file), 'utf8')) as Record<string, unknown>;
    } catch {
      return {};
    }
  };
  const config = read('config.json');
  const state = read('trainer_state.json');
  const model = ['architectures', 'hidden_size', 'num_hidden_layers', 'num_attention_heads', 'intermediate_size', 'vocab_size', 'hidden_act', 'num_labels'].filter((k) => config[k] !== undefined).map((k) => `${k} ${Array.isArray(config[k]) ? (config[k] as unknown[]).join(',') : String(config[k])}`);
  const facts: [string, string][] = [['model', model.join(', ')]];
  if (Object.keys(state).length) facts.push(['trainer', Object.entries(state).map(([k, v]) => `${k} ${String(v)}`).join(', ')]);
  facts.push(['checkpoint', `${basename(found)}/ of the run`]);
  return facts;
}

const present = (rows: readonly Row[], keys: readonly string[]) => keys.filter((k) => rows.some((r) => typeof r[k] === 'number'));
const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

export async function runReport(argv: string[], _debug: boolean, io: Io): Promise<number> {
  const { values, positionals } = parse(argv, { out: { type: 'string', short: 'o' }, help: { type: 'boolean', short: 'h' } });
  if (values.help) {
    io.stdout.write(reportUsage + '\n');
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(`report takes one run directory, got ${positionals.length}\n${reportUsage}`);
  if (!values.out) throw new UsageError('report needs -o report.html');
  const dir = positionals[0]!;
  if (!existsSync(dir)) throw new UsageError(`${dir}: no such run directory`);
  const steps = readLog(join(dir, 'metrics.jsonl'));
  const epochs = readLog(join(dir, 'eval.jsonl'));
  const validation = readLog(join(dir, 'validation.jsonl'));
  if (!steps.length && !epochs.length) throw new UsageError(`${dir} has no metrics.jsonl or eval.jsonl to draw (is it the -o DIR of tcc pretrain or tcc finetune?)`);

  const { chartSvg, curvesSpec, htmlPage } = await import('./pictures.js');
  const charts: { id: string; title: string; spec: TopLevelSpec }[] = [];
  const chart = (rows: readonly Row[], x: string, keys: readonly string[], id: string, title: string, y: string) => {
    const series = present(rows, keys);
    if (series.length) charts.push({ id, title, spec: curvesSpec(rows, x, series, y) });
  };
  chart(steps, 'step', ['loss', 'mlm_loss', 'nsp_loss', 'classification_loss', 'token_classification_loss', 'start_loss', 'end_loss'], 'loss', 'Loss', 'loss');
  chart(steps, 'step', ['mlm_acc', 'nsp_acc', 'accuracy', 'start_acc', 'end_acc'], 'accuracy', 'Accuracy (training batches)', 'accuracy');
  chart(steps, 'step', ['lr'], 'lr', 'Learning rate', 'learning rate');
  chart(steps, 'step', ['grad_norm'], 'grad-norm', 'Gradient norm (before clipping)', 'global norm');
  chart(steps, 'step', ['tokens_per_s'], 'throughput', 'Tokens per second', 'tokens/s');
  const validated = (suffix: string) => [...new Set(validation.flatMap((r) => Object.keys(r).filter((k) => k.startsWith('val_') && k.endsWith(suffix))))];
  chart(validation, 'step', validated('_loss'), 'validation-loss', 'Validation loss (held-back text, dropout off)', 'loss');
  chart(validation, 'step', validated('_acc'), 'validation-accuracy', 'Validation accuracy', 'accuracy');
  chart(epochs, 'epoch', ['accuracy', 'f1'], 'eval-accuracy', 'Evaluation accuracy and F1', 'score');
  chart(epochs, 'epoch', ['loss', 'train_loss'], 'eval-loss', 'Evaluation and training loss per epoch', 'loss');

  const last = steps.at(-1);
  const facts: [string, string][] = [
    ...(steps.length ? ([['steps', `${steps.length} logged, last ${last!['step']}; final loss ${last!['loss']?.toFixed(4) ?? '?'}`]] as [string, string][]) : []),
    ...(present(steps, ['tokens_per_s']).length ? ([['throughput', `${Math.round(mean(steps.map((r) => r['tokens_per_s']!).filter(Number.isFinite)))} tokens/s (mean over steps)`]] as [string, string][]) : []),
    ...(validation.length ? ([['validation', Object.entries(validation.at(-1)!).map(([k, v]) => `${k} ${k === 'step' ? v : v.toFixed(4)}`).join(', ')]] as [string, string][]) : []),
    ...(epochs.length ? ([['evaluation', epochs.map((e) => `epoch ${e['epoch']}: accuracy ${e['accuracy']?.toFixed(4)}`).join('; ')]] as [string, string][]) : []),
    ...settings(dir),
  ];
  const sections = [];
  for (const c of charts) sections.push({ id: c.id, title: c.title, svg: await chartSvg(c.spec) });
  writeAtomic(values.out, htmlPage(`Training report: ${basename(resolve(dir))}`, facts, sections, 'grid'));
  io.stderr.write(`wrote ${values.out}: ${charts.length} charts (${charts.map((c) => c.id).join(', ')}) from ${steps.length} steps${epochs.length ? ` and ${epochs.length} evaluations` : ''}\n`);
  return 0;
}
