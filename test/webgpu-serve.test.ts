// `mox serve` on the GPU: the continuous-batching engine with a GPT moved to webgpu (logits read back
// asynchronously) serves concurrent requests, greedy and seeded, with the CPU's texts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import * as mox from '../src/index.js';
import { GPT } from '../src/models/gpt.js';
import { CharTokenizer } from '../src/text/char.js';
import { createServer } from '../src/serve/server.js';
import { openGpu } from '../test-support/webgpu.js';

await openGpu();

const tok = new CharTokenizer([...'abcdefghijklmnopqrstuvwxyz .\n']);
const model = () =>
  new GPT({ vocabSize: tok.vocabSize, blockSize: 32, nLayer: 2, nHead: 2, nEmbd: 32, generator: new mox.Generator(4) }).eval();

async function texts(device: string): Promise<string[]> {
  const m = model();
  if (device !== 'cpu') await m.toAsync(device);
  const s = createServer({ model: m, tokenizer: tok, modelId: 'tiny', maxBatch: 4, logger: false });
  const url = await s.app.listen({ host: '127.0.0.1', port: 0 });
  try {
    const c = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'x', maxRetries: 0 });
    const reqs = [
      { prompt: 'the ', max_tokens: 10, temperature: 0 },
      { prompt: 'a', max_tokens: 12, temperature: 0 },
      { prompt: 'cat ', max_tokens: 8, temperature: 0 },
    ];
    const out = await Promise.all(reqs.map((r) => c.completions.create({ model: 'tiny', ...r })));
    return out.map((o) => o.choices[0]!.text);
  } finally {
    await s.shutdown();
  }
}

test('webgpu: concurrent greedy completions through the batching engine equal the CPU server', async () => {
  const cpu = await texts('cpu');
  const gpu = await texts('webgpu');
  assert.deepEqual(gpu, cpu);
  assert.ok(cpu.every((t) => t.length > 0));
});
