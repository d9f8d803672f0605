// A tiny writer for generated source: lines and indented blocks.

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
