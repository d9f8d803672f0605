// Diagnostics: every input error carries the file, line and column of the
// offending source, and the CLI prints them as a compiler does:
//
//   models/x.yaml:12:16: error: unknown op 'lienar'; did you mean 'linear'?
//      12 |     q: {op: lienar, in: x}
//         |             ^^^^^^

export interface SourceLoc {
  readonly file: string;
  /** 1-based. */
  readonly line: number;
  /** 1-based. */
  readonly col: number;
  readonly endLine: number;
  readonly endCol: number;
}

export interface Note {
  readonly loc?: SourceLoc;
  readonly message: string;
}

export interface Diagnostic {
  readonly loc?: SourceLoc;
  readonly message: string;
  readonly notes?: readonly Note[];
}

/** Input errors: the CLI prints them all and exits with code 2. */
export class CompileError extends Error {
  override name = 'CompileError';
  constructor(
    readonly diagnostics: readonly Diagnostic[],
    readonly sources: ReadonlyMap<string, string> = new Map(),
  ) {
    super(diagnostics.map((d) => formatHeadline(d)).join('\n'));
  }
}

/** Collects diagnostics while work goes on, so that one run reports every error it finds. */
export class DiagnosticBag {
  readonly items: Diagnostic[] = [];
  error(loc: SourceLoc | undefined, message: string, notes?: readonly Note[]): void {
    this.items.push({ loc, message, ...(notes?.length ? { notes } : {}) });
  }
  get size(): number {
    return this.items.length;
  }
}

function position(loc: SourceLoc | undefined): string {
  return loc ? `${loc.file}:${loc.line}:${loc.col}: ` : '';
}

export function formatHeadline(d: Diagnostic): string {
  return `${position(d.loc)}error: ${d.message}`;
}

/** Characters of a source line shown around an error's column: a minified JSON file is one line of megabytes. */
const EXCERPT_WIDTH = 100;

/** The source line of a location with a caret under its span; a long line is cut to a window around the column. */
function excerpt(loc: SourceLoc, sources: ReadonlyMap<string, string>): string[] {
  const text = sources.get(loc.file);
  if (text === undefined) return [];
  const line = lineAt(text, loc.line)?.replace(/\r$/, '');
  if (line === undefined) return [];
  const gutter = String(loc.line).length;
  const end = loc.endLine === loc.line ? Math.max(loc.endCol, loc.col + 1) : line.length + 1;
  const from = Math.max(0, Math.min(loc.col - 1 - 20, line.length - EXCERPT_WIDTH));
  const to = Math.min(line.length, from + EXCERPT_WIDTH);
  const shown = `${from > 0 ? '…' : ''}${line.slice(from, to)}${to < line.length ? '…' : ''}`;
  const start = loc.col - 1 - from + (from > 0 ? 1 : 0);
  const width = Math.max(1, Math.min(end - loc.col, to - (loc.col - 1)));
  const caret = ' '.repeat(Math.max(0, start)) + '^'.repeat(width);
  return [` ${loc.line} | ${shown}`, ` ${' '.repeat(gutter)} | ${caret}`];
}

/** Line `n` (1-based) of a text, found without splitting the whole text. */
function lineAt(text: string, n: number): string | undefined {
  let start = 0;
  for (let i = 1; i < n; i++) {
    const next = text.indexOf('\n', start);
    if (next < 0) return undefined;
    start = next + 1;
  }
  const end = text.indexOf('\n', start);
  return text.slice(start, end < 0 ? text.length : end);
}
export function formatDiagnostic(d: Diagnostic, sources: ReadonlyMap<string, string>): string {
  const lines = [formatHeadline(d)];
  if (d.loc) lines.push(...excerpt(d.loc, sources));
  for (const note of d.notes ?? []) lines.push(`${position(note.loc)}note: ${note.message}`);
  return lines.join('\n');
}

/** Edit distance, for "did you mean" suggestions. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}

/** "; did you mean 'x'?" when a known name is close to the unknown one, else "". */
export function didYouMean(name: string, known: Iterable<string>, maxDistance = Math.max(2, Math.floor(name.length / 3))): string {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best !== undefined && bestDistance <= maxDistance ? `; did you mean '${best}'?` : '';
}
