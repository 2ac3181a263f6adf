// GPT-2's byte-level BPE tokenizer, loaded from encoder.json (token string -> id) and vocab.bpe (the
// merges, best first). Gives GPT-2's ids exactly: text is pre-tokenized with GPT-2's regex, each piece
// is turned into its UTF-8 bytes (one symbol per byte, through bytes_to_unicode), and the lowest-ranked
// adjacent pair is merged everywhere in the piece, left to right, until no pair has a rank — as in
// OpenAI's encoder.py. A per-piece cache makes repeated words free; the merge loop works on an Int32Array
// of symbol ids with a hash table of pairs, so it allocates nothing per character.

import { DataError, ValueError, showValue } from '../errors.js';
import { nodeFs, nodePath } from './node-files.js';
import { BYTE_TO_CHAR, bytesToTokenString, decodeUtf8, tokenStringToBytes, utf8Into } from './bytes.js';
import { gpt2Regex } from './pretokenize.js';
import type { Tokenizer } from './tokenizer.js';

/** Which special tokens encode() turns into their ids; any other occurrence is plain text. */
export type AllowedSpecial = 'all' | Iterable<string>;

/** Options of GPT2Tokenizer.encode: which special tokens to recognise. */
export interface GPT2EncodeOptions {
  /** Special tokens to recognise in the text (default none: `<|endoftext|>` is encoded as plain text). */
  allowedSpecial?: AllowedSpecial;
}

/** Options of the GPT2Tokenizer constructor: its special tokens. */
export interface GPT2TokenizerOptions {
  /**
   * Tokens that encode() may recognise when allowed (default: `<|endoftext|>` where the vocabulary has it).
   * Each must be in the vocabulary.
   */
  specialTokens?: readonly string[];
}

const NO_RANK = 0x7fffffff;
const CACHE_LIMIT = 100_000;

/** An open-addressing hash table from a pair of symbol ids to a merge rank. */
class PairTable {
  private readonly a: Int32Array;
  private readonly b: Int32Array;
  private readonly rank: Int32Array;
  private readonly mask: number;
  constructor(capacity: number) {
    let size = 16;
    while (size < capacity * 2) size *= 2;
    this.a = new Int32Array(size).fill(-1);
    this.b = new Int32Array(size);
    this.rank = new Int32Array(size);
    this.mask = size - 1;
  }
  private slot(a: number, b: number): number {
    return ((Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca77)) >>> 0) & this.mask;
  }
  set(a: number, b: number, rank: number): void {
    let i = this.slot(a, b);
    while (this.a[i] !== -1 && !(this.a[i] === a && this.b[i] === b)) i = (i + 1) & this.mask;
    this.a[i] = a;
    this.b[i] = b;
    this.rank[i] = rank;
  }
  get(a: number, b: number): number {
    let i = this.slot(a, b);
    for (;;) {
      const k = this.a[i]!;
      if (k === -1) return NO_RANK;
      if (k === a && this.b[i] === b) return this.rank[i]!;
      i = (i + 1) & this.mask;
    }
  }
}

function readFile(file: string, what: string): string {
  try {
    return nodeFs().readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DataError(
      'tokenizer',
      code === 'ENOENT' ? `${what} not found: ${file}` : `cannot read ${what} ${file}: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
}

/** Parses encoder.json: an object from token strings to non-negative integer ids. */
export function parseEncoderJson(text: string, name = 'encoder.json'): Map<string, number> {
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    throw new DataError('tokenizer', `${name} is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  return encoderFromObject(obj, name);
}

function encoderFromObject(obj: unknown, name: string): Map<string, number> {
  if (obj instanceof Map) obj = Object.fromEntries(obj);
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    throw new DataError('tokenizer', `${name} must be a JSON object from token strings to ids`);
  }
  const map = new Map<string, number>();
  for (const [k, v] of Object.entries(obj)) {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= 2 ** 31) {
      throw new DataError('tokenizer', `${name}: token ${showValue(k)} has id ${showValue(v)}, expected a non-negative integer`);
    }
    map.set(k, v);
  }
  if (map.size === 0) throw new DataError('tokenizer', `${name} has no tokens`);
  // The vocabulary's size is the largest id + 1, and tables (and a model's embedding) are sized by it:
  // an id far past the number of tokens (a corrupt 24117248 among 263 tokens) would allocate for ids the
  // file never defines. GPT-2's ids are 0..n-1; allow gaps, but no more unused ids than used ones.
  let maxId = -1;
  for (const id of map.values()) if (id > maxId) maxId = id;
  if (maxId >= 2 * map.size)
    throw new DataError(
      'tokenizer',
      `${name}: the largest id is ${maxId} but there are only ${map.size} tokens (ids should run 0..${map.size - 1})`,
    );
  return map;
}

/**
 * Parses vocab.bpe: an optional '#version' first line, then one merge per line, two tokens separated by
 * a space, best first. Empty lines (the trailing newline) are skipped.
 */
export function parseVocabBpe(text: string, name = 'vocab.bpe'): [string, string][] {
  const lines = text.split('\n');
  const merges: [string, string][] = [];
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line === '' || (i === 0 && line.startsWith('#version'))) continue;
    const parts = line.split(' ');
    if (parts.length !== 2 || parts[0] === '' || parts[1] === '') {
      throw new DataError(
        'tokenizer',
        `${name} line ${i + 1}: expected two tokens separated by one space, got ${JSON.stringify(line.slice(0, 80))}`,
      );
    }
    merges.push([parts[0]!, parts[1]!]);
  }
  return merges;
}

/** GPT-2's byte-level BPE tokenizer (encoder.json + vocab.bpe), matching OpenAI's and tiktoken's ids. */
export class GPT2Tokenizer implements Tokenizer {
  readonly kind = 'bpe' as const;
  /** Token string -> id, as in encoder.json. */
  readonly encoder: ReadonlyMap<string, number>;
  /** The merges, best (rank 0) first, as in vocab.bpe. */
  readonly merges: readonly (readonly [string, string])[];
  /** Special token string -> id (e.g. <|endoftext|> -> 50256). */
  readonly specialTokens: ReadonlyMap<string, number>;
  /** One more than the largest id (50257 for GPT-2). */
  readonly vocabSize: number;

  // Symbols: every token string the merges can produce, numbered internally; symVocab maps one to its
  // id in the vocabulary (-1 if the vocabulary lacks it, which is an error only if a piece ends there).
  private readonly symVocab: Int32Array;
  private readonly symString: string[];
  private readonly byteSym = new Int32Array(256);
  private readonly pairs: PairTable;
  private readonly mergeResult: Int32Array;
  private readonly idBytes: (Uint8Array | undefined)[];
  private readonly cache = new Map<string, number[]>();
  private readonly regex = gpt2Regex();
  private buf: Uint8Array<ArrayBuffer> = new Uint8Array(1024);
  private syms = new Int32Array(1024);
  private specialRegexCache = new Map<string, RegExp>();
  /** The vocabulary's file, for errors (fromFiles sets it). */
  private source = 'encoder.json';

  /** A tokenizer from GPT-2's encoder (token string -> id) and merges (rank order). */
  constructor(
    encoder: ReadonlyMap<string, number> | Record<string, number>,
    merges: readonly (readonly [string, string])[],
    opts: GPT2TokenizerOptions = {},
  ) {
    const enc = encoder instanceof Map ? new Map(encoder) : encoderFromObject(encoder, 'encoder');
    this.encoder = enc;
    this.merges = merges.map(([a, b]) => [a, b] as const);
    let maxId = -1;
    for (const id of enc.values()) if (id > maxId) maxId = id;
    this.vocabSize = maxId + 1;

    const symOf = new Map<string, number>();
    const strings: string[] = [];
    const sym = (s: string): number => {
      let k = symOf.get(s);
      if (k === undefined) {
        k = strings.length;
        strings.push(s);
        symOf.set(s, k);
      }
      return k;
    };
    for (let b = 0; b < 256; b++) this.byteSym[b] = sym(BYTE_TO_CHAR[b]!);
    this.pairs = new PairTable(merges.length + 1);
    this.mergeResult = new Int32Array(merges.length);
    merges.forEach(([a, b], rank) => {
      const sa = sym(a),
        sb = sym(b);
      this.mergeResult[rank] = sym(a + b);
      this.pairs.set(sa, sb, rank); // a repeated pair keeps its last rank, like dict(zip(merges, ranks))
    });
    this.symString = strings;
    this.symVocab = new Int32Array(strings.length);
    for (let i = 0; i < strings.length; i++) this.symVocab[i] = enc.get(strings[i]!) ?? -1;

    this.idBytes = new Array(this.vocabSize);
    for (const [s, id] of enc) {
      this.idBytes[id] = tokenStringToBytes(s) ?? new TextEncoder().encode(s);
    }
    const specials = new Map<string, number>();
    for (const s of opts.specialTokens ?? (enc.has('<|endoftext|>') ? ['<|endoftext|>'] : [])) {
      const id = enc.get(s);
      if (id === undefined) throw new ValueError('GPT2Tokenizer', `special token ${JSON.stringify(s)} is not in the vocabulary`);
      specials.set(s, id);
    }
    this.specialTokens = specials;
  }

  /** From the contents of encoder.json (text or the parsed object) and vocab.bpe (text or merge pairs). */
  static fromContents(
    encoderJson: string | Record<string, number> | ReadonlyMap<string, number>,
    vocabBpe: string | readonly (readonly [string, string])[],
    opts?: GPT2TokenizerOptions,
  ): GPT2Tokenizer {
    const enc = typeof encoderJson === 'string' ? parseEncoderJson(encoderJson) : encoderJson;
    const merges = typeof vocabBpe === 'string' ? parseVocabBpe(vocabBpe) : vocabBpe;
    return new GPT2Tokenizer(enc, merges, opts);
  }

  /** From the paths of encoder.json and vocab.bpe. */
  static fromFiles(encoderPath: string, vocabPath: string, opts?: GPT2TokenizerOptions): GPT2Tokenizer {
    const enc = parseEncoderJson(readFile(encoderPath, 'encoder.json'), encoderPath);
    const merges = parseVocabBpe(readFile(vocabPath, 'vocab.bpe'), vocabPath);
    let tok: GPT2Tokenizer;
    try {
      tok = new GPT2Tokenizer(enc, merges, opts);
    } catch (e) {
      if (e instanceof ValueError) throw new DataError('tokenizer', `${encoderPath}: ${e.message}`);
      throw e;
    }
    tok.source = encoderPath;
    return tok;
  }

  /** From a folder holding encoder.json and vocab.bpe (GPT-2's files, or what save() wrote). */
  static fromDir(dir: string, opts?: GPT2TokenizerOptions): GPT2Tokenizer {
    return GPT2Tokenizer.fromFiles(nodePath().join(dir, 'encoder.json'), nodePath().join(dir, 'vocab.bpe'), opts);
  }

  /** The ids of a text. Special tokens are plain text unless opts.allowedSpecial names them (or is 'all'). */
  encode(text: string, opts: GPT2EncodeOptions = {}): number[] {
    const out: number[] = [];
    const re = opts.allowedSpecial === undefined ? null : this.specialRegex(opts.allowedSpecial);
    if (re === null) {
      this.encodeOrdinary(text, out);
      return out;
    }
    let start = 0;
    re.lastIndex = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      if (m.index > start) this.encodeOrdinary(text.slice(start, m.index), out);
      out.push(this.encoder.get(m[0])!);
      start = m.index + m[0].length;
    }
    if (start < text.length) this.encodeOrdinary(start === 0 ? text : text.slice(start), out);
    return out;
  }

  /** The text of some ids: their bytes, decoded as UTF-8 with U+FFFD for invalid sequences. */
  decode(ids: ArrayLike<number>): string {
    return decodeUtf8(this.decodeBytes(ids));
  }

  /** The exact bytes some ids stand for. */
  decodeBytes(ids: ArrayLike<number>): Uint8Array {
    let total = 0;
    for (let i = 0; i < ids.length; i++) total += this.bytesOf(ids[i]!).length;
    const out = new Uint8Array(total);
    let n = 0;
    for (let i = 0; i < ids.length; i++) {
      const b = this.bytesOf(ids[i]!);
      out.set(b, n);
      n += b.length;
    }
    return out;
  }

  /** The token string of an id ('Ġthe'), or undefined. */
  idToToken(id: number): string | undefined {
    const bytes = this.idBytes[id];
    return bytes === undefined ? undefined : bytesToTokenString(bytes);
  }

  /** Writes encoder.json, vocab.bpe and tokenizer.json ({"type":"bpe", ...}) into dir (created if needed). */
  save(dir: string): void {
    nodeFs().mkdirSync(dir, { recursive: true });
    const entries = [...this.encoder].sort((x, y) => x[1] - y[1]);
    nodeFs().writeFileSync(nodePath().join(dir, 'encoder.json'), `{${entries.map(([s, id]) => `${JSON.stringify(s)}: ${id}`).join(', ')}}`);
    nodeFs().writeFileSync(nodePath().join(dir, 'vocab.bpe'), `#version: 0.2\n${this.merges.map(([a, b]) => `${a} ${b}\n`).join('')}`);
    nodeFs().writeFileSync(
      nodePath().join(dir, 'tokenizer.json'),
      JSON.stringify(
        {
          type: 'bpe',
          vocabSize: this.vocabSize,
          specialTokens: [...this.specialTokens.keys()],
        },
        null,
        2,
      ) + '\n',
    );
  }

  private bytesOf(id: number): Uint8Array {
    const b = Number.isInteger(id) ? this.idBytes[id] : undefined;
    if (b === undefined) throw new ValueError('GPT2Tokenizer.decode', `unknown token id ${id} (vocabulary size ${this.vocabSize})`);
    return b;
  }

  private specialRegex(allowed: AllowedSpecial): RegExp | null {
    let names: string[];
    if (allowed === 'all') names = [...this.specialTokens.keys()];
    else {
      names = [...new Set(allowed)];
      for (const s of names) {
        if (!this.specialTokens.has(s) && !this.encoder.has(s)) {
          throw new ValueError('GPT2Tokenizer.encode', `allowed special token ${JSON.stringify(s)} is not in the vocabulary`);
        }
      }
    }
    if (names.length === 0) return null;
    names.sort((x, y) => y.length - x.length || (x < y ? -1 : x > y ? 1 : 0)); // longest first
    const key = names.join('\u0000');
    let re = this.specialRegexCache.get(key);
    if (!re) {
      re = new RegExp(names.map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'gu');
      this.specialRegexCache.set(key, re);
    }
    return re;
  }

  /** Pre-tokenizes and appends the ids of each piece, from the cache when it has seen the piece. */
  private encodeOrdinary(text: string, out: number[]): void {
    const re = this.regex;
    re.lastIndex = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      const piece = m[0];
      let ids = this.cache.get(piece);
      if (ids === undefined) {
        ids = this.bpe(piece);
        if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
        this.cache.set(piece, ids);
      }
      for (let i = 0; i < ids.length; i++) out.push(ids[i]!);
    }
  }

  /** The ids of one pre-tokenized piece. */
  private bpe(piece: string): number[] {
    const [buf, n0] = utf8Into(piece, this.buf);
    this.buf = buf;
    if (this.syms.length < n0) this.syms = new Int32Array(Math.max(n0, this.syms.length * 2));
    const s = this.syms;
    for (let i = 0; i < n0; i++) s[i] = this.byteSym[buf[i]!]!;
    let n = n0;
    while (n > 1) {
      let best = NO_RANK,
        at = -1;
      for (let i = 0; i + 1 < n; i++) {
        const r = this.pairs.get(s[i]!, s[i + 1]!);
        if (r < best) {
          best = r;
          at = i;
        }
      }
      if (best === NO_RANK) break;
      const merged = this.mergeResult[best]!;
      const a = s[at]!,
        b = s[at + 1]!;
      let j = 0;
      for (let i = 0; i < n; ) {
        if (i + 1 < n && s[i] === a && s[i + 1] === b) {
          s[j++] = merged;
          i += 2;
        } else s[j++] = s[i++]!;
      }
      n = j;
    }
    const ids = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      const id = this.symVocab[s[i]!]!;
      if (id < 0) {
        throw new DataError(
          'tokenizer',
          `token ${JSON.stringify(this.symString[s[i]!])} (from ${JSON.stringify(piece)}) is not in ${this.source}`,
        );
      }
      ids[i] = id;
    }
    return ids;
  }
}
