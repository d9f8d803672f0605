// Pictures of what the compiler did and of a training run, as SVG: the fused
// graph laid out by Graphviz (compiled to WebAssembly, @viz-js/viz), the
// memory plan and the training curves drawn by Vega-Lite (rendered to SVG in
// Node, no browser needed); and HTML pages that hold them.

import { instance } from '@viz-js/viz';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { MemoryPicture } from '../compiler/pictures.js';

export async function graphSvg(dot: string): Promise<string> {
  const viz = await instance();
  return viz.renderString(dot, { format: 'svg' });
}

/** A Vega-Lite spec as SVG. */
export async function chartSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

const MB = 1024 * 1024;

/**
 * The memory plan: each planned arena buffer a rectangle from the first to
 * one past the last kernel that touches it, at its offset; the bytes live at
 * each kernel as a line (its peak is the lower bound no plan can beat), and
 * the arena's size as a rule.
 */
export function memorySpec(picture: MemoryPicture, title: string): TopLevelSpec {
  const rects = picture.buffers.map((b) => ({ name: b.name, start: b.start, end: b.end, from: b.offset / MB, to: (b.offset + b.bytes) / MB, size: `${(b.bytes / MB).toFixed(2)} MiB`, pass: b.pass }));
  const live = picture.live.flatMap((bytes, k) => [{ kernel: k, mib: bytes / MB }, { kernel: k + 1, mib: bytes / MB }]);
  const x = { scale: { domain: [0, picture.kernels + 1] }, title: 'kernel (schedule order)' };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: title, subtitle: `arena ${(picture.arenaBytes / MB).toFixed(2)} MiB, lower bound ${(picture.lowerBoundBytes / MB).toFixed(2)} MiB; one rectangle per planned buffer` },
    width: 760,
    height: 380,
    layer: [
      {
        data: { values: rects },
        mark: { type: 'rect', stroke: '#1d3f8c', strokeWidth: 0.4, opacity: 0.85 },
        encoding: {
          x: { field: 'start', type: 'quantitative', ...x },
          x2: { field: 'end' },
          y: { field: 'from', type: 'quantitative', title: 'arena offset (MiB)' },
          y2: { field: 'to' },
          color: { field: 'pass', type: 'nominal', scale: { domain: ['forward', 'backward'], range: ['#6f9ceb', '#f2b26b'] }, legend: { orient: 'top', title: null } },
          tooltip: [{ field: 'name' }, { field: 'size' }, { field: 'start', title: 'first kernel' }, { field: 'end', title: 'after the last' }],
        },
      },
      {
        data: { values: live },
        mark: { type: 'line', color: '#c0392b', strokeWidth: 1.5, interpolate: 'linear' },
        encoding: { x: { field: 'kernel', type: 'quantitative', ...x }, y: { field: 'mib', type: 'quantitative' } },
      },
      {
        data: { values: [{ mib: picture.arenaBytes / MB }] },
        mark: { type: 'rule', color: '#333333', strokeDash: [4, 3] },
        encoding: { y: { field: 'mib', type: 'quantitative' } },
      },
    ],
  };
}

/** A line chart of some series of a run's log over one x field. */
export function curvesSpec(rows: readonly Record<string, number>[], x: string, series: readonly string[], yTitle: string): TopLevelSpec {
  const values = rows.flatMap((r) => series.filter((s) => typeof r[s] === 'number' && Number.isFinite(r[s])).map((s) => ({ [x]: r[x], series: s, value: r[s] })));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: 400,
    height: 200,
    data: { values },
    mark: { type: 'line', point: rows.length <= 40, strokeWidth: 1.5 },
    encoding: {
      x: { field: x, type: 'quantitative' },
      y: { field: 'value', type: 'quantitative', title: yTitle, scale: { zero: false } },
      color: { field: 'series', type: 'nominal', legend: series.length > 1 ? { orient: 'top', title: null } : null },
    },
  };
}

const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A self-contained HTML page: a title, a table of figures, and SVG sections. */
export function htmlPage(title: string, facts: readonly [string, string][], sections: readonly { readonly id: string; readonly title: string; readonly svg: string }[], layout: 'grid' | 'stack' = 'stack'): string {
  const rows = facts.map(([k, v]) => `<tr><th>${escape(k)}</th><td>${escape(v)}</td></tr>`).join('\n');
  const body = sections.map((s) => `<section id="${s.id}"><h2>${escape(s.title)}</h2>\n<div class="picture">${s.svg.replace(/^<\?xml[^>]*>\s*(<!DOCTYPE[^>]*>\s*)?/, '')}</div></section>`).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title>
<style>
body { font: 14px/1.4 Helvetica, Arial, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
table { border-collapse: collapse; } th, td { text-align: left; padding: 2px 12px 2px 0; } th { font-weight: normal; color: #666; }
.picture { overflow: auto; max-width: 100%; }
main.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(480px, 1fr)); column-gap: 24px; }
</style></head>
<body><h1>${escape(title)}</h1>
<table>${rows}</table>
<main class="${layout}">
${body}
</main>
</body></html>
`;
}
