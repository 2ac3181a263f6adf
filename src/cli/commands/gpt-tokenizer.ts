// The tokenizer a GPT checkpoint carries, as `train gpt` and `generate` use it: mox.text's
// loadTokenizer ('char' | 'gpt2' | 'bpe:N' | a folder) built from the corpus for training, saved into
// the checkpoint folder (tokenizer.json, plus encoder.json and vocab.bpe for BPE), and loaded back.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { DataError } from '../../errors.js';
import { gpt2VocabDirAsync, loadTokenizer, loadTokenizerDir } from '../../text/load-tokenizer.js';
import type { Tokenizer } from '../../text/tokenizer.js';

export type GptTokenizer = Tokenizer;

/**
 * Builds the tokenizer a training run asked for (--tokenizer) from the corpus; 'gpt2' finds GPT-2's
 * files as loadDataset finds a dataset's, downloading them into the cache when no folder holds them.
 */
export async function buildTokenizer(spec: string, text: string): Promise<GptTokenizer> {
  if (spec === 'gpt2') return loadTokenizer(spec, { vocabDir: await gpt2VocabDirAsync() });
  return loadTokenizer(spec, { corpus: text });
}

/**
 * Saves the tokenizer's files into dir: written into a temporary folder beside them first, then each
 * renamed into place, so no file is ever seen half-written.
 */
export function saveTokenizerAtomic(tok: GptTokenizer, dir: string): void {
  const tmp = path.join(dir, `.tokenizer.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    tok.save(tmp);
    for (const f of fs.readdirSync(tmp)) fs.renameSync(path.join(tmp, f), path.join(dir, f));
  } catch (e) {
    throw new DataError('checkpoint', `cannot write the tokenizer into ${dir}: ${(e as Error).message}`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** Loads the tokenizer saved in a checkpoint folder. */
export function loadCheckpointTokenizer(dir: string): GptTokenizer {
  if (!fs.existsSync(path.join(dir, 'tokenizer.json'))) throw new DataError('checkpoint', `${dir} has no tokenizer.json`);
  return loadTokenizerDir(dir);
}
