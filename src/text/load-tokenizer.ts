// loadTokenizer(spec), for commands such as `mox train gpt`, and the folders it reads:
//   'char'          a CharTokenizer built from opts.corpus
//   'gpt2'          GPT-2's BPE from encoder.json + vocab.bpe, found as loadDataset finds files: in
//                   opts.vocabDir, $MOX_DATA_DIR/gpt2-bpe or the cache (gpt2VocabDirAsync also downloads
//                   them there, sha256-checked, from OpenAI's public URLs)
//   'bpe:N'         byte-level BPE trained on opts.corpus to N tokens
//   a folder        what a tokenizer's save() wrote (tokenizer.json, plus encoder.json/vocab.bpe for BPE),
//                   or a folder with just encoder.json + vocab.bpe

import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError, ValueError, showValue } from '../errors.js';
import { fetchFileSet, findFileSetSync } from '../data/datasets.js';
import { trainBPE } from './bpe-train.js';
import { CharTokenizer } from './char.js';
import { GPT2Tokenizer } from './gpt2.js';
import { WordTokenizer } from './word.js';
import type { Tokenizer } from './tokenizer.js';

/** Options of loadTokenizer: the corpus to build from, and where GPT-2's files are. */
export interface LoadTokenizerOptions {
  /** The text to build 'char' or train 'bpe:N' on. */
  corpus?: string;
  /** Where 'gpt2' finds encoder.json and vocab.bpe. */
  vocabDir?: string;
}

/**
 * The folder 'gpt2' loads from, by loadDataset's rule: vocabDir, $MOX_DATA_DIR/gpt2-bpe, or the cache
 * (~/.cache/mox/gpt2-bpe). Local only: a DataError names the folders searched when none holds both files.
 */
export function gpt2VocabDir(vocabDir?: string): string {
  return findFileSetSync('gpt2-bpe', vocabDir === undefined ? {} : { dataDir: vocabDir });
}

/** gpt2VocabDir, downloading GPT-2's two files into the cache (sha256-checked) when no folder holds them. */
export async function gpt2VocabDirAsync(vocabDir?: string): Promise<string> {
  return fetchFileSet('gpt2-bpe', vocabDir === undefined ? {} : { dataDir: vocabDir });
}

/** A tokenizer by name ('char', 'gpt2', 'bpe:N', 'word') or from a folder's tokenizer.json. */
export function loadTokenizer(spec: string, opts: LoadTokenizerOptions = {}): Tokenizer {
  if (spec === 'char') {
    if (opts.corpus === undefined) throw new ValueError('loadTokenizer', "'char' needs a corpus to build its vocabulary from");
    return CharTokenizer.fromCorpus(opts.corpus);
  }
  if (spec === 'gpt2') {
    const dir = gpt2VocabDir(opts.vocabDir);
    return GPT2Tokenizer.fromDir(dir);
  }
  const bpe = /^bpe:(\d+)$/.exec(spec);
  if (bpe) {
    if (opts.corpus === undefined) throw new ValueError('loadTokenizer', `'${spec}' needs a corpus to train on`);
    return trainBPE(opts.corpus, { vocabSize: Number(bpe[1]) });
  }
  if (spec.startsWith('bpe:')) throw new ValueError('loadTokenizer', `expected bpe:N with N an integer, got '${spec}'`);
  return loadTokenizerDir(spec);
}

/** Loads what save() wrote into dir (or GPT-2's encoder.json + vocab.bpe). */
export function loadTokenizerDir(dir: string): Tokenizer {
  if (!fs.existsSync(dir)) {
    throw new DataError('tokenizer', `no tokenizer '${dir}': expected 'char', 'gpt2', 'bpe:N' or a folder with tokenizer.json`);
  }
  if (!fs.statSync(dir).isDirectory()) throw new DataError('tokenizer', `${dir} is not a folder`);
  const file = path.join(dir, 'tokenizer.json');
  if (!fs.existsSync(file)) {
    if (fs.existsSync(path.join(dir, 'encoder.json'))) return GPT2Tokenizer.fromDir(dir);
    throw new DataError('tokenizer', `${dir} has no tokenizer.json (nor encoder.json + vocab.bpe)`);
  }
  let obj: Record<string, unknown>;
  try {
    obj = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new DataError('tokenizer', `${file} is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (typeof obj !== 'object' || obj === null) throw new DataError('tokenizer', `${file} must hold a JSON object`);
  switch (obj['type']) {
    case 'char':
      return CharTokenizer.fromJSON(obj, file);
    case 'word':
      return WordTokenizer.fromJSON(obj, file);
    case 'bpe':
    case 'gpt2': {
      const sp = obj['specialTokens'];
      if (sp !== undefined && !(Array.isArray(sp) && sp.every((s) => typeof s === 'string'))) {
        throw new DataError('tokenizer', `${file}: specialTokens must be an array of strings`);
      }
      return GPT2Tokenizer.fromDir(dir, sp === undefined ? {} : { specialTokens: sp as string[] });
    }
    default:
      throw new DataError('tokenizer', `${file}: unknown tokenizer type ${showValue(obj['type'])} (expected "char", "bpe" or "word")`);
  }
}
