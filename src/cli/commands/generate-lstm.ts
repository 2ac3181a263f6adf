// `mox generate` for an LSTM language model checkpoint (what `mox train lstm --out DIR` writes):
// the prompt is run once, then one token at a time with the recurrent state carried over (the LSTM's
// counterpart of the GPT's key/value cache, so --no-cache changes nothing here). Same flags and output
// as for a GPT: the text (or, with --json, the token ids) to stdout, the speed to stderr.

import { DataError, ValueError } from '../../errors.js';
import { initDevice } from '../../backend/registry.js';
import { loadLSTM } from '../../models/lstm-checkpoint.js';
import { loadCheckpointTokenizer } from './gpt-tokenizer.js';
import type { GenerateCommandOptions } from './generate-options.js';
import * as fs from 'node:fs';
import * as path from 'node:path';

export async function runGenerateLstm(
  opts: GenerateCommandOptions,
  out: (s: string) => void,
  err: (line: string) => void,
): Promise<{ ids: number[]; newIds: number[]; tokensPerSecond: number }> {
  const device = opts.device ?? 'cpu';
  await initDevice(device); // at once for the CPU, which is always open
  const { model } = loadLSTM(opts.model);
  model.to(device);
  const tok = fs.existsSync(path.join(opts.model, 'tokenizer.json')) ? loadCheckpointTokenizer(opts.model) : null;
  let prompt: number[];
  if (opts.promptIds) {
    prompt = opts.promptIds;
  } else {
    if (!tok) throw new DataError('generate', `${opts.model} has no tokenizer.json, so --prompt cannot be encoded; give --prompt-ids`);
    prompt = tok.encode(opts.prompt ?? '');
    if (prompt.length === 0) throw new ValueError('generate', '--prompt is empty');
  }
  const { vocabSize } = model.config;
  for (const id of prompt)
    if (id >= vocabSize)
      throw new ValueError('generate', `--prompt-ids: token id ${id} is outside the model's vocabulary [0, ${vocabSize})`);
  const t0 = performance.now();
  const newIds = (
    await model.generateAsync(prompt, {
      maxNewTokens: opts.maxNewTokens,
      temperature: opts.temperature,
      topK: opts.topK ?? null,
      topP: opts.topP ?? null,
      seed: opts.seed,
    })
  )[0]!;
  const seconds = (performance.now() - t0) / 1000;
  const tokensPerSecond = seconds > 0 ? newIds.length / seconds : 0;
  const ids = [...prompt, ...newIds];
  if (opts.json) out(JSON.stringify(ids) + '\n');
  else if (tok) out(tok.decode(ids) + '\n');
  else out(ids.join(' ') + '\n');
  err(
    `${newIds.length} tokens in ${seconds.toFixed(2)} s: ${tokensPerSecond.toFixed(1)} tokens/s (LSTM)${device === 'cpu' ? '' : ` on ${device}`}`,
  );
  return { ids, newIds, tokensPerSecond };
}
