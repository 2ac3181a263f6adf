// `mox generate`: loads a GPT checkpoint folder (config.json, model.safetensors, tokenizer.json) and
// continues a prompt, sampling with a key/value cache. The text (or, with --json, the token ids) goes
// to stdout; the speed goes to stderr.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError, ValueError } from '../../errors.js';
import { generateAsync } from '../../models/gpt-generate.js';
import { initDevice } from '../../backend/registry.js';
import { loadGPT } from '../../models/gpt-checkpoint.js';
import { isHuggingFaceGPT2Dir } from '../../models/hf-gpt2.js';
import { GPT2Tokenizer } from '../../text/gpt2.js';
import { CharTokenizer } from '../../text/char.js';
import { loadCheckpointTokenizer, type GptTokenizer } from './gpt-tokenizer.js';
import { isLSTMCheckpointDir } from '../../models/lstm-checkpoint.js';
import { runGenerateLstm } from './generate-lstm.js';
import type { GenerateCommandOptions } from './generate-options.js';

/** A Hugging Face folder's tokenizer.json when it is the character-level one `mox export-hf` writes, else null. */
function huggingFaceCharTokenizer(file: string): GptTokenizer | null {
  let obj: Record<string, unknown>;
  try {
    obj = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new DataError('generate', `${file} is not valid JSON: ${(e as Error).message}`);
  }
  return typeof obj === 'object' && obj !== null && CharTokenizer.isHuggingFaceCharJSON(obj)
    ? CharTokenizer.fromHuggingFaceJSON(obj, file)
    : null;
}

export async function runGenerate(
  opts: GenerateCommandOptions,
  out: (s: string) => void = (s) => process.stdout.write(s),
  err: (line: string) => void = (l) => console.error(l),
): Promise<{ ids: number[]; newIds: number[]; tokensPerSecond: number }> {
  if (isLSTMCheckpointDir(opts.model)) return runGenerateLstm(opts, out, err);
  const device = opts.device ?? 'cpu';
  await initDevice(device); // at once for the CPU, which is always open
  const { model } = loadGPT(opts.model);
  model.to(device);
  let tok: GptTokenizer | null = null;
  const tokFile = path.join(opts.model, 'tokenizer.json');
  if (isHuggingFaceGPT2Dir(opts.model)) {
    // a Hugging Face folder: its tokenizer.json is the tokenizers library's; GPT-2's BPE is vocab.json + merges.txt
    const vocab = path.join(opts.model, 'vocab.json');
    const merges = path.join(opts.model, 'merges.txt');
    if (fs.existsSync(vocab) && fs.existsSync(merges)) tok = GPT2Tokenizer.fromFiles(vocab, merges);
    else if (fs.existsSync(tokFile)) tok = huggingFaceCharTokenizer(tokFile);
  } else if (fs.existsSync(tokFile)) {
    tok = loadCheckpointTokenizer(opts.model);
  }
  let prompt: number[];
  if (opts.promptIds) {
    prompt = opts.promptIds;
  } else {
    if (!tok)
      throw new DataError(
        'generate',
        `${opts.model} has no tokenizer (tokenizer.json, or vocab.json + merges.txt for a Hugging Face folder), so --prompt cannot be encoded; give --prompt-ids`,
      );
    prompt = tok.encode(opts.prompt ?? '');
    if (prompt.length === 0) throw new ValueError('generate', '--prompt is empty');
  }
  const { vocabSize } = model.config;
  for (const id of prompt)
    if (id >= vocabSize)
      throw new ValueError('generate', `--prompt-ids: token id ${id} is outside the model's vocabulary [0, ${vocabSize})`);
  const res = await generateAsync(model, [prompt], {
    maxNewTokens: opts.maxNewTokens,
    temperature: opts.temperature,
    topK: opts.topK ?? null,
    topP: opts.topP ?? null,
    seed: opts.seed,
    useCache: opts.useCache,
  });
  res.ids.dispose();
  const newIds = res.newTokens[0]!;
  const ids = [...prompt, ...newIds];
  if (opts.json) out(JSON.stringify(ids) + '\n');
  else if (tok) out(tok.decode(ids) + '\n');
  else out(ids.join(' ') + '\n');
  err(
    `${newIds.length} tokens in ${res.seconds.toFixed(2)} s: ${res.tokensPerSecond.toFixed(1)} tokens/s` +
      `${opts.useCache ? ' (KV cache)' : ' (no cache)'}${device === 'cpu' ? '' : ` on ${device}`}`,
  );
  return { ids, newIds, tokensPerSecond: res.tokensPerSecond };
}
