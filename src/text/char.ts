// Character-level tokenizer, as nanoGPT's shakespeare_char: the vocabulary is the sorted set of the
// corpus's characters (code points, sorted by code point), and a character's id is its index.

import { DataError, ValueError, showValue } from '../errors.js';
import { nodeFs, nodePath } from './node-files.js';
import type { Tokenizer } from './tokenizer.js';

function describe(ch: string): string {
  return `${JSON.stringify(ch)} (U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')})`;
}

/** Builds a tokenizer from a file's contents: a vocabulary the constructor refuses is a DataError naming the file. */
export function fromFile<T>(file: string, build: () => T): T {
  try {
    return build();
  } catch (e) {
    if (e instanceof ValueError) throw new DataError('tokenizer', `${file}: ${e.message}`);
    throw e;
  }
}

/** Character-level tokenizer: one id per distinct character of the corpus (Karpathy's char-rnn). */
export class CharTokenizer implements Tokenizer {
  readonly kind = 'char' as const;
  /** The vocabulary: chars[id] is the character of id. */
  readonly chars: readonly string[];
  private readonly index = new Map<string, number>();

  /** A tokenizer over the given characters (id = position). */
  constructor(chars: readonly string[]) {
    chars.forEach((c, i) => {
      if ([...c].length !== 1) throw new ValueError('CharTokenizer', `vocabulary entry ${i} is not one character: ${showValue(c)}`);
      if (this.index.has(c)) throw new ValueError('CharTokenizer', `character ${describe(c)} appears twice in the vocabulary`);
      this.index.set(c, i);
    });
    this.chars = [...chars];
  }

  /** The tokenizer of a corpus: its unique characters sorted by code point. */
  static fromCorpus(text: string): CharTokenizer {
    const set = new Set<string>(text); // iterates by code point
    const chars = [...set].sort((x, y) => x.codePointAt(0)! - y.codePointAt(0)!);
    return new CharTokenizer(chars);
  }

  /** Reads what save() wrote: dir/tokenizer.json, or a tokenizer.json path. */
  static load(dirOrFile: string): CharTokenizer {
    const file = dirOrFile.endsWith('.json') ? dirOrFile : nodePath().join(dirOrFile, 'tokenizer.json');
    let obj: { type?: unknown; chars?: unknown };
    try {
      obj = JSON.parse(nodeFs().readFileSync(file, 'utf8')) as typeof obj;
    } catch (e) {
      throw new DataError('tokenizer', `cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`);
    }
    return CharTokenizer.fromJSON(obj, file);
  }

  /** A CharTokenizer from its tokenizer.json object; `name` goes into errors. */
  static fromJSON(obj: { type?: unknown; chars?: unknown }, name = 'tokenizer.json'): CharTokenizer {
    if (obj.type !== 'char' || !Array.isArray(obj.chars) || !obj.chars.every((c) => typeof c === 'string')) {
      throw new DataError('tokenizer', `${name}: expected {"type": "char", "chars": [...]}`);
    }
    return fromFile(name, () => new CharTokenizer(obj.chars as string[]));
  }

  get vocabSize(): number {
    return this.chars.length;
  }

  /** Ids of each character of the text; an unknown character throws. */
  encode(text: string): number[] {
    const out: number[] = [];
    for (const ch of text) {
      const id = this.index.get(ch);
      if (id === undefined) throw new ValueError('CharTokenizer.encode', `character ${describe(ch)} is not in the vocabulary`);
      out.push(id);
    }
    return out;
  }

  /** The text of a sequence of ids. */
  decode(ids: ArrayLike<number>): string {
    let s = '';
    for (let i = 0; i < ids.length; i++) {
      const c = this.chars[ids[i]!];
      if (c === undefined) throw new ValueError('CharTokenizer.decode', `unknown token id ${ids[i]} (vocabulary size ${this.vocabSize})`);
      s += c;
    }
    return s;
  }

  /** The tokenizer.json object: the character list. */
  toJSON(): {
    /** Which tokenizer: 'char'. */
    type: 'char';
    /** The vocabulary: chars[id] is the character of id. */
    chars: string[];
  } {
    return { type: 'char', chars: [...this.chars] };
  }

  save(dir: string): void {
    nodeFs().mkdirSync(dir, { recursive: true });
    nodeFs().writeFileSync(nodePath().join(dir, 'tokenizer.json'), JSON.stringify(this.toJSON()) + '\n');
  }

  /**
   * The tokenizer as a Hugging Face `tokenizers` tokenizer.json (what a Hugging Face model folder holds):
   * a WordLevel model whose words are the characters, a pre-tokenizer that splits off every character,
   * and a Fuse decoder that joins them back without spaces.
   */
  toHuggingFaceJSON(): Record<string, unknown> {
    return {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: [],
      normalizer: null,
      pre_tokenizer: { type: 'Split', pattern: { Regex: '(?s).' }, behavior: 'Isolated', invert: false },
      post_processor: null,
      decoder: { type: 'Fuse' },
      model: { type: 'WordLevel', vocab: Object.fromEntries(this.chars.map((c, i) => [c, i])), unk_token: '<unk>' },
    };
  }

  /** True when a parsed tokenizer.json is a Hugging Face one that toHuggingFaceJSON could have written. */
  static isHuggingFaceCharJSON(obj: Record<string, unknown>): boolean {
    const model = obj['model'] as { type?: unknown; vocab?: unknown } | undefined;
    const pre = obj['pre_tokenizer'] as { type?: unknown; pattern?: { Regex?: unknown } } | undefined;
    return (
      model?.type === 'WordLevel' &&
      typeof model.vocab === 'object' &&
      model.vocab !== null &&
      pre?.type === 'Split' &&
      pre.pattern?.Regex === '(?s).'
    );
  }

  /** Reads a Hugging Face tokenizer.json written by toHuggingFaceJSON (ids must be 0..n-1). */
  static fromHuggingFaceJSON(obj: Record<string, unknown>, name = 'tokenizer.json'): CharTokenizer {
    if (!CharTokenizer.isHuggingFaceCharJSON(obj))
      throw new DataError('tokenizer', `${name}: not a character-level tokenizer (a WordLevel model split by character)`);
    const vocab = (obj['model'] as { vocab: Record<string, unknown> }).vocab;
    const chars: string[] = [];
    for (const [c, id] of Object.entries(vocab)) {
      if (!Number.isInteger(id) || (id as number) < 0 || (id as number) >= Object.keys(vocab).length || chars[id as number] !== undefined) {
        throw new DataError(
          'tokenizer',
          `${name}: the ids of model.vocab must be 0..${Object.keys(vocab).length - 1}, each once; ${showValue(c)} has ${showValue(id)}`,
        );
      }
      chars[id as number] = c;
    }
    return fromFile(name, () => new CharTokenizer(chars));
  }
}
