// Training on the GPU end to end: moving tensors and models between devices, the synchronous-read
// errors, fit({ device: 'webgpu' }) against the same fit on the CPU, evaluateAsync, generateAsync, a
// conv net step, and `mox train gpt --device webgpu` with a checkpoint that loads back on the CPU.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as mox from '../src/index.js';
import { blobs } from '../test-support/fixtures.js';
import { assertClose, gpu, openGpu } from '../test-support/webgpu.js';

await openGpu();
const { nn } = mox;

const mlp = (): mox.nn.Module => {
  mox.seed(7);
  return new nn.Sequential(new nn.Linear(2, 16), new nn.Tanh(), new nn.Linear(16, 2));
};

let dir: string;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mox-webgpu-'));
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('webgpu: devices and reads', () => {
  it('to / toAsync move tensors both ways and keep values, dtype and requiresGrad', async () => {
    const x = mox.randn([3, 5]).requiresGrad_();
    const g = x.to('webgpu');
    assert.equal(g.device, 'webgpu');
    assert.equal(g.requiresGrad, true);
    const back = await g.toAsync('cpu');
    assert.equal(back.device, 'cpu');
    assert.deepEqual(Array.from(back.dataSync()), Array.from(x.dataSync()));
    const ids = mox
      .tensor([
        [1, 2],
        [3, 4],
      ])
      .to('webgpu');
    assert.equal(ids.dtype, 'int32');
    assert.deepEqual(await ids.array(), [
      [1, 2],
      [3, 4],
    ]);
    assert.equal(await mox.tensor([true, false]).to('webgpu').sum().itemAsync(), 1);
    assert.equal(x.to('float32'), x, 'a dtype is still a cast');
  });

  it('synchronous reads of GPU memory are DeviceErrors that name the asynchronous call', async () => {
    const g = mox.ones([2]).to('webgpu');
    assert.throws(
      () => g.dataSync(),
      (e: Error) => e instanceof mox.DeviceError && /await t\.data\(\)/.test(e.message),
    );
    assert.throws(() => g.sum().item(), mox.DeviceError);
    assert.throws(() => g.tolist(), mox.DeviceError);
    assert.throws(() => g.to('cpu'), /toAsync\('cpu'\)/);
    assert.throws(
      () => mox.ones([2]).to('float64').to('webgpu'),
      (e: Error) => e instanceof mox.DeviceError && /float64/.test(e.message),
    );
    assert.throws(() => mox.ones([2]).add(g), /different devices/);
    // printing does not read: it says where the tensor is and how to read it
    assert.equal(String(g), "tensor(<on webgpu: await t.toStringAsync() to see the values> shape=[2], dtype=float32, device='webgpu')");
    assert.equal(await g.toStringAsync(), "tensor([1., 1.], device='webgpu')");
  });

  it('setDevice makes new tensors on the GPU; copy_ takes a CPU source', async () => {
    mox.setDevice('webgpu');
    try {
      const z = mox.zeros([4]);
      assert.equal(z.device, 'webgpu');
      z.copy_(mox.tensor([1, 2, 3, 4], { device: 'cpu', dtype: 'float32' }));
      assert.deepEqual(Array.from(await z.data()), [1, 2, 3, 4]);
      const layer = new nn.Linear(3, 2);
      assert.equal(layer.weight.device, 'webgpu');
    } finally {
      mox.setDevice('cpu');
    }
  });

  it('Module.to moves parameters in place (the same objects) and toAsync brings them back', async () => {
    const m = mlp();
    const before = m.parameters();
    const values = before.map((p) => Array.from(p.dataSync()));
    m.to('webgpu');
    assert.equal(m.device, 'webgpu');
    assert.match(m.summary([2], { printFn: null }), /Total params: 82/);
    assert.deepEqual(m.parameters(), before);
    await m.toAsync('cpu');
    assert.deepEqual(
      m.parameters().map((p) => Array.from(p.dataSync())),
      values,
    );
  });
});

describe('webgpu: training', () => {
  it('fit({ device: "webgpu" }) follows the same curve as on the CPU; evaluateAsync and predict', async () => {
    const data = blobs(64, 1);
    const cpu = mlp();
    cpu.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'], lr: 0.01 });
    const hc = await cpu.fit(data.x, data.y, { epochs: 3, batchSize: 32, verbose: 0, seed: 0 });
    const g = mlp();
    g.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'], lr: 0.01 });
    const hg = await g.fit(data.x, data.y, {
      epochs: 3,
      batchSize: 32,
      verbose: 0,
      seed: 0,
      device: 'webgpu',
      validationData: [data.x, data.y],
    });
    assert.equal(g.device, 'webgpu');
    const lc = hc.history['loss']!;
    const lg = hg.history['loss']!;
    for (let i = 0; i < lc.length; i++) assert.ok(Math.abs(lc[i]! - lg[i]!) < 1e-4, `epoch ${i}: cpu ${lc[i]}, webgpu ${lg[i]}`);
    assert.deepEqual(hg.history['accuracy'], hc.history['accuracy']);
    assert.ok(hg.history['val_loss']![2]! < lg[0]!);
    const ev = await g.evaluateAsync(data.x, data.y, { batchSize: 50 });
    assert.ok(ev['accuracy']! > 0.9, `accuracy ${ev['accuracy']}`);
    assert.throws(() => g.evaluate(data.x, data.y), /evaluateAsync/);
    const pred = g.predict(gpu(data.x));
    assert.equal(pred.device, 'webgpu');
    await assertClose(pred, cpu.predict(data.x), 1e-3, 1e-3, 'predict');
  });

  it('a long training loop holds steady memory: live tensors and GPU bytes stay flat, buffers come from the pool', async () => {
    const backend = await openGpu();
    const m = mlp().to('webgpu');
    const opt = new mox.optim.AdamW(m.parameters(), { lr: 0.01 });
    const data = blobs(32, 5);
    const x = data.x.to('webgpu');
    const y = data.y.to('webgpu');
    const step = (): Promise<number> => {
      const l = mox.scope(() => {
        const loss = mox.nn.functional.crossEntropy(m.forward(x), y);
        loss.backward();
        mox.optim.clipGradNorm(m.parameters(), 1);
        opt.step();
        opt.zeroGrad();
        return mox.keep(loss.detach());
      });
      return l.itemAsync().finally(() => l.dispose());
    };
    for (let i = 0; i < 5; i++) await step();
    const before = { ...mox.memory(), live: backend.engine.stats.live, pooled: backend.engine.stats.pooled };
    let last = 0;
    for (let i = 0; i < 60; i++) last = await step();
    const after = { ...mox.memory(), live: backend.engine.stats.live, pooled: backend.engine.stats.pooled };
    // tensors an earlier test left to the garbage collector may be freed meanwhile: nothing may grow
    assert.ok(
      after.numTensors <= before.numTensors && after.numBytes <= before.numBytes,
      `${JSON.stringify(before)} -> ${JSON.stringify(after)}`,
    );
    assert.equal(after.live + after.pooled, before.live + before.pooled, 'no GPU buffer was created: every step reused pooled ones');
    mox.emptyCache('webgpu');
    assert.equal(backend.engine.stats.pooled, 0, 'emptyCache frees the pool');
    assert.equal(await step().then(Number.isFinite), true, 'training goes on after emptyCache');
    assert.ok(Number.isFinite(last));
  });

  it('a conv net step (conv, batch norm, pooling, dropout off, SGD with momentum) matches the CPU', async () => {
    const make = (): mox.nn.Module => {
      mox.seed(3);
      return new nn.Sequential(
        new nn.Conv2d(1, 4, 3, { padding: 1 }),
        new nn.BatchNorm2d(4),
        new nn.ReLU(),
        new nn.MaxPool2d(2),
        new nn.Flatten(),
        new nn.Linear(4 * 4 * 4, 3),
      );
    };
    const x = mox.randn([5, 1, 8, 8], { generator: new mox.Generator(4) });
    const y = mox.tensor([0, 1, 2, 1, 0]);
    const runs: mox.nn.Module[] = [];
    for (const device of ['cpu', 'webgpu']) {
      const m = make().to(device);
      const opt = new mox.optim.SGD(m.parameters(), { lr: 0.1, momentum: 0.9 });
      for (let s = 0; s < 2; s++) {
        mox.scope(() => {
          const loss = mox.nn.functional.crossEntropy(m.forward(x.to(device)), y.to(device));
          loss.backward();
          opt.step();
          opt.zeroGrad();
        });
      }
      runs.push(m);
    }
    const [c, g] = runs as [mox.nn.Module, mox.nn.Module];
    const sc = c.stateDict();
    for (const [k, t] of Object.entries(g.stateDict())) await assertClose(t, sc[k]!, 1e-4, 1e-5, k);
  });

  it('generateAsync on the GPU gives the tokens generate gives on the CPU', async () => {
    mox.seed(11);
    const model = new mox.models.GPT({ vocabSize: 17, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 16 });
    const cpu = mox.models.generate(model, [[1, 2, 3]], { maxNewTokens: 8, temperature: 0 });
    model.to('webgpu');
    const res = await mox.models.generateAsync(model, [[1, 2, 3]], { maxNewTokens: 8, temperature: 0 });
    assert.deepEqual(res.newTokens, cpu.newTokens);
    assert.equal(res.ids.device, 'webgpu');
    assert.throws(() => mox.models.generate(model, [[1, 2, 3]], { maxNewTokens: 1 }), mox.DeviceError);
  });
});

describe('webgpu: the LSTM language model', () => {
  it('trains a step and generates on the GPU as on the CPU (generateAsync)', async () => {
    const make = (): InstanceType<typeof mox.models.LSTMLanguageModel> => {
      mox.seed(9);
      return new mox.models.LSTMLanguageModel({ vocabSize: 13, embedDim: 8, hiddenSize: 12, numLayers: 2 });
    };
    const ids = mox.tensor([
      [1, 2, 3, 4, 5],
      [6, 7, 8, 9, 10],
    ]);
    const tgt = mox.tensor([
      [2, 3, 4, 5, 6],
      [7, 8, 9, 10, 11],
    ]);
    const cpu = make();
    const g = make().to('webgpu');
    const lc = cpu.loss(ids, tgt).loss;
    const lg = g.loss(ids.to('webgpu'), tgt.to('webgpu')).loss;
    await assertClose(lg, lc, 1e-5, 1e-5, 'loss');
    lc.backward();
    lg.backward();
    const gc = Object.fromEntries(cpu.namedParameters());
    for (const [k, p] of g.namedParameters()) await assertClose(p.grad!, gc[k]!.grad!, 1e-4, 1e-5, `${k}.grad`);
    const want = cpu.generate([[1, 2]], { maxNewTokens: 6, temperature: 0 });
    assert.deepEqual(await g.generateAsync([[1, 2]], { maxNewTokens: 6, temperature: 0 }), want);
    assert.throws(() => g.generate([[1, 2]], { maxNewTokens: 1 }), mox.DeviceError);
  });
});

describe('webgpu: mox train gpt --device webgpu', () => {
  it('trains, logs the device, and writes a checkpoint that generates on the CPU', () => {
    const text = 'the quick brown fox jumps over the lazy dog. '.repeat(40);
    const file = path.join(dir, 'corpus.txt');
    fs.writeFileSync(file, text);
    const out = path.join(dir, 'run');
    const main = path.resolve('dist/src/cli/main.js');
    const r = spawnSync(
      process.execPath,
      [
        main,
        'train',
        'gpt',
        '--data',
        file,
        '--out',
        out,
        '--device',
        'webgpu',
        '--n-layer',
        '1',
        '--n-head',
        '2',
        '--n-embd',
        '16',
        '--block-size',
        '16',
        '--batch-size',
        '4',
        '--max-iters',
        '6',
        '--eval-interval',
        '3',
        '--eval-iters',
        '2',
        '--warmup-iters',
        '1',
      ],
      { encoding: 'utf8', timeout: 600_000 },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /device webgpu/);
    assert.match(r.stdout, /step 6: train loss \d/);
    for (const f of ['config.json', 'model.safetensors', 'optimizer.safetensors', 'trainer_state.json'])
      assert.ok(fs.existsSync(path.join(out, f)), f);
    const g = spawnSync(process.execPath, [main, 'generate', '--model', out, '--prompt', 'the', '--max-new-tokens', '5'], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(g.status, 0, g.stderr);
    assert.match(g.stdout, /^the/);
    // greedy decoding gives the same tokens on both devices
    const greedy = (device: string): string => {
      const r = spawnSync(
        process.execPath,
        [main, 'generate', '--model', out, '--prompt', 'the', '--max-new-tokens', '6', '--temperature', '0', '--json', '--device', device],
        { encoding: 'utf8', timeout: 120_000 },
      );
      assert.equal(r.status, 0, r.stderr);
      if (device === 'webgpu') assert.match(r.stderr, /on webgpu/);
      return r.stdout;
    };
    assert.equal(greedy('webgpu'), greedy('cpu'));
    const bad = spawnSync(process.execPath, [main, 'train', 'gpt', '--data', file, '--out', out, '--device', 'tpu'], { encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--device must be cpu or webgpu/);
  });
});
