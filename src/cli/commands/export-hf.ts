// `mox export-hf`: loads a GPT checkpoint folder (mox's or a Hugging Face one) and writes it as a
// Hugging Face GPT-2 folder that transformers' GPT2LMHeadModel.from_pretrained reads.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError } from '../../errors.js';
import { loadGPT } from '../../models/gpt-checkpoint.js';
import { exportHuggingFaceGPT2 } from '../../models/hf-gpt2.js';
import { writeFileAtomicSync } from '../../io/atomic.js';

export interface ExportHfOptions {
  model: string;
  out: string;
}

export function runExportHf(opts: ExportHfOptions, log: (line: string) => void = (l) => console.log(l)): void {
  if (path.resolve(opts.model) === path.resolve(opts.out)) {
    throw new DataError('export-hf', `--out must be another folder than --model (${opts.model}): its config.json would be replaced`);
  }
  if (fs.existsSync(opts.out) && !fs.statSync(opts.out).isDirectory()) throw new DataError('export-hf', `${opts.out} exists and is not a folder`);
  const { model } = loadGPT(opts.model);
  exportHuggingFaceGPT2(model, opts.out);
  // GPT-2 BPE files (a mox checkpoint's encoder.json + vocab.bpe) are Hugging Face's vocab.json + merges.txt
  const copied: string[] = [];
  for (const [from, to] of [['encoder.json', 'vocab.json'], ['vocab.bpe', 'merges.txt']] as const) {
    const src = path.join(opts.model, from);
    if (!fs.existsSync(path.join(opts.model, 'encoder.json')) || !fs.existsSync(path.join(opts.model, 'vocab.bpe')) || !fs.existsSync(src)) continue;
    try {
      writeFileAtomicSync(path.join(opts.out, to), fs.readFileSync(src));
    } catch (e) {
      throw new DataError('export-hf', `cannot copy ${src} to ${path.join(opts.out, to)}: ${(e as Error).message}`);
    }
    copied.push(to);
  }
  const c = model.config;
  log(`wrote ${opts.out}: config.json, model.safetensors${copied.length ? ', ' + copied.join(', ') : ''} ` +
    `(GPT-2: n_layer ${c.nLayer}, n_head ${c.nHead}, n_embd ${c.nEmbd}, n_positions ${c.blockSize}, vocab_size ${c.vocabSize}, ` +
    `${c.tiedEmbeddings ? 'tied' : 'untied'} head)`);
}
