// SentencePiece's compiled normalization rules (`precompiled_charsmap`), as
// XLM-R's and ALBERT's tokenizer.json carry them: a little-endian u32 giving
// the size in bytes of a double-array trie (darts-clone's layout) over UTF-8
// keys, the trie's u32 units, then NUL-terminated replacement strings that
// the trie's values point into.
//
// HuggingFace applies it grapheme by grapheme: a grapheme shorter than 6
// bytes is looked up whole, else (or when it has no rule) each of its
// characters is; a lookup takes the replacement of the key's shortest prefix
// that has one.

import { JsonFieldError } from '../../runtime/json-fields.js';
import type { Change, NormalizedText } from './normalized.js';

const utf8 = new TextEncoder();
const graphemes = new Intl.Segmenter('en', { granularity: 'grapheme' });

export class Precompiled {
  private readonly units: Uint32Array;
  private readonly replacements: Uint8Array;
  private readonly decoded = new Map<number, string>();

  constructor(charsmap: Uint8Array, path: string) {
    if (charsmap.length < 4) throw new JsonFieldError(path, 'is too short to hold a trie');
    const view = new DataView(charsmap.buffer, charsmap.byteOffset, charsmap.byteLength);
    const trieBytes = view.getUint32(0, true);
    if (trieBytes % 4 !== 0 || trieBytes === 0 || 4 + trieBytes > charsmap.length) {
      throw new JsonFieldError(path, `declares a trie of ${trieBytes} bytes in ${charsmap.length - 4}`);
    }
    this.units = new Uint32Array(trieBytes / 4);
    for (let i = 0; i < this.units.length; i++) this.units[i] = view.getUint32(4 + 4 * i, true);
    this.replacements = charsmap.subarray(4 + trieBytes);
  }

  private unit(i: number): number | undefined {
    return i < this.units.length ? this.units[i] : undefined;
  }

  /** The replacement of the shortest prefix of `key` that has one (a trie value out of the strings' range counts as none). */
  private lookup(key: Uint8Array): string | undefined {
    const offset = (u: number) => (u >>> 10) << ((u & (1 << 9)) >>> 6);
    let node = 0;
    let unit = this.unit(0);
    if (unit === undefined) return undefined;
    node ^= offset(unit);
    for (const byte of key) {
      if (byte === 0) break;
      node ^= byte;
      unit = this.unit(node);
      if (unit === undefined || (unit & ((1 << 31) | 0xff)) >>> 0 !== byte) return undefined;
      node ^= offset(unit);
      if ((unit >>> 8) & 1) {
        const leaf = this.unit(node);
        return leaf === undefined ? undefined : this.replacement(leaf & 0x7fffffff);
      }
    }
    return undefined;
  }

  private replacement(at: number): string | undefined {
    if (at >= this.replacements.length) return undefined;
    let text = this.decoded.get(at);
    if (text === undefined) {
      let end = at;
      while (end < this.replacements.length && this.replacements[end] !== 0) end++;
      text = new TextDecoder().decode(this.replacements.subarray(at, end));
      this.decoded.set(at, text);
    }
    return text;
  }

  normalize(s: NormalizedText): NormalizedText {
    const changes: Change[] = [];
    let modified = false;
    const replace = (old: string, by: string) => {
      modified = true;
      const added = [...by];
      const diff = added.length - [...old].length;
      for (const c of added) changes.push([c, 0]);
      // As HuggingFace: the last `diff` new characters are insertions, or the last change so far removes the surplus
      // (a change of an earlier grapheme when the replacement is empty).
      if (diff > 0) for (let k = changes.length - diff; k < changes.length; k++) changes[k] = [changes[k]![0], 1];
      else if (diff < 0 && changes.length) {
        const [c, n] = changes[changes.length - 1]!;
        changes[changes.length - 1] = [c, n + diff];
      }
    };
    for (const { segment } of graphemes.segment(s.text())) {
      const bytes = utf8.encode(segment);
      if (bytes.length < 6) {
        const whole = this.lookup(bytes);
        if (whole !== undefined) {
          replace(segment, whole);
          continue;
        }
      }
      for (const ch of segment) {
        const one = this.lookup(utf8.encode(ch));
        if (one !== undefined) replace(ch, one);
        else changes.push([ch, 0]);
      }
    }
    return modified ? s.transform(changes) : s;
  }
}
