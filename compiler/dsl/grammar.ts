// The tcc text DSL: tokens and grammar (chevrotain), producing a concrete
// syntax tree that `document.ts` turns into the same located document a
// YAML spec parses into. The language, by example:
//
//   import "lib/bert.tcc"                      // a base, as YAML's extends
//   block pooler(x) with (width: int = 2) {   // inputs, then typed parameters
//     description "dense + tanh on [CLS]"
//     let first = select(x, axis: 1, index: 0)
//     let dense = linear(first, name: "dense", out: hidden_size / 2)
//     return dense
//   }
//   model bert extends "lib/bert.tcc" {
//     config { hidden_size = 768  hidden_act = gelu }
//     require hidden_size % num_attention_heads == 0 : "must divide"
//     input input_ids: i32[batch, seq]
//     body scope "bert" {
//       let encoded = repeat num_hidden_layers { post_ln_layer(x, mask) @ "encoder.layer.{i}" }
//       output last_hidden_state = encoded
//     }
//     head mlm = mlm_head(last_hidden_state) @ "cls.predictions" -> { prediction_logits: logits }
//     training { loss mlm_loss = cross_entropy(prediction_logits, labels) }
//   }
//
// Values are numbers, "strings", [lists], null (delete an inherited entry)
// or expressions over config values written bare (hidden_size / heads).

import type * as Chevrotain from 'chevrotain';
import type { CstNode, Lexer as LexerType, CstParser as CstParserType } from 'chevrotain';

/** Words the language reserves (they still serve as names of config values, attributes and steps). */
export const KEYWORDS = ['import', 'model', 'block', 'extends', 'with', 'description', 'config', 'require', 'input', 'body', 'scope', 'output', 'heads', 'head', 'training', 'loss', 'metric', 'optimizer', 'let', 'repeat', 'return', 'null', 'true', 'false'] as const;
export const KEYWORD_NAMES: ReadonlySet<string> = new Set(KEYWORDS);

export interface DslGrammar {
  readonly lexer: LexerType;
  readonly parser: CstParserType & { file(): CstNode; expr(): CstNode };
}

/** Builds the lexer and parser on a loaded chevrotain (see runtime.ts: the library loads once, on demand). */
export function createGrammar(chevrotain: typeof Chevrotain): DslGrammar {
  const { createToken, CstParser, Lexer } = chevrotain;
  type TokenType = Chevrotain.TokenType;
  const Name = createToken({ name: 'Name', pattern: Lexer.NA, label: 'a name' });
  const WhiteSpace = createToken({ name: 'WhiteSpace', pattern: /[ \t\r\n]+/, group: Lexer.SKIPPED });
  const LineComment = createToken({ name: 'LineComment', pattern: /\/\/[^\n\r]*/, group: 'comments' });
  const BlockComment = createToken({ name: 'BlockComment', pattern: /\/\*[\s\S]*?\*\//, group: 'comments', line_breaks: true });
  const Identifier = createToken({ name: 'Identifier', pattern: /[A-Za-z_][A-Za-z0-9_]*/, categories: [Name], label: 'a name' });

  const keyword = (word: (typeof KEYWORDS)[number]) => createToken({ name: word[0]!.toUpperCase() + word.slice(1), label: `'${word}'`, pattern: new RegExp(`${word}\\b`), longer_alt: Identifier, categories: [Name] });
  const Import = keyword('import');
  const Model = keyword('model');
  const Block = keyword('block');
  const Extends = keyword('extends');
  const With = keyword('with');
  const Description = keyword('description');
  const Config = keyword('config');
  const Require = keyword('require');
  const Input = keyword('input');
  const Body = keyword('body');
  const Scope = keyword('scope');
  const Output = keyword('output');
  const Heads = keyword('heads');
  const Head = keyword('head');
  const Training = keyword('training');
  const Loss = keyword('loss');
  const Metric = keyword('metric');
  const Optimizer = keyword('optimizer');
  const Let = keyword('let');
  const Repeat = keyword('repeat');
  const Return = keyword('return');
  const Null = keyword('null');
  const True = keyword('true');
  const False = keyword('false');

  const StringLiteral = createToken({ name: 'StringLiteral', pattern: /"(?:[^"\\\n\r]|\\.)*"/, label: 'a string' });
  const ExprString = createToken({ name: 'ExprString', pattern: /'[^'\n\r]*'/, label: "a 'string'" });
  const NumberLiteral = createToken({ name: 'NumberLiteral', pattern: /(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?/, label: 'a number' });

  const LBrace = createToken({ name: 'LBrace', pattern: /\{/, label: "'{'" });
  const RBrace = createToken({ name: 'RBrace', pattern: /\}/, label: "'}'" });
  const LParen = createToken({ name: 'LParen', pattern: /\(/, label: "'('" });
  const RParen = createToken({ name: 'RParen', pattern: /\)/, label: "')'" });
  const LBracket = createToken({ name: 'LBracket', pattern: /\[/, label: "'['" });
  const RBracket = createToken({ name: 'RBracket', pattern: /\]/, label: "']'" });
  const Comma = createToken({ name: 'Comma', pattern: /,/, label: "','" });
  const Colon = createToken({ name: 'Colon', pattern: /:/, label: "':'" });
  const Arrow = createToken({ name: 'Arrow', pattern: /->/, label: "'->'" });
  const At = createToken({ name: 'At', pattern: /@/, label: "'@'" });
  /** Binary operators of expressions (longest first where one is a prefix of another). */
  const BinaryOp = createToken({ name: 'BinaryOp', pattern: Lexer.NA });
  const op = (name: string, pattern: RegExp, label: string) => createToken({ name, pattern, label, categories: [BinaryOp] });
  const Power = op('Power', /\*\*/, "'**'");
  const EqEq = op('EqEq', /==/, "'=='");
  const NotEq = op('NotEq', /!=/, "'!='");
  const LessEq = op('LessEq', /<=/, "'<='");
  const GreaterEq = op('GreaterEq', />=/, "'>='");
  const AndAnd = op('AndAnd', /&&/, "'&&'");
  const OrOr = op('OrOr', /\|\|/, "'||'");
  const Minus = op('Minus', /-/, "'-'");
  const Plus = op('Plus', /\+/, "'+'");
  const Times = op('Times', /\*/, "'*'");
  const Divide = op('Divide', /\//, "'/'");
  const Modulo = op('Modulo', /%/, "'%'");
  const Less = op('Less', /</, "'<'");
  const Greater = op('Greater', />/, "'>'");
  const Bang = createToken({ name: 'Bang', pattern: /!/, label: "'!'" });
  const Equals = createToken({ name: 'Equals', pattern: /=/, label: "'='" });

  const KEYWORD_TOKENS = [Import, Model, Block, Extends, With, Description, Config, Require, Input, Body, Scope, Output, Heads, Head, Training, Loss, Metric, Optimizer, Let, Repeat, Return, Null, True, False];

  const ALL_TOKENS: TokenType[] = [
    WhiteSpace, LineComment, BlockComment,
    ...KEYWORD_TOKENS, Identifier, Name,
    StringLiteral, ExprString, NumberLiteral,
    LBrace, RBrace, LParen, RParen, LBracket, RBracket, Comma, Colon, Arrow, At,
    Power, EqEq, NotEq, LessEq, GreaterEq, AndAnd, OrOr, Minus, Plus, Times, Divide, Modulo, Less, Greater, BinaryOp,
    Bang, Equals,
  ];

  const dslLexer = new Lexer(ALL_TOKENS, { positionTracking: 'full', ensureOptimizations: false });


  class DslParser extends CstParser {
    constructor() {
      super(ALL_TOKENS, { recoveryEnabled: true, maxLookahead: 3, nodeLocationTracking: 'full' });
      this.performSelfAnalysis();
    }

    file = this.RULE('file', () => {
      this.MANY(() => this.OR([
        { ALT: () => this.SUBRULE(this.importDecl) },
        { ALT: () => this.SUBRULE(this.blockDecl) },
        { ALT: () => this.SUBRULE(this.modelDecl) },
      ]));
    });

    importDecl = this.RULE('importDecl', () => {
      this.CONSUME(Import);
      this.CONSUME(StringLiteral);
    });

    // ---- blocks ----
    blockDecl = this.RULE('blockDecl', () => {
      this.CONSUME(Block);
      this.CONSUME(Name, { LABEL: 'name' });
      this.OR([
        { ALT: () => {
          this.CONSUME(Equals);
          this.CONSUME(Null);
        } },
        { ALT: () => {
          this.CONSUME(LParen);
          this.MANY_SEP({ SEP: Comma, DEF: () => this.CONSUME2(Name, { LABEL: 'inputs' }) });
          this.CONSUME(RParen);
          this.OPTION(() => {
            this.CONSUME(With);
            this.CONSUME2(LParen);
            this.MANY_SEP2({ SEP: Comma, DEF: () => this.SUBRULE(this.paramDecl) });
            this.CONSUME2(RParen);
          });
          this.CONSUME(LBrace);
          this.OPTION2(() => this.SUBRULE(this.description));
          this.OPTION3(() => this.SUBRULE(this.configDecl));
          this.MANY(() => this.SUBRULE(this.letStmt));
          this.CONSUME(Return);
          this.AT_LEAST_ONE_SEP({ SEP: Comma, DEF: () => this.CONSUME3(Name, { LABEL: 'outputs' }) });
          this.CONSUME(RBrace);
        } },
      ]);
    });

    paramDecl = this.RULE('paramDecl', () => {
      this.CONSUME(Name, { LABEL: 'name' });
      this.CONSUME(Colon);
      this.CONSUME2(Name, { LABEL: 'type' });
      this.CONSUME(Equals);
      this.SUBRULE(this.value);
    });

    description = this.RULE('description', () => {
      this.CONSUME(Description);
      this.CONSUME(StringLiteral);
    });

    letStmt = this.RULE('letStmt', () => {
      this.CONSUME(Let);
      this.CONSUME(Name, { LABEL: 'name' });
      this.CONSUME(Equals);
      this.SUBRULE(this.stepOrNull);
    });

    stepOrNull = this.RULE('stepOrNull', () => {
      this.OR([
        { ALT: () => this.CONSUME(Null) },
        { ALT: () => this.SUBRULE(this.repeat) },
        { ALT: () => this.SUBRULE(this.call) },
      ]);
    });

    /** callee(inputs, attr: value, ...) @ "scope" */
    call = this.RULE('call', () => {
      this.OR([
        { ALT: () => this.CONSUME(Identifier, { LABEL: 'callee' }) },
        { ALT: () => this.CONSUME(StringLiteral, { LABEL: 'callee' }) },
      ]);
      this.CONSUME(LParen);
      this.MANY_SEP({ SEP: Comma, DEF: () => this.SUBRULE(this.argument) });
      this.CONSUME(RParen);
      this.OPTION(() => {
        this.CONSUME(At);
        this.CONSUME2(StringLiteral, { LABEL: 'scope' });
      });
    });

    argument = this.RULE('argument', () => {
      this.CONSUME(Name, { LABEL: 'name' });
      this.OPTION(() => {
        this.CONSUME(Colon);
        this.SUBRULE(this.value);
      });
    });

    /** repeat COUNT { block(inputs, ...) @ "scope.{i}" } */
    repeat = this.RULE('repeat', () => {
      this.CONSUME(Repeat);
      this.SUBRULE(this.value, { LABEL: 'count' });
      this.CONSUME(LBrace);
      this.SUBRULE(this.call);
      this.CONSUME(RBrace);
    });

    // ---- the model ----
    modelDecl = this.RULE('modelDecl', () => {
      this.CONSUME(Model);
      this.OR1([
        { ALT: () => this.CONSUME(Name, { LABEL: 'name' }) },
        { ALT: () => this.CONSUME3(StringLiteral, { LABEL: 'name' }) },
      ]);
      this.OPTION(() => {
        this.CONSUME(Extends);
        this.AT_LEAST_ONE_SEP({ SEP: Comma, DEF: () => this.CONSUME(StringLiteral, { LABEL: 'bases' }) });
      });
      this.CONSUME(LBrace);
      this.MANY(() => this.OR([
        { ALT: () => this.SUBRULE(this.description) },
        { ALT: () => this.SUBRULE(this.configDecl) },
        { ALT: () => this.SUBRULE(this.requireDecl) },
        { ALT: () => this.SUBRULE(this.inputDecl) },
        { ALT: () => this.SUBRULE(this.bodyDecl) },
        { ALT: () => this.SUBRULE(this.headsNull) },
        { ALT: () => this.SUBRULE(this.headDecl) },
        { ALT: () => this.SUBRULE(this.trainingDecl) },
      ]));
      this.CONSUME(RBrace);
    });

    /** config { key = value ... } and optimizer { ... } */
    settings = this.RULE('settings', () => {
      this.CONSUME(LBrace);
      this.MANY(() => {
        this.CONSUME(Name, { LABEL: 'key' });
        this.CONSUME(Equals);
        this.SUBRULE(this.value);
      });
      this.CONSUME(RBrace);
    });

    configDecl = this.RULE('configDecl', () => {
      this.CONSUME(Config);
      this.SUBRULE(this.settings);
    });

    requireDecl = this.RULE('requireDecl', () => {
      this.CONSUME(Require);
      this.SUBRULE(this.expr);
      this.CONSUME(Colon);
      this.CONSUME(StringLiteral);
    });

    /** input name: i32[batch, seq], or input name = null */
    inputDecl = this.RULE('inputDecl', () => {
      this.CONSUME(Input);
      this.CONSUME(Name, { LABEL: 'name' });
      this.OR([
        { ALT: () => {
          this.CONSUME(Equals);
          this.CONSUME(Null);
        } },
        { ALT: () => {
          this.CONSUME(Colon);
          this.CONSUME2(Name, { LABEL: 'dtype' });
          this.CONSUME(LBracket);
          this.MANY_SEP({ SEP: Comma, DEF: () => this.SUBRULE(this.value, { LABEL: 'dims' }) });
          this.CONSUME(RBracket);
        } },
      ]);
    });

    bodyDecl = this.RULE('bodyDecl', () => {
      this.CONSUME(Body);
      this.OPTION(() => {
        this.CONSUME(Scope);
        this.CONSUME(StringLiteral, { LABEL: 'scope' });
      });
      this.CONSUME(LBrace);
      this.MANY(() => this.OR([
        { ALT: () => this.SUBRULE(this.letStmt) },
        { ALT: () => this.SUBRULE(this.outputStmt) },
      ]));
      this.CONSUME(RBrace);
    });

    outputStmt = this.RULE('outputStmt', () => {
      this.CONSUME(Output);
      this.CONSUME(Name, { LABEL: 'name' });
      this.CONSUME(Equals);
      // A value's name, or null (the keyword is a Name too) to delete an inherited output.
      this.CONSUME2(Name, { LABEL: 'ref' });
    });

    headsNull = this.RULE('headsNull', () => {
      this.CONSUME(Heads);
      this.CONSUME(Equals);
      this.CONSUME(Null);
    });

    /** head name = call -> { output: value, ... }, or head name = null */
    headDecl = this.RULE('headDecl', () => {
      this.CONSUME(Head);
      this.CONSUME(Name, { LABEL: 'name' });
      this.CONSUME(Equals);
      this.OR([
        { ALT: () => this.CONSUME(Null) },
        { ALT: () => {
          this.SUBRULE(this.call);
          this.OPTION(() => {
            this.CONSUME(Arrow);
            this.CONSUME(LBrace);
            this.MANY_SEP({ SEP: Comma, DEF: () => {
              this.CONSUME2(Name, { LABEL: 'exported' });
              this.CONSUME(Colon);
              this.CONSUME3(Name, { LABEL: 'local' });
            } });
            this.CONSUME(RBrace);
          });
        } },
      ]);
    });

    trainingDecl = this.RULE('trainingDecl', () => {
      this.CONSUME(Training);
      this.OR([
        { ALT: () => {
          this.CONSUME(Equals);
          this.CONSUME(Null);
        } },
        { ALT: () => {
          this.CONSUME(LBrace);
          this.MANY(() => this.OR2([
            { ALT: () => this.SUBRULE(this.inputDecl) },
            { ALT: () => this.SUBRULE(this.lossDecl) },
            { ALT: () => this.SUBRULE(this.metricDecl) },
            { ALT: () => {
              this.CONSUME(Optimizer);
              this.SUBRULE(this.settings);
            } },
          ]));
          this.CONSUME(RBrace);
        } },
      ]);
    });

    lossDecl = this.RULE('lossDecl', () => {
      this.CONSUME(Loss);
      this.CONSUME(Name, { LABEL: 'name' });
      this.CONSUME(Equals);
      this.SUBRULE(this.stepOrNull);
    });

    metricDecl = this.RULE('metricDecl', () => {
      this.CONSUME(Metric);
      this.CONSUME(Name, { LABEL: 'name' });
      this.CONSUME(Equals);
      this.SUBRULE(this.stepOrNull);
    });

    // ---- values ----
    value = this.RULE('value', () => {
      this.OR([
        { ALT: () => this.CONSUME(Null) },
        { ALT: () => this.CONSUME(StringLiteral) },
        { ALT: () => {
          this.CONSUME(LBracket);
          this.MANY_SEP({ SEP: Comma, DEF: () => this.SUBRULE(this.value, { LABEL: 'items' }) });
          this.CONSUME(RBracket);
        } },
        { ALT: () => this.SUBRULE(this.expr) },
      ]);
    });

    /** unary (op unary)*: kept flat; the spec's expression parser gives it precedence. */
    expr = this.RULE('expr', () => {
      this.SUBRULE(this.unary, { LABEL: 'operands' });
      this.MANY(() => {
        this.CONSUME(BinaryOp, { LABEL: 'operators' });
        this.SUBRULE2(this.unary, { LABEL: 'operands' });
      });
    });

    unary = this.RULE('unary', () => {
      this.MANY(() => this.OR([
        { ALT: () => this.CONSUME(Minus, { LABEL: 'prefix' }) },
        { ALT: () => this.CONSUME(Bang, { LABEL: 'prefix' }) },
      ]));
      this.SUBRULE(this.primary);
    });

    primary = this.RULE('primary', () => {
      this.OR([
        { ALT: () => this.CONSUME(NumberLiteral) },
        { ALT: () => this.CONSUME(ExprString) },
        { ALT: () => this.CONSUME(True) },
        { ALT: () => this.CONSUME(False) },
        { ALT: () => {
          this.CONSUME(Identifier);
          this.OPTION(() => {
            this.CONSUME(LParen);
            this.MANY_SEP({ SEP: Comma, DEF: () => this.SUBRULE(this.expr, { LABEL: 'args' }) });
            this.CONSUME(RParen);
          });
        } },
        { ALT: () => {
          this.CONSUME2(LParen, { LABEL: 'open' });
          this.SUBRULE2(this.expr, { LABEL: 'inner' });
          this.CONSUME2(RParen, { LABEL: 'close' });
        } },
      ]);
    });
  }

  return { lexer: dslLexer, parser: new DslParser() };
}
