// Byte-level BPE training, GPT-2 style: the corpus is pre-tokenized with GPT-2's regex and counted by
// piece; every piece starts as its UTF-8 bytes; then the most frequent adjacent pair (counted over the
// piece counts) is merged into a new token, again and again, until the vocabulary reaches its size.
// Ties go to the pair with the smaller ids (first token, then second), so training is deterministic.
// The result is a GPT2Tokenizer: ids 0..255 are the bytes in GPT-2's order, then the merged tokens,
// then the special tokens; save() writes encoder.json/vocab.bpe that GPT-2 loaders read.

import { ValueError } from '../errors.js';
import { BYTE_ORDER, BYTE_TO_CHAR, utf8Into } from './bytes.js';
import { GPT2Tokenizer } from './gpt2.js';
import { gpt2Regex } from './pretokenize.js';

/** Options of trainBPE: target vocabulary size, special tokens and progress. */
export interface TrainBPEOptions {
  /** The vocabulary size to reach: 256 bytes + merged tokens + special tokens. */
  vocabSize: number;
  /** Added at the end of the vocabulary (default ['<|endoftext|>']). */
  specialTokens?: readonly string[];
  /** Stop early when the best pair occurs fewer times than this (default 2). */
  minFrequency?: number;
}

const KEY = 2 ** 21; // pair key = a * KEY + b; ids stay below 2^21

/** Trains a byte-level BPE tokenizer on a corpus (one text or several). */
export function trainBPE(corpus: string | readonly string[], opts: TrainBPEOptions): GPT2Tokenizer {
  const specials = [...(opts.specialTokens ?? ['<|endoftext|>'])];
  const minFrequency = opts.minFrequency ?? 2;
  const target = opts.vocabSize;
  if (!Number.isInteger(target) || target < 256 + specials.length || target >= KEY) {
    throw new ValueError(
      'trainBPE',
      `vocabSize must be an integer from ${256 + specials.length} (256 bytes + ${specials.length} special) to ${KEY - 1}, got ${target}`,
    );
  }
  if (new Set(specials).size !== specials.length) throw new ValueError('trainBPE', 'specialTokens has duplicates');

  // Count the pieces.
  const counts = new Map<string, number>();
  const re = gpt2Regex();
  for (const text of typeof corpus === 'string' ? [corpus] : corpus) {
    re.lastIndex = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) counts.set(m[0], (counts.get(m[0]) ?? 0) + 1);
  }

  // Tokens: the 256 bytes in GPT-2's order; a piece is the ids of its bytes.
  const tokens: string[] = BYTE_ORDER.map((b) => BYTE_TO_CHAR[b]!);
  const idOf = new Map<string, number>(tokens.map((t, i) => [t, i]));
  const byteId = new Int32Array(256);
  BYTE_ORDER.forEach((b, i) => {
    byteId[b] = i;
  });
  const words: Int32Array[] = [];
  const lens: number[] = [];
  const freq: number[] = [];
  let buf: Uint8Array<ArrayBuffer> = new Uint8Array(256);
  for (const [piece, c] of counts) {
    const [b, n] = utf8Into(piece, buf);
    buf = b;
    const w = new Int32Array(n);
    for (let i = 0; i < n; i++) w[i] = byteId[b[i]!]!;
    words.push(w);
    lens.push(n);
    freq.push(c);
  }

  // Pair counts and, for each pair, the words it may occur in (stale entries are checked when used).
  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, number[]>();
  const addPairs = (w: number, sign: number, onlyWith: number): void => {
    const s = words[w]!,
      n = lens[w]!,
      f = freq[w]! * sign;
    for (let i = 0; i + 1 < n; i++) {
      const key = s[i]! * KEY + s[i + 1]!;
      const c = (pairCount.get(key) ?? 0) + f;
      if (c === 0) pairCount.delete(key);
      else pairCount.set(key, c);
      if (sign > 0 && (onlyWith < 0 || s[i] === onlyWith || s[i + 1] === onlyWith)) {
        let list = pairWords.get(key);
        if (!list) pairWords.set(key, (list = []));
        if (list[list.length - 1] !== w) list.push(w);
      }
    }
  };
  for (let w = 0; w < words.length; w++) addPairs(w, 1, -1);

  const merges: [string, string][] = [];
  const seen = new Int32Array(words.length).fill(-1);
  while (tokens.length + specials.length < target) {
    let bestKey = -1,
      bestCount = 0;
    for (const [key, c] of pairCount) {
      if (c > bestCount || (c === bestCount && key < bestKey)) {
        bestCount = c;
        bestKey = key;
      }
    }
    if (bestKey < 0 || bestCount < minFrequency) break;
    const a = Math.floor(bestKey / KEY),
      b = bestKey % KEY;
    const str = tokens[a]! + tokens[b]!;
    merges.push([tokens[a]!, tokens[b]!]);
    let id = idOf.get(str);
    if (id === undefined) {
      id = tokens.length;
      tokens.push(str);
      idOf.set(str, id);
    }
    const list = pairWords.get(bestKey) ?? [];
    pairWords.delete(bestKey);
    const stamp = merges.length;
    for (const w of list) {
      if (seen[w] === stamp) continue;
      seen[w] = stamp;
      const s = words[w]!,
        n = lens[w]!;
      let has = false;
      for (let i = 0; i + 1 < n; i++)
        if (s[i] === a && s[i + 1] === b) {
          has = true;
          break;
        }
      if (!has) continue;
      addPairs(w, -1, -1);
      let j = 0;
      for (let i = 0; i < n; ) {
        if (i + 1 < n && s[i] === a && s[i + 1] === b) {
          s[j++] = id;
          i += 2;
        } else s[j++] = s[i++]!;
      }
      lens[w] = j;
      addPairs(w, 1, id);
    }
    pairCount.delete(bestKey);
  }

  const encoder = new Map<string, number>(tokens.map((t, i) => [t, i]));
  for (const s of specials) {
    if (encoder.has(s)) throw new ValueError('trainBPE', `special token ${JSON.stringify(s)} is also a learned token`);
    encoder.set(s, encoder.size);
  }
  return new GPT2Tokenizer(encoder, merges, { specialTokens: specials });
}
