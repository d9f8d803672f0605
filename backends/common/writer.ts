// A tiny writer for generated source: lines and indented blocks.

/**
 * Text from a program (a model's name, a kernel's label) made safe for a
 * one-line comment in C, JavaScript or WGSL: printable ASCII only, no
 * backslash (C continues a `//` comment past a line ending in one) and no
 * comment delimiters.
 */
export function commentText(text: string): string {
  return text.replace(/[^\x20-\x7e]|\\/g, '?').replace(/\*\/|\/\*/g, '??').slice(0, 200);
}

export class CodeWriter {
  private readonly lines: string[] = [];
  private depth = 0;

  line(text = ''): this {
    this.lines.push(text ? '  '.repeat(this.depth) + text : '');
    return this;
  }

  /** `open`, then the body one level deeper, then `close`. */
  block(open: string, body: () => void, close = '}'): this {
    this.line(open);
    this.depth++;
    body();
    this.depth--;
    return this.line(close);
  }

  toString(): string {
    return this.lines.join('\n') + '\n';
  }
}
