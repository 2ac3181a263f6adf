// Attention heads removed on the GPU: a tiny GPT moved to webgpu and pruned there (pruneHeads selects
// the kept rows and columns with indexSelect on the device) gives the CPU-pruned model's logits, loss
// and gradients, and decodes with the KV cache (heads of a fixed head size, fewer per layer).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as mox from '../src/index.js';
import { GPT } from '../src/models/gpt.js';
import { generate, generateAsync } from '../src/models/gpt-generate.js';
import { pruneHeads } from '../src/prune/heads.js';
import { assertClose, openGpu } from '../test-support/webgpu.js';

await openGpu();

function tiny(): GPT {
  mox.seed(21);
  return new GPT({ vocabSize: 40, blockSize: 16, nLayer: 2, nHead: 4, nEmbd: 32 });
}

test('webgpu: a GPT pruned on the GPU matches the one pruned on the CPU, forward, backward, decoding', async () => {
  const heads = { 0: [1, 2], 1: [3] };
  const cpu = tiny();
  pruneHeads(cpu, heads);
  const dev = tiny();
  dev.to('webgpu');
  pruneHeads(dev, heads);
  const attn = dev.transformer.h[0]!.attn;
  assert.equal(attn.c_attn.weight.device, 'webgpu');
  assert.deepEqual(attn.c_attn.weight.shape, [48, 32]);
  assert.deepEqual(attn.c_proj.weight.shape, [32, 16]);
  const x = mox.tensor(
    Int32Array.from({ length: 16 }, (_, i) => (i * 7) % 40),
    { shape: [2, 8], dtype: 'int32' },
  );
  const y = mox.tensor(
    Int32Array.from({ length: 16 }, (_, i) => (i * 5 + 3) % 40),
    { shape: [2, 8], dtype: 'int32' },
  );
  const c = cpu.forward(x, y);
  c.loss!.backward();
  const d = dev.forward(x.to('webgpu'), y.to('webgpu'));
  d.loss!.backward();
  await assertClose(d.logits, c.logits, 1e-4, 1e-5, 'logits');
  await assertClose(d.loss!, c.loss!, 1e-4, 1e-5, 'loss');
  const cg = cpu.namedParameters();
  const dg = new Map(dev.namedParameters());
  for (const [k, p] of cg) await assertClose(dg.get(k)!.grad!, p.grad!, 1e-3, 1e-5, `grad of ${k}`);

  cpu.eval();
  dev.eval();
  const want = generate(cpu, [[1, 2, 3]], { maxNewTokens: 8, temperature: 0 });
  const got = await generateAsync(dev, [[1, 2, 3]], { maxNewTokens: 8, temperature: 0 });
  assert.deepEqual(got.newTokens, want.newTokens);
});
