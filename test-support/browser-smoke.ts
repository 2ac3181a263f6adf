// The script test/browser.test.ts bundles into a web page (with `mox/browser`) and opens in headless
// Chromium: it trains a small MLP for three steps on the CPU and on the GPU (navigator.gpu), greedily
// generates from a tiny GPT on both, and posts what it saw to the test's server.

import * as mox from '../src/browser.js';

async function run(): Promise<Record<string, unknown>> {
  const report: Record<string, unknown> = {
    cpuKernels: mox.backendInfo()['kernels'],
    hasNavigatorGpu: 'gpu' in ((globalThis as { navigator?: object }).navigator ?? {}),
  };
  const gpu = await mox.initDevice('webgpu');
  report['adapter'] = gpu.info?.()['adapter'];
  const losses: Record<string, number[]> = {};
  for (const device of ['cpu', 'webgpu']) {
    mox.seed(1);
    const model = new mox.nn.Sequential(new mox.nn.Linear(8, 16), new mox.nn.ReLU(), new mox.nn.Linear(16, 3)).to(device);
    const opt = new mox.optim.Adam(model.parameters(), { lr: 0.01 });
    const x = mox.randn([5, 8], { generator: new mox.Generator(2) }).to(device);
    const y = mox.tensor([0, 1, 2, 1, 0]).to(device);
    losses[device] = [];
    for (let s = 0; s < 3; s++) {
      const loss = mox.scope(() => {
        const l = mox.nn.functional.crossEntropy(model.forward(x), y);
        l.backward();
        opt.step();
        opt.zeroGrad();
        return mox.keep(l.detach());
      });
      losses[device]!.push(await loss.itemAsync());
      loss.dispose();
    }
  }
  mox.seed(3);
  const gpt = new mox.models.GPT({ vocabSize: 11, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 8 });
  const cpuTokens = mox.models.generate(gpt, [[1, 2]], { maxNewTokens: 4, temperature: 0 }).newTokens;
  gpt.to('webgpu');
  const gpuTokens = (await mox.models.generateAsync(gpt, [[1, 2]], { maxNewTokens: 4, temperature: 0 })).newTokens;
  return { ...report, losses, cpuTokens, gpuTokens };
}

const post = (body: unknown): Promise<Response> => fetch('/result', { method: 'POST', body: JSON.stringify(body) });
run().then(
  (r) => post({ ok: true, ...r }),
  (e: unknown) => post({ ok: false, error: String((e as Error)?.stack ?? e) }),
);
