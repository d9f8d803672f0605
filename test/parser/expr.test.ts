import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { evaluate, ExprError, exprNames, parseExpr } from '../../compiler/parser/expr.js';

const env: Record<string, number | string> = { hidden_size: 768, num_attention_heads: 12, act: 'gelu' };
const run = (text: string) => evaluate(parseExpr(text), (n) => env[n]);

describe('spec expressions', () => {
  it.each([
    ['hidden_size / num_attention_heads', 64],
    ['1 / sqrt(hidden_size / num_attention_heads)', 0.125],
    ['hidden_size % num_attention_heads == 0', true],
    ['2 + 3 * 4 - 1', 13],
    ['(2 + 3) * 4', 20],
    ['2 ** 3 ** 2', 512],
    ['-2 ** 2', -4],
    ['7 // 2', 3],
    ['10 - 4 - 3', 3],
    ["act == 'gelu' && hidden_size > 100", true],
    ['!(1 < 2) || max(3, 4) >= 4', true],
    ['1.5e-3 * 2', 0.003],
  ])('%s = %j', (text, value) => {
    expect(run(text)).toEqual(value);
  });

  it('names the identifiers an expression reads', () => {
    expect(exprNames(parseExpr('seq <= max_position_embeddings || x'))).toEqual(['seq', 'max_position_embeddings', 'x']);
  });

  it.each([
    ['hidden_size +', 'ends too early'],
    ['(1 + 2', "expected ')'"],
    ['1 $ 2', "unexpected character '$'"],
    ['missing * 2', "unknown name 'missing'"],
    ['nope(2)', "unknown function 'nope'"],
    ["act * 2", "'*' needs numbers"],
  ])('rejects %j', (text, message) => {
    expect(() => run(text)).toThrow(message);
  });

  it('fails only with ExprError on any input', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 30 }), (text) => {
        try {
          run(text);
        } catch (e) {
          if (!(e instanceof ExprError)) throw e;
        }
      }),
      { numRuns: 3000 },
    );
  });
});
