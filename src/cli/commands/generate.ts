// `mox generate`: loads a GPT checkpoint folder (config.json, model.safetensors, tokenizer.json) and
// continues a prompt, sampling with a key/value cache. The text (or, with --json, the token ids) goes
// to stdout; the speed goes to stderr.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError, ValueError } from '../../errors.js';
import { generateAsync } from '../../models/gpt-generate.js';
import { initDevice } from '../../backend/registry.js';
import { loadGPT } from '../../models/gpt-checkpoint.js';
import { loadModelTokenizer } from './gpt-tokenizer.js';
import { loadLoraAdapter, mergeLora } from '../../adapters/index.js';
import { readJson } from '../../io/files.js';
import { isLSTMCheckpointDir } from '../../models/lstm-checkpoint.js';
import { runGenerateLstm } from './generate-lstm.js';
import type { GenerateCommandOptions } from './generate-options.js';

/** Whether dir holds a LoRA adapter and no model of its own (what `mox finetune gpt --lora` writes). */
function isAdapterOnlyDir(dir: string): boolean {
  return fs.existsSync(path.join(dir, 'adapter_config.json')) && !fs.existsSync(path.join(dir, 'model.safetensors'));
}

/**
 * The base model's folder and the adapter's: --model BASE --adapter DIR, or --model DIR alone for an
 * adapter folder, whose base is the one its adapter_config.json names (base_model_name_or_path).
 */
function modelAndAdapter(opts: GenerateCommandOptions): { baseDir: string; adapterDir: string | null } {
  if (opts.adapter !== undefined) {
    if (!fs.existsSync(path.join(opts.adapter, 'adapter_config.json')))
      throw new DataError('generate', `--adapter ${opts.adapter} is not a LoRA adapter folder: it has no adapter_config.json`);
    return { baseDir: opts.model, adapterDir: opts.adapter };
  }
  if (!isAdapterOnlyDir(opts.model)) return { baseDir: opts.model, adapterDir: null };
  const cfgFile = path.join(opts.model, 'adapter_config.json');
  const base = readJson(cfgFile)['base_model_name_or_path'];
  if (typeof base !== 'string' || !fs.existsSync(base))
    throw new DataError(
      'generate',
      `${opts.model} holds a LoRA adapter whose base model (${cfgFile}: base_model_name_or_path ${JSON.stringify(base)}) is not a folder here; give --model BASE --adapter ${opts.model}`,
    );
  return { baseDir: base, adapterDir: opts.model };
}

export async function runGenerate(
  opts: GenerateCommandOptions,
  out: (s: string) => void = (s) => process.stdout.write(s),
  err: (line: string) => void = (l) => console.error(l),
): Promise<{ ids: number[]; newIds: number[]; tokensPerSecond: number }> {
  if (isLSTMCheckpointDir(opts.model)) return runGenerateLstm(opts, out, err);
  const device = opts.device ?? 'cpu';
  await initDevice(device); // at once for the CPU, which is always open
  const { baseDir, adapterDir } = modelAndAdapter(opts);
  const { model } = loadGPT(baseDir);
  if (adapterDir) {
    loadLoraAdapter(model, adapterDir);
    // merged, decoding costs what the base model's does; an adapter that cannot merge runs as it is
    try {
      mergeLora(model);
    } catch (e) {
      if (!(e instanceof ValueError)) throw e;
    }
  }
  model.eval();
  model.to(device);
  const tok = loadModelTokenizer(baseDir) ?? (adapterDir ? loadModelTokenizer(adapterDir) : null);
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
