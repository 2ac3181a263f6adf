// `mox export-hf`: loads a GPT checkpoint folder (mox's or a Hugging Face one) and writes it as a
// Hugging Face GPT-2 folder that transformers' GPT2LMHeadModel.from_pretrained reads.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError } from '../../errors.js';
import { loadGPT } from '../../models/gpt-checkpoint.js';
import { exportHuggingFaceGPT2, isHuggingFaceGPT2Dir } from '../../models/hf-gpt2.js';
import { writeFileAtomicSync } from '../../io/atomic.js';
import { CharTokenizer } from '../../text/char.js';
import { loadTokenizerDir } from '../../text/load-tokenizer.js';

export interface ExportHfOptions {
  model: string;
  out: string;
}

export function runExportHf(opts: ExportHfOptions, log: (line: string) => void = (l) => console.log(l)): void {
  if (path.resolve(opts.model) === path.resolve(opts.out)) {
    throw new DataError('export-hf', `--out must be another folder than --model (${opts.model}): its config.json would be replaced`);
  }
  if (fs.existsSync(opts.out) && !fs.statSync(opts.out).isDirectory())
    throw new DataError('export-hf', `${opts.out} exists and is not a folder`);
  const { model } = loadGPT(opts.model);
  exportHuggingFaceGPT2(model, opts.out);
  // GPT-2 BPE files (a mox checkpoint's encoder.json + vocab.bpe) are Hugging Face's vocab.json + merges.txt
  const copied: string[] = [];
  for (const [from, to] of [
    ['encoder.json', 'vocab.json'],
    ['vocab.bpe', 'merges.txt'],
  ] as const) {
    const src = path.join(opts.model, from);
    if (!fs.existsSync(path.join(opts.model, 'encoder.json')) || !fs.existsSync(path.join(opts.model, 'vocab.bpe')) || !fs.existsSync(src))
      continue;
    try {
      writeFileAtomicSync(path.join(opts.out, to), fs.readFileSync(src));
    } catch (e) {
      throw new DataError('export-hf', `cannot copy ${src} to ${path.join(opts.out, to)}: ${(e as Error).message}`);
    }
    copied.push(to);
  }
  // a character-level tokenizer becomes a `tokenizers` tokenizer.json (WordLevel over the characters), so
  // that the folder's generate --prompt, and transformers' PreTrainedTokenizerFast, can encode text
  const hfTokenizer = path.join(opts.model, 'tokenizer.json');
  if (copied.length === 0 && fs.existsSync(hfTokenizer) && isHuggingFaceGPT2Dir(opts.model)) {
    // already a Hugging Face folder: its tokenizer files are in their final form
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) {
      if (fs.existsSync(path.join(opts.model, f))) {
        writeFileAtomicSync(path.join(opts.out, f), fs.readFileSync(path.join(opts.model, f)));
        copied.push(f);
      }
    }
  } else if (copied.length === 0 && fs.existsSync(hfTokenizer)) {
    const tok = loadTokenizerDir(opts.model);
    if (tok instanceof CharTokenizer) {
      writeFileAtomicSync(path.join(opts.out, 'tokenizer.json'), JSON.stringify(tok.toHuggingFaceJSON(), null, 2) + '\n');
      writeFileAtomicSync(
        path.join(opts.out, 'tokenizer_config.json'),
        JSON.stringify({ tokenizer_class: 'PreTrainedTokenizerFast', unk_token: '<unk>' }, null, 2) + '\n',
      );
      copied.push('tokenizer.json (character level)', 'tokenizer_config.json');
    } else {
      log(`note: the ${tok.kind} tokenizer of ${opts.model} has no Hugging Face form here; it was not exported`);
    }
  }
  const c = model.config;
  log(
    `wrote ${opts.out}: config.json, model.safetensors${copied.length ? ', ' + copied.join(', ') : ''} ` +
      `(GPT-2: n_layer ${c.nLayer}, n_head ${c.nHead}, n_embd ${c.nEmbd}, n_positions ${c.blockSize}, vocab_size ${c.vocabSize}, ` +
      `${c.tiedEmbeddings ? 'tied' : 'untied'} head)`,
  );
}
