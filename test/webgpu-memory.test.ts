// The PyTorch-style loop without scope on the GPU: live tensors, live bytes and GPU buffer bytes in use
// hold flat for an MLP, a CNN and a GPT (automatic freeing at backward() boundaries releases GPU
// buffers as it does heap memory). The CPU twin is test/memory-loop.test.ts.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as mox from '../src/index.js';
import { makeLoop, type LoopModel } from '../test-support/memory-loops.js';
import { openGpu } from '../test-support/webgpu.js';

await openGpu();

describe('webgpu: a PyTorch-style loop without scope holds memory flat', () => {
  const steps: Record<LoopModel, number> = { mlp: 120, cnn: 80, gpt: 60 };
  for (const kind of ['mlp', 'cnn', 'gpt'] as const) {
    it(`${kind}: ${steps[kind]} steps, live tensors and GPU bytes at the end <= 1.5x step 20`, async (t) => {
      const loop = makeLoop(kind, { device: 'webgpu' });
      let at20: ReturnType<typeof mox.memory> | null = null;
      for (let i = 1; i <= steps[kind]; i++) {
        loop.step();
        if (i === 20) at20 = mox.memory({ heap: true });
      }
      await mox.sync();
      const last = mox.memory({ heap: true });
      const a = at20!.devices.webgpu!;
      const b = last.devices.webgpu!;
      const say = `step 20 ${JSON.stringify(a)}, step ${steps[kind]} ${JSON.stringify(b)}`;
      t.diagnostic(say);
      assert.ok(a.numTensors > 0 && a.heapBytes! > 0, say);
      assert.ok(b.numTensors <= 1.5 * a.numTensors, `live tensors: ${say}`);
      assert.ok(b.numBytes <= 1.5 * a.numBytes, `live bytes: ${say}`);
      assert.ok(b.heapBytes! <= 1.5 * a.heapBytes!, `GPU buffer bytes in use: ${say}`);
      assert.ok(last.numTensors <= 1.5 * at20!.numTensors, `all devices: ${say}`);
      loop.dispose();
    });
  }
});
