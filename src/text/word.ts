// Word-level tokenizer for classifiers: words (and single punctuation marks) from a corpus, most
// frequent first, with <pad> = 0 and <unk> = 1; encode pads or truncates to a fixed length, and
// encodeBatch gives an int32 tensor [N, L] for an Embedding layer.

import '../ops/tensor-methods.js';
import { DataError, ValueError, showValue } from '../errors.js';
import { nodeFs, nodePath } from './node-files.js';
import { tensor } from '../tensor/create.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Tokenizer } from './tokenizer.js';
import { fromFile } from './char.js';

/** The padding token, id 0. */
export const PAD = '<pad>';
/** The unknown-word token, id 1. */
export const UNK = '<unk>';
/** Id of <pad>. */
export const PAD_ID = 0;
/** Id of <unk>. */
export const UNK_ID = 1;

/** Letters/digits with inner apostrophes ("don't"), or one other non-space character. */
const WORD_RE = /[\p{L}\p{M}\p{N}]+(?:['’][\p{L}\p{M}\p{N}]+)*|[^\s\p{L}\p{M}\p{N}]/gu;

/** Options of WordTokenizer: whether to lowercase. */
export interface WordTokenizerOptions {
  /** Lowercase text before splitting (default true). */
  lowercase?: boolean;
}

/** Options of WordTokenizer.fromTexts: the tokenizer options plus vocabulary size and minimum frequency. */
export interface WordVocabOptions extends WordTokenizerOptions {
  /** The most tokens to keep, <pad> and <unk> included (default: all). */
  maxVocab?: number;
  /** Keep only words seen at least this many times (default 1). */
  minFreq?: number;
}

/** Options of WordTokenizer.encode: a fixed length, and where padding and truncation apply (Keras's pad_sequences). */
export interface WordEncodeOptions {
  /** Pad with <pad> or truncate to exactly this many ids. */
  length?: number;
  /** Where padding goes (default 'post'). */
  padding?: 'pre' | 'post';
  /** Which end truncation removes (default 'post': keep the first `length` words). */
  truncating?: 'pre' | 'post';
}

/** Word-level tokenizer with <pad> and <unk>, as Keras's Tokenizer: for text classification. */
export class WordTokenizer implements Tokenizer {
  readonly kind = 'word' as const;
  /** Whether text is lowercased before splitting. */
  readonly lowercase: boolean;
  /** vocab[id] is the word of id; vocab[0] = '<pad>', vocab[1] = '<unk>'. */
  readonly vocab: readonly string[];
  private readonly index = new Map<string, number>();

  /** A tokenizer over the given vocabulary (vocab[0] '<pad>', vocab[1] '<unk>'). */
  constructor(vocab: readonly string[], opts: WordTokenizerOptions = {}) {
    if (vocab[0] !== PAD || vocab[1] !== UNK) throw new ValueError('WordTokenizer', `the vocabulary must start with '${PAD}', '${UNK}'`);
    vocab.forEach((w, i) => {
      if (this.index.has(w)) throw new ValueError('WordTokenizer', `word ${showValue(w)} appears twice in the vocabulary`);
      this.index.set(w, i);
    });
    this.vocab = [...vocab];
    this.lowercase = opts.lowercase ?? true;
  }

  /** Builds the vocabulary from texts: most frequent first, ties in order of first appearance. */
  static fromCorpus(texts: string | readonly string[], opts: WordVocabOptions = {}): WordTokenizer {
    const lowercase = opts.lowercase ?? true;
    const minFreq = opts.minFreq ?? 1;
    const maxVocab = opts.maxVocab ?? Infinity;
    if (maxVocab < 2) throw new ValueError('WordTokenizer', `maxVocab must be at least 2 (<pad> and <unk>), got ${maxVocab}`);
    const counts = new Map<string, number>();
    for (const t of typeof texts === 'string' ? [texts] : texts) {
      for (const w of splitWords(t, lowercase)) counts.set(w, (counts.get(w) ?? 0) + 1);
    }
    counts.delete(PAD);
    counts.delete(UNK);
    const order = new Map([...counts.keys()].map((w, i) => [w, i]));
    const words = [...counts]
      .filter(([, c]) => c >= minFreq)
      .sort((x, y) => y[1] - x[1] || order.get(x[0])! - order.get(y[0])!)
      .slice(0, maxVocab - 2)
      .map(([w]) => w);
    return new WordTokenizer([PAD, UNK, ...words], { lowercase });
  }

  /** A WordTokenizer from a folder's (or a file's) tokenizer.json. */
  static load(dirOrFile: string): WordTokenizer {
    const file = dirOrFile.endsWith('.json') ? dirOrFile : nodePath().join(dirOrFile, 'tokenizer.json');
    let obj: { type?: unknown; vocab?: unknown; lowercase?: unknown };
    try {
      obj = JSON.parse(nodeFs().readFileSync(file, 'utf8')) as typeof obj;
    } catch (e) {
      throw new DataError('tokenizer', `cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`);
    }
    return WordTokenizer.fromJSON(obj, file);
  }

  /** A WordTokenizer from its tokenizer.json object; `name` goes into errors. */
  static fromJSON(obj: { type?: unknown; vocab?: unknown; lowercase?: unknown }, name = 'tokenizer.json'): WordTokenizer {
    if (obj.type !== 'word' || !Array.isArray(obj.vocab) || !obj.vocab.every((w) => typeof w === 'string')) {
      throw new DataError('tokenizer', `${name}: expected {"type": "word", "vocab": [...], "lowercase": true|false}`);
    }
    return fromFile(name, () => new WordTokenizer(obj.vocab as string[], { lowercase: obj.lowercase !== false }));
  }

  get vocabSize(): number {
    return this.vocab.length;
  }

  /** The words of a text, as this tokenizer splits (and lowercases) them. */
  split(text: string): string[] {
    return splitWords(text, this.lowercase);
  }

  /** Ids of the words of the text (unknown words as <unk>), padded or truncated to opts.length. */
  encode(text: string, opts: WordEncodeOptions = {}): number[] {
    let ids = this.split(text).map((w) => this.index.get(w) ?? UNK_ID);
    const L = opts.length;
    if (L === undefined) return ids;
    if (!Number.isInteger(L) || L < 0) throw new ValueError('WordTokenizer.encode', `length must be a non-negative integer, got ${L}`);
    if (ids.length > L) ids = opts.truncating === 'pre' ? ids.slice(ids.length - L) : ids.slice(0, L);
    if (ids.length < L) {
      const pad = new Array<number>(L - ids.length).fill(PAD_ID);
      ids = opts.padding === 'pre' ? [...pad, ...ids] : [...ids, ...pad];
    }
    return ids;
  }

  /** Encodes each text to exactly `length` ids: an int32 tensor [N, length]. */
  encodeBatch(texts: readonly string[], length: number, opts: Omit<WordEncodeOptions, 'length'> = {}): Tensor {
    const out = new Int32Array(texts.length * length);
    texts.forEach((t, i) => out.set(this.encode(t, { ...opts, length }), i * length));
    return tensor(out, { shape: [texts.length, length] });
  }

  /** The words of some ids joined by spaces; <pad> is left out. */
  decode(ids: ArrayLike<number>): string {
    const words: string[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      const w = this.vocab[id];
      if (w === undefined) throw new ValueError('WordTokenizer.decode', `unknown token id ${id} (vocabulary size ${this.vocabSize})`);
      if (id !== PAD_ID) words.push(w);
    }
    return words.join(' ');
  }

  /** The tokenizer.json object: the vocabulary and the lowercase flag. */
  toJSON(): {
    /** Which tokenizer: 'word'. */
    type: 'word';
    /** Whether text is lowercased before splitting. */
    lowercase: boolean;
    /** vocab[id] is the word of id. */
    vocab: string[];
  } {
    return { type: 'word', lowercase: this.lowercase, vocab: [...this.vocab] };
  }

  save(dir: string): void {
    nodeFs().mkdirSync(dir, { recursive: true });
    nodeFs().writeFileSync(nodePath().join(dir, 'tokenizer.json'), JSON.stringify(this.toJSON()) + '\n');
  }
}

function splitWords(text: string, lowercase: boolean): string[] {
  return (lowercase ? text.toLowerCase() : text).match(WORD_RE) ?? [];
}
