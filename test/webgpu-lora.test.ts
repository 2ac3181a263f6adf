// LoRA on the GPU: a tiny GPT with Linear and Embedding adapters, one forward and backward on webgpu
// against the same on the CPU (logits, loss and the adapters' gradients), then merge and save.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as mox from '../src/index.js';
import { GPT } from '../src/models/gpt.js';
import { assertClose, openGpu } from '../test-support/webgpu.js';

await openGpu();
const { lora } = mox;

function adapted(): GPT {
  mox.seed(3);
  const m = new GPT({ vocabSize: 40, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 32, tiedEmbeddings: false });
  lora.applyLora(m, { r: 4, alpha: 8, dropout: 0, targetModules: ['c_attn', 'c_proj', 'wte'] });
  // give every adapter non-zero values so the gradients reach both factors
  const g = new mox.Generator(9);
  mox.noGrad(() => {
    for (const p of Object.values(lora.loraStateDict(m))) p.copy_(mox.randn(p.shape, { generator: g }).mul(0.1));
  });
  return m;
}

test('webgpu: a LoRA GPT forward and backward match the CPU; merge matches unmerged', async () => {
  const cpu = adapted();
  const dev = adapted();
  dev.to('webgpu');
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
  const cg = lora.loraStateDict(cpu);
  const dg = lora.loraStateDict(dev);
  for (const [k, p] of Object.entries(cg)) {
    assert.ok(p.grad && dg[k]!.grad, `${k} has a gradient`);
    await assertClose(dg[k]!.grad!, p.grad!, 1e-3, 1e-5, `grad of ${k}`);
  }
  const base = dev.namedParameters().filter(([k]) => !k.includes('lora_'));
  assert.ok(
    base.every(([, p]) => p.grad === null),
    'frozen base weights get no gradient',
  );

  dev.eval();
  const unmerged = mox.noGrad(() => dev.forward(x.to('webgpu')).logits);
  lora.mergeLora(dev);
  const merged = mox.noGrad(() => dev.forward(x.to('webgpu')).logits);
  await assertClose(merged, await unmerged.toAsync('cpu'), 0, 1e-5, 'merged logits');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mox-webgpu-lora-'));
  try {
    await lora.saveLoraAdapter(dev, dir);
    const back = adapted();
    lora.unloadLora(back);
    lora.loadLoraAdapter(back, dir);
    await assertClose(
      merged,
      mox.noGrad(() => back.eval().forward(x).logits),
      1e-4,
      1e-5,
      'loaded on the CPU',
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
