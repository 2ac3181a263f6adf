// ONNX export at real sizes, checked in ONNX Runtime: the MNIST CNN (examples/small-cnn.ts), the
// text CNN of examples/text-cnn-rt-polarity.ts (its defaults and rt-polarity's vocabulary size), the
// GPT that `mox train gpt` builds by default (Tiny Shakespeare's 65 characters) and, with --gpt2, a GPT
// of GPT-2 small's shape (124M parameters, a 0.5 GB file). Random weights (seeded): what is checked is
// the file, not a training run. For each model: parameters, file size, export and session-creation
// seconds, and the largest |ONNX Runtime - mox| over two input shapes other than any the export saw.
//
// With --mnist, trained models on real data too: examples/mnist-mlp.ts's MLP (1 epoch on the 60,000
// training images) and the small CNN (1 epoch on the first 10,000), each scored on MNIST's 10,000 test
// images by mox and by ONNX Runtime running the exported file: both accuracies, and how many of the
// 10,000 predicted classes differ ($MOX_DATA_DIR or ../shared/data).
//
//   npm run build && node scripts/onnx-check.mjs [--gpt2] [--mnist]
//
// Timings are one run on this machine (onnxruntime-web's WASM build, 1 thread), for scale only.

import * as ort from 'onnxruntime-web';
import * as mox from '../dist/src/index.js';
import { smallCnn } from '../dist/examples/small-cnn.js';

ort.env.wasm.numThreads = 1;
const withGpt2 = process.argv.includes('--gpt2');
const withMnist = process.argv.includes('--mnist');

function maxAbsDiff(a, b) {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function ids(shape, vocab, seed) {
  let s = seed;
  const data = Int32Array.from({ length: shape[0] * shape[1] }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s % vocab;
  });
  return mox.tensor(data, { shape, dtype: 'int32' });
}

const feedOf = (x) =>
  x.dtype === 'int32'
    ? new ort.Tensor('int64', BigInt64Array.from(Array.from(x.dataSync(), (v) => BigInt(v))), [...x.shape])
    : new ort.Tensor('float32', x.dataSync(), [...x.shape]);

async function check(name, model, inputs, forward, opts = {}) {
  model.eval();
  const params = new Set(model.parameters());
  const nParams = [...params].reduce((n, p) => n + p.size, 0);
  let t = performance.now();
  const ex = await mox.onnx.exportONNX(model, opts);
  const exportS = (performance.now() - t) / 1000;
  t = performance.now();
  const s = await ort.InferenceSession.create(ex.bytes);
  const sessionS = (performance.now() - t) / 1000;
  let worst = 0;
  const shapes = [];
  for (const x of inputs) {
    const out = (await s.run({ [s.inputNames[0]]: feedOf(x) }))[s.outputNames[0]];
    const want = mox.noGrad(() => forward(x));
    if (out.dims.join() !== want.shape.join()) throw new Error(`${name}: ONNX Runtime gave [${out.dims}], mox [${want.shape}]`);
    worst = Math.max(worst, maxAbsDiff(out.data, want.dataSync()));
    shapes.push(`[${x.shape.join('x')}]`);
    want.dispose();
  }
  await s.release();
  const row = {
    model: name,
    parameters: nParams,
    file_mib: +(ex.bytes.length / 2 ** 20).toFixed(2),
    export_s: +exportS.toFixed(2),
    ort_session_s: +sessionS.toFixed(2),
    inputs: shapes.join(' '),
    max_abs_diff: worst,
  };
  console.log(JSON.stringify(row));
  if (!(worst <= 1e-4)) process.exitCode = 1;
}

mox.seed(0);
const cnn = smallCnn(1, 28);
await check('mnist-cnn', cnn, [mox.rand([1, 1, 28, 28]), mox.rand([64, 1, 28, 28])], (x) => cnn.forward(x), { inputShape: [1, 28, 28] });

// examples/text-cnn-rt-polarity.ts: embedDim 128, windows 3, 4, 5 of 100 filters, and the vocabulary (18,204
// words) and longest sentence (56) of its recorded run (docs/results.md)
const textCnn = new mox.models.TextCNN({ vocabSize: 18204, embedDim: 128, numClasses: 2, kernelSizes: [3, 4, 5], numFilters: 100 });
await check('text-cnn (rt-polarity shape)', textCnn, [ids([1, 4], 18204, 1), ids([32, 56], 18204, 2)], (x) => textCnn.forward(x));

// `mox train gpt`'s defaults on Tiny Shakespeare's characters
const shakespeare = new mox.models.GPT({ vocabSize: 65, blockSize: 64, nLayer: 4, nHead: 4, nEmbd: 128 });
await check('gpt (tiny shakespeare shape)', shakespeare, [ids([1, 1], 65, 3), ids([8, 64], 65, 4)], (x) => shakespeare.forward(x).logits);

if (withGpt2) {
  const gpt2 = new mox.models.GPT({ vocabSize: 50257, blockSize: 1024, nLayer: 12, nHead: 12, nEmbd: 768 });
  await check('gpt (GPT-2 small shape)', gpt2, [ids([1, 7], 50257, 5), ids([2, 128], 50257, 6)], (x) => gpt2.forward(x).logits);
}

async function mnistCheck(name, model, trainLimit) {
  const dataDir = process.env.MOX_DATA_DIR ?? '../shared/data';
  const train = await mox.data.loadDataset('mnist', { split: 'train', dataDir, limit: trainLimit, download: false });
  const test = await mox.data.loadDataset('mnist', { split: 'test', dataDir, download: false });
  mox.seed(0);
  model.compile({ optimizer: 'adam', lr: 1e-3, loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  await model.fit(train.x, train.y, { epochs: 1, batchSize: 64, verbose: 0 });
  model.eval();
  const ex = await mox.onnx.exportONNX(model, { inputShape: [1, 28, 28] });
  const s = await ort.InferenceSession.create(ex.bytes);
  const n = test.x.shape[0];
  const labels = test.y.dataSync();
  let moxRight = 0;
  let ortRight = 0;
  let differ = 0;
  let worst = 0;
  const chunk = 1000;
  for (let i = 0; i < n; i += chunk) {
    const m = Math.min(chunk, n - i);
    // the chunk's pixels and mox's logits as plain arrays; scope frees the tensors made on the way
    const [pixels, want] = mox.scope(() => {
      const x = test.x.narrow(0, i, m);
      return [x.dataSync(), mox.noGrad(() => model.forward(x)).dataSync()];
    });
    const got = (await s.run({ input: new ort.Tensor('float32', pixels, [m, 1, 28, 28]) })).output.data;
    worst = Math.max(worst, maxAbsDiff(got, want));
    for (let r = 0; r < m; r++) {
      const argmax = (a) => {
        let b = 0;
        for (let c = 1; c < 10; c++) if (a[r * 10 + c] > a[r * 10 + b]) b = c;
        return b;
      };
      const pm = argmax(want);
      const po = argmax(got);
      if (pm === labels[i + r]) moxRight++;
      if (po === labels[i + r]) ortRight++;
      if (pm !== po) differ++;
    }
  }
  console.log(
    JSON.stringify({
      model: name,
      trained_on: train.x.shape[0],
      test_images: n,
      mox_accuracy: moxRight / n,
      ort_accuracy: ortRight / n,
      predictions_that_differ: differ,
      max_abs_diff: worst,
    }),
  );
  if (!(worst <= 1e-4) || differ > 0) process.exitCode = 1;
}

if (withMnist) {
  const { nn } = mox;
  await mnistCheck(
    'mnist-mlp (examples/mnist-mlp.ts)',
    new nn.Sequential(new nn.Flatten(), new nn.Linear(784, 128), new nn.ReLU(), new nn.Dropout(0.2), new nn.Linear(128, 10)),
    undefined,
  );
  await mnistCheck('mnist-cnn (examples/small-cnn.ts)', smallCnn(1, 28), 10000);
}
