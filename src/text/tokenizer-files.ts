// A tokenizer from the contents of the files save() wrote, for a runtime without a file system (a web
// page fetches them): tokenizer.json, plus encoder.json and vocab.bpe for byte-level BPE. In Node,
// loadTokenizerDir (load-tokenizer.ts) reads the same files from a folder.

import { DataError, showValue } from '../errors.js';
import { CharTokenizer } from './char.js';
import { GPT2Tokenizer } from './gpt2.js';
import { WordTokenizer } from './word.js';
import type { Tokenizer } from './tokenizer.js';

/** The text of a tokenizer's files, by file name (what a checkpoint folder holds). */
export interface TokenizerFileContents {
  /** tokenizer.json: {"type": "char" | "word" | "bpe" | "gpt2", ...}. */
  'tokenizer.json': string;
  /** encoder.json, for "bpe" and "gpt2". */
  'encoder.json'?: string;
  /** vocab.bpe, for "bpe" and "gpt2". */
  'vocab.bpe'?: string;
}

/** Builds the tokenizer the files describe; a file that is missing or malformed is a DataError naming it. */
export function tokenizerFromFiles(files: TokenizerFileContents): Tokenizer {
  let obj: Record<string, unknown>;
  try {
    obj = JSON.parse(files['tokenizer.json']) as Record<string, unknown>;
  } catch (e) {
    throw new DataError('tokenizer', `tokenizer.json is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof obj !== 'object' || obj === null) throw new DataError('tokenizer', 'tokenizer.json must hold a JSON object');
  switch (obj['type']) {
    case 'char':
      return CharTokenizer.fromJSON(obj);
    case 'word':
      return WordTokenizer.fromJSON(obj);
    case 'bpe':
    case 'gpt2': {
      const encoder = files['encoder.json'];
      const merges = files['vocab.bpe'];
      if (encoder === undefined || merges === undefined)
        throw new DataError('tokenizer', `a "${String(obj['type'])}" tokenizer.json needs encoder.json and vocab.bpe beside it`);
      const sp = obj['specialTokens'];
      if (sp !== undefined && !(Array.isArray(sp) && sp.every((s) => typeof s === 'string')))
        throw new DataError('tokenizer', 'tokenizer.json: specialTokens must be an array of strings');
      return GPT2Tokenizer.fromContents(encoder, merges, sp === undefined ? {} : { specialTokens: sp as string[] });
    }
    default:
      throw new DataError(
        'tokenizer',
        `tokenizer.json: unknown tokenizer type ${showValue(obj['type'])} (expected "char", "bpe" or "word")`,
      );
  }
}
