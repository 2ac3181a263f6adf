// The tokenizer a GPT checkpoint carries, as `train gpt` and `generate` use it: mox.text's
// loadTokenizer ('char' | 'gpt2' | 'bpe:N' | a folder) built from the corpus for training, saved into
// the checkpoint folder (tokenizer.json, plus encoder.json and vocab.bpe for BPE), and loaded back.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { DataError } from '../../errors.js';
import { gpt2VocabDirAsync, loadTokenizer, loadTokenizerDir } from '../../text/load-tokenizer.js';
import type { Tokenizer } from '../../text/tokenizer.js';
import { GPT2Tokenizer } from '../../text/gpt2.js';
import { CharTokenizer } from '../../text/char.js';
import { isHuggingFaceGPT2Dir } from '../../models/hf-gpt2.js';

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

/** A Hugging Face folder's tokenizer.json when it is the character-level one `mox export-hf` writes, else null. */
function huggingFaceCharTokenizer(file: string): GptTokenizer | null {
  let obj: Record<string, unknown>;
  try {
    obj = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new DataError('tokenizer', `${file} is not valid JSON: ${(e as Error).message}`);
  }
  return typeof obj === 'object' && obj !== null && CharTokenizer.isHuggingFaceCharJSON(obj)
    ? CharTokenizer.fromHuggingFaceJSON(obj, file)
    : null;
}

/**
 * The tokenizer of a model folder, or null when it has none: a mox checkpoint's tokenizer.json (with
 * encoder.json + vocab.bpe for BPE), or for a Hugging Face GPT-2 folder vocab.json + merges.txt, or the
 * character-level tokenizer.json that `mox export-hf` writes.
 */
export function loadModelTokenizer(dir: string): GptTokenizer | null {
  const tokFile = path.join(dir, 'tokenizer.json');
  if (isHuggingFaceGPT2Dir(dir)) {
    // the tokenizers library's tokenizer.json is not read: GPT-2's BPE is vocab.json + merges.txt
    const vocab = path.join(dir, 'vocab.json');
    const merges = path.join(dir, 'merges.txt');
    if (fs.existsSync(vocab) && fs.existsSync(merges)) return GPT2Tokenizer.fromFiles(vocab, merges);
    return fs.existsSync(tokFile) ? huggingFaceCharTokenizer(tokFile) : null;
  }
  return fs.existsSync(tokFile) ? loadCheckpointTokenizer(dir) : null;
}
