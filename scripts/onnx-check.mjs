// ONNX export at real sizes, checked in ONNX Runtime: the MNIST CNN (examples/small-cnn.ts), the
// text CNN of examples/text-cnn-rt-polarity.ts (its defaults and rt-polarity's vocabulary size), the
// GPT that `mox train gpt` builds by default (Tiny Shakespeare's 65 characters) and, with --gpt2, a GPT
// of GPT-2 small's shape (124M parameters, a 0.5 GB file). Random weights (seeded): what is checked is
// the file, not a training run. For each model: parameters, file size, export and session-creation
// seconds, and the largest |ONNX Runtime - mox| over two input shapes other than any the export saw.
//
//   npm run build && node scripts/onnx-check.mjs [--gpt2]
//
// Timings are one run on this machine (onnxruntime-web's WASM build, 1 thread), for scale only.

import * as ort from 'onnxruntime-web';
import * as mox from '../dist/src/index.js';
import { smallCnn } from '../dist/examples/small-cnn.js';

ort.env.wasm.numThreads = 1;
const withGpt2 = process.argv.includes('--gpt2');

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
