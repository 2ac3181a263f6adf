// ONNX export: each exportable model (an MLP, the CNN of examples/small-cnn.ts and a CNN with the other
// layers, the text CNN, the GPT) is exported, run in ONNX Runtime (onnxruntime-web's WebAssembly build,
// offline in Node) and compared with mox's eval-mode forward within 1e-4, at batch sizes and sequence
// lengths other than any used while exporting (the axes are dynamic). Then `mox export-onnx` on
// checkpoint folders, and the errors.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-web';
import * as mox from '../src/index.js';
import type { Tensor } from '../src/index.js';
import { ValueError } from '../src/errors.js';
import { exportONNX, decodeModel, saveONNX, ONNX_OPSET } from '../src/onnx/index.js';
import { GPT } from '../src/models/gpt.js';
import { TextCNN } from '../src/models/text-cnn.js';
import { LSTMLanguageModel } from '../src/models/lstm-lm.js';
import { saveGPTWeights } from '../src/models/gpt-checkpoint.js';
import { saveLSTM } from '../src/models/lstm-checkpoint.js';
import { loadClassifier, saveClassifier } from '../src/models/classifier-checkpoint.js';
import { quantize } from '../src/quant/quantize.js';
import { WordTokenizer } from '../src/text/word.js';
import { runQuantize } from '../src/cli/commands/quantize.js';
import { smallCnn } from '../examples/small-cnn.js';
import { assertClose } from '../test-support/assert.js';
import { runMox, moxOk } from '../test-support/cli.js';

ort.env.wasm.numThreads = 1;
const { nn } = mox;
const TOL = { atol: 1e-4, rtol: 0 };

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mox-onnx-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

async function session(bytes: Uint8Array): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(bytes);
}

async function runFloat(s: ort.InferenceSession, x: Tensor): Promise<ort.Tensor> {
  const out = await s.run({ [s.inputNames[0]!]: new ort.Tensor('float32', x.dataSync() as Float32Array, [...x.shape]) });
  return out[s.outputNames[0]!]!;
}

async function runIds(s: ort.InferenceSession, ids: Tensor): Promise<ort.Tensor> {
  const data = BigInt64Array.from(Array.from(ids.dataSync() as Int32Array, (v) => BigInt(v)));
  const out = await s.run({ input_ids: new ort.Tensor('int64', data, [...ids.shape]) });
  return out[s.outputNames[0]!]!;
}

function randomIds(shape: [number, number], vocab: number, seed: number): Tensor {
  let s = seed;
  const data = Int32Array.from({ length: shape[0] * shape[1] }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s % vocab;
  });
  return mox.tensor(data, { shape, dtype: 'int32' });
}

/**
 * Weights far from a fresh GPT's (N(0, 0.02), unit LayerNorms, zero biases), so that a wrong attention
 * scale, mask, GELU or LayerNorm input shows: attention scores of order 1 and more, GELU inputs over
 * [-4, 4], and random LayerNorm scales and biases and Linear biases.
 */
function widen(model: GPT): void {
  mox.noGrad(() => {
    for (const [name, p] of model.namedParameters()) {
      let k = 1;
      if (name.endsWith('attn.c_attn.weight')) k = 25;
      else if (name.endsWith('mlp.c_fc.weight')) k = 15;
      if (k !== 1) p.copy_(p.mul(k));
      if (name.endsWith('.bias') || name.includes('ln_')) p.copy_(p.add(mox.rand(p.shape).sub(0.5).mul(0.6)));
    }
  });
}

function checkAgainstOrt(got: ort.Tensor, want: Tensor, what: string): void {
  assert.deepEqual([...got.dims], [...want.shape], `${what}: shape`);
  assertClose(got.data as Float32Array, want.dataSync() as Float32Array, { ...TOL, msg: what });
}

test('the file: ModelProto with opset 17, IR 8, symbolic batch axis, weights as initializers', async () => {
  mox.seed(1);
  const mlp = new nn.Sequential(new nn.Linear(6, 4), new nn.ReLU(), new nn.Linear(4, 3));
  const ex = await exportONNX(mlp);
  const m = decodeModel(ex.bytes) as {
    ir_version: number;
    opset_import: { version: number }[];
    producer_name: string;
    graph: {
      node: { op_type: string }[];
      initializer: { name: string; dims: number[] }[];
      input: { type: { tensor_type: { shape: { dim: unknown[] } } } }[];
    };
  };
  assert.equal(m.ir_version, 8);
  assert.deepEqual(
    m.opset_import.map((o) => o.version),
    [ONNX_OPSET],
  );
  assert.equal(m.producer_name, 'mox');
  assert.deepEqual(
    m.graph.node.map((n) => n.op_type),
    ['Gemm', 'Relu', 'Gemm', 'Identity'],
  );
  assert.deepEqual(
    m.graph.initializer.map((i) => [i.name, i.dims]),
    [
      ['0.weight', [4, 6]],
      ['0.bias', [4]],
      ['2.weight', [3, 4]],
      ['2.bias', [3]],
    ],
  );
  assert.deepEqual(m.graph.input[0]!.type.tensor_type.shape.dim, [{ dim_param: 'batch' }, { dim_value: 6 }]);
  assert.deepEqual(ex.outputs, [{ name: 'output', dtype: 'float32', shape: ['batch', 3] }]);
});

test('MLP (Linear, GELU, Dropout, BatchNorm1d, SiLU, LayerNorm, Softmax) matches ONNX Runtime at batch 1 and 7', async () => {
  mox.seed(2);
  const mlp = new nn.Sequential(
    new nn.Linear(20, 32),
    new nn.BatchNorm1d(32),
    new nn.GELU('tanh'),
    new nn.Dropout(0.4),
    new nn.Linear(32, 16),
    new nn.SiLU(),
    new nn.LayerNorm(16),
    new nn.LeakyReLU(0.1),
    new nn.Linear(16, 5),
    new nn.Softmax(-1),
  );
  // running statistics that are not the initial 0 and 1: a few train-mode batches
  mox.noGrad(() => {
    for (let i = 0; i < 3; i++) mlp.forward(mox.randn([16, 20]).mul(2).add(1));
  });
  mlp.eval();
  const s = await session((await exportONNX(mlp)).bytes);
  for (const n of [1, 7]) {
    const x = mox.randn([n, 20]);
    checkAgainstOrt(
      await runFloat(s, x),
      mox.noGrad(() => mlp.forward(x)),
      `mlp batch ${n}`,
    );
  }
  assert.equal(mlp.training, false);
});

test('each activation alone matches ONNX Runtime to float32 rounding (2e-6) over [-6, 6]', async () => {
  // composed activations (both GELUs, SiLU) must use the exact constants: a tight tolerance, and inputs
  // wide enough that a constant off by 0.3% (0.0446 for 0.044715) shows
  mox.seed(10);
  const x = mox.rand([4, 96]).mul(12).sub(6);
  for (const act of [
    new nn.GELU('tanh'),
    new nn.GELU('none'),
    new nn.SiLU(),
    new nn.ReLU(),
    new nn.LeakyReLU(0.2),
    new nn.Sigmoid(),
    new nn.Tanh(),
    new nn.Softplus(),
    new nn.Softmax(1),
    new nn.LogSoftmax(-1),
  ]) {
    const model = new nn.Sequential(act);
    const s = await session((await exportONNX(model, { inputShape: [96] })).bytes);
    const got = await runFloat(s, x);
    assertClose(got.data as Float32Array, mox.noGrad(() => model.forward(x)).dataSync() as Float32Array, {
      atol: 2e-6,
      rtol: 1e-6,
      msg: act.constructor.name + (act instanceof nn.GELU ? `(${act.approximate})` : ''),
    });
  }
});

test("examples/small-cnn.ts's CNN (Conv2d, ReLU, MaxPool2d, Flatten, Linear) matches ONNX Runtime at batch 2 and 5", async () => {
  mox.seed(3);
  const cnn = smallCnn(1, 28);
  cnn.train(); // the export is eval-mode whatever the flag; the flag is left as it was
  const ex = await exportONNX(cnn, { inputShape: [1, 28, 28] });
  assert.equal(cnn.training, true);
  assert.deepEqual(ex.inputs[0]!.shape, ['batch', 1, 28, 28]);
  assert.deepEqual(ex.outputs[0]!.shape, ['batch', 10]);
  cnn.eval();
  const s = await session(ex.bytes);
  for (const n of [2, 5]) {
    const x = mox.rand([n, 1, 28, 28]);
    checkAgainstOrt(
      await runFloat(s, x),
      mox.noGrad(() => cnn.forward(x)),
      `small-cnn batch ${n}`,
    );
  }
});

test('a CNN with same padding, stride, dilation, groups, BatchNorm2d, AvgPool2d, exact GELU: symbolic height and width', async () => {
  mox.seed(4);
  const cnn = new nn.Sequential(
    new nn.Conv2d(3, 5, [4, 3], { padding: 'same' }), // even: the extra row of padding goes at the end, as PyTorch
    new nn.Conv2d(5, 8, 2, { padding: 'same', dilation: [1, 2] }),
    new nn.BatchNorm2d(8),
    new nn.GELU(),
    new nn.Conv2d(8, 8, 3, { stride: 2, padding: 1, groups: 2 }),
    new nn.Tanh(),
    new nn.MaxPool2d(2, { stride: 1, dilation: 2 }),
    new nn.Conv2d(8, 6, [2, 3], { dilation: [1, 2], bias: false }),
    new nn.Sigmoid(),
    new nn.AvgPool2d(2, { padding: 1, countIncludePad: false }),
    new nn.Flatten(),
  );
  mox.noGrad(() => cnn.forward(mox.randn([4, 3, 17, 19])));
  cnn.eval();
  const ex = await exportONNX(cnn);
  assert.deepEqual(ex.inputs[0]!.shape, ['batch', 3, 'height', 'width']);
  const s = await session(ex.bytes);
  for (const [n, h, w] of [
    [1, 17, 19],
    [3, 12, 14],
  ] as const) {
    const x = mox.randn([n, 3, h, w]);
    checkAgainstOrt(
      await runFloat(s, x),
      mox.noGrad(() => cnn.forward(x)),
      `cnn ${n}x3x${h}x${w}`,
    );
  }
});

test('TextCNN matches ONNX Runtime at other batch sizes and lengths, shorter than its widest window included', async () => {
  mox.seed(5);
  const model = new TextCNN({ vocabSize: 50, embedDim: 8, numClasses: 3, kernelSizes: [2, 3, 5], numFilters: 6 });
  model.eval();
  const ex = await exportONNX(model);
  assert.deepEqual(ex.inputs, [{ name: 'input_ids', dtype: 'int64', shape: ['batch', 'sequence'] }]);
  const s = await session(ex.bytes);
  for (const [n, len, seed] of [
    [1, 3, 1],
    [4, 11, 2],
    [2, 5, 3],
  ] as const) {
    const ids = randomIds([n, len], 50, seed);
    checkAgainstOrt(
      await runIds(s, ids),
      mox.noGrad(() => model.forward(ids)),
      `text-cnn ${n}x${len}`,
    );
  }
});

test('GPT (tied head, GELU tanh) matches ONNX Runtime at batch 1..3 and lengths 1..blockSize', async () => {
  mox.seed(6);
  const gpt = new GPT({ vocabSize: 40, blockSize: 16, nLayer: 2, nHead: 4, nEmbd: 16 });
  widen(gpt);
  gpt.eval();
  const ex = await exportONNX(gpt);
  assert.deepEqual(ex.outputs, [{ name: 'logits', dtype: 'float32', shape: ['batch', 'sequence', 40] }]);
  const names = (decodeModel(ex.bytes) as { graph: { initializer: { name: string }[] } }).graph.initializer.map((i) => i.name);
  assert.ok(!names.includes('lm_head.weight'), 'the tied head reuses transformer.wte.weight');
  const s = await session(ex.bytes);
  for (const [n, len, seed] of [
    [1, 1, 1],
    [3, 9, 2],
    [2, 16, 3],
  ] as const) {
    const ids = randomIds([n, len], 40, seed);
    checkAgainstOrt(
      await runIds(s, ids),
      mox.noGrad(() => gpt.forward(ids).logits),
      `gpt ${n}x${len}`,
    );
  }
});

test('GPT without biases, untied, exact GELU, with pruned heads, matches ONNX Runtime', async () => {
  mox.seed(7);
  const gpt = new GPT({
    vocabSize: 30,
    blockSize: 12,
    nLayer: 2,
    nHead: 4,
    nEmbd: 16,
    bias: false,
    tiedEmbeddings: false,
    geluApproximate: 'none',
    prunedHeads: { 1: [0, 2] },
  });
  widen(gpt);
  gpt.eval();
  const s = await session((await exportONNX(gpt)).bytes);
  const ids = randomIds([2, 7], 30, 4);
  checkAgainstOrt(
    await runIds(s, ids),
    mox.noGrad(() => gpt.forward(ids).logits),
    'gpt variant 2x7',
  );
});

test('exportONNX refuses what it cannot export, naming the layer', async () => {
  const lstm = new LSTMLanguageModel({ vocabSize: 10, embedDim: 4, hiddenSize: 4, numLayers: 1 });
  await assert.rejects(exportONNX(lstm), (e: Error) => e instanceof ValueError && /cannot export a LSTMLanguageModel/.test(e.message));
  const rnn = new nn.Sequential(new nn.Linear(4, 4), new nn.LSTM(4, 4));
  await assert.rejects(exportONNX(rnn), (e: Error) => e instanceof ValueError && /layer '1' of a Sequential is a LSTM/.test(e.message));
  const flat = new nn.Sequential(new nn.Conv2d(1, 2, 3), new nn.Flatten(2));
  await assert.rejects(exportONNX(flat), /only Flatten\(1, -1\)/);
  const q = quantize(new GPT({ vocabSize: 32, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 32 }), { scheme: 'int8' });
  await assert.rejects(exportONNX(q), /the GPT is quantized/);
  await assert.rejects(exportONNX(new nn.Sequential(new nn.ReLU())), /pass inputShape/);
});

test('saveClassifier / loadClassifier round-trip a Sequential and a TextCNN', async () => {
  mox.seed(8);
  const cnn = smallCnn(1, 28);
  cnn.eval();
  const dir = path.join(tmp, 'rt-cnn');
  await saveClassifier(dir, cnn, { inputShape: [1, 28, 28] });
  const back = loadClassifier(dir);
  assert.equal(back.kind, 'sequential');
  assert.deepEqual(back.inputShape, [1, 28, 28]);
  const x = mox.rand([2, 1, 28, 28]);
  assertClose(
    mox.noGrad(() => back.model.forward(x) as Tensor),
    mox.noGrad(() => cnn.forward(x)),
    { atol: 0, rtol: 0 },
  );
  await assert.rejects(saveClassifier(dir, cnn), /already holds/);
  assert.equal(back.tokenizer, null);
  // a text CNN with its tokenizer: the folder turns text into the ids the model (and its ONNX file) take
  const tok = WordTokenizer.fromCorpus(['the cat sat on the mat', 'a dog ran']);
  const tc = new TextCNN({ vocabSize: tok.vocabSize, embedDim: 4, numClasses: 2, kernelSizes: [2, 3], numFilters: 3 });
  await saveClassifier(path.join(tmp, 'rt-tc'), tc, { tokenizer: tok });
  const tcBack = loadClassifier(path.join(tmp, 'rt-tc'));
  assert.ok(tcBack.model instanceof TextCNN);
  assert.deepEqual(tcBack.model.config, tc.config);
  assert.deepEqual(tcBack.tokenizer?.encode('the dog sat'), tok.encode('the dog sat'));
  const small = new TextCNN({ vocabSize: 3, embedDim: 4, numClasses: 2, kernelSizes: [2], numFilters: 3 });
  await assert.rejects(
    saveClassifier(path.join(tmp, 'rt-small'), small, { tokenizer: tok }),
    /the tokenizer has \d+ ids, the TextCNN's embedding only 3/,
  );
  // a config.json that claims more weights than the file holds is refused before anything is built
  const cfgFile = path.join(dir, 'config.json');
  const cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8'));
  cfg.sequential.layers[9].in_features = 1e9;
  fs.writeFileSync(cfgFile, JSON.stringify(cfg));
  assert.throws(() => loadClassifier(dir), /does not fit/);
});

// ---- the command ----

const gptDir = path.join(tmp, 'gpt');
const cnnDir = path.join(tmp, 'cnn');
const textDir = path.join(tmp, 'text-cnn');
let gptModel: GPT;
let cnnModel: mox.nn.Sequential;
let textModel: TextCNN;

test('setup: a GPT, a CNN and a text CNN checkpoint folder', async () => {
  mox.seed(9);
  gptModel = new GPT({ vocabSize: 24, blockSize: 10, nLayer: 1, nHead: 2, nEmbd: 8 });
  gptModel.eval();
  fs.mkdirSync(gptDir);
  await saveGPTWeights(gptDir, gptModel);
  fs.writeFileSync(path.join(gptDir, 'config.json'), JSON.stringify({ gpt: gptModel.config }));
  cnnModel = smallCnn(1, 28);
  cnnModel.eval();
  await saveClassifier(cnnDir, cnnModel, { inputShape: [1, 28, 28] });
  textModel = new TextCNN({ vocabSize: 30, embedDim: 5, numClasses: 4, kernelSizes: [3, 4], numFilters: 3 });
  textModel.eval();
  await saveClassifier(textDir, textModel);
});

test('mox export-onnx writes files that ONNX Runtime runs like mox', async () => {
  const gptFile = path.join(tmp, 'gpt.onnx');
  const out = moxOk(['export-onnx', '--model', gptDir, '--out', gptFile]);
  assert.match(
    out,
    /wrote .*gpt\.onnx: gpt, ONNX opset 17, .* input input_ids int64 \[batch, sequence\] -> output logits float32 \[batch, sequence, 24\]/,
  );
  const ids = randomIds([3, 6], 24, 5);
  checkAgainstOrt(
    await runIds(await session(fs.readFileSync(gptFile)), ids),
    mox.noGrad(() => gptModel.forward(ids).logits),
    'cli gpt',
  );

  const cnnFile = path.join(tmp, 'cnn.onnx');
  assert.match(
    moxOk(['export-onnx', '--model', cnnDir, '--out', cnnFile]),
    /sequential, .*input input float32 \[batch, 1, 28, 28\] -> output output float32 \[batch, 10\]/,
  );
  const x = mox.rand([2, 1, 28, 28]);
  checkAgainstOrt(
    await runFloat(await session(fs.readFileSync(cnnFile)), x),
    mox.noGrad(() => cnnModel.forward(x)),
    'cli cnn',
  );

  const textFile = path.join(tmp, 'text.onnx');
  moxOk(['export-onnx', '--model', textDir, '--out', textFile]);
  const tids = randomIds([2, 9], 30, 6);
  checkAgainstOrt(
    await runIds(await session(fs.readFileSync(textFile)), tids),
    mox.noGrad(() => textModel.forward(tids)),
    'cli text-cnn',
  );

  // an existing file needs --overwrite
  const again = runMox(['export-onnx', '--model', cnnDir, '--out', cnnFile]);
  assert.equal(again.code, 1, again.stderr);
  assert.match(again.stderr, /export-onnx: .*cnn\.onnx already exists; pass --overwrite to replace it/);
  moxOk(['export-onnx', '--model', cnnDir, '--out', cnnFile, '--overwrite']);
});

test('mox export-onnx: unknown folders, models it cannot export and bad flags are one clear line', async () => {
  const fails = (args: string[], code: number, pattern: RegExp): void => {
    const r = runMox(['export-onnx', ...args]);
    assert.equal(r.code, code, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr.trim().split('\n')[0]!, pattern);
  };
  const out = path.join(tmp, 'never.onnx');
  fails(['--model', path.join(tmp, 'missing'), '--out', out], 1, /export-onnx: no such folder: .*missing/);
  const empty = path.join(tmp, 'empty');
  fs.mkdirSync(empty);
  fails(['--model', empty, '--out', out], 1, /export-onnx: .*empty has no config\.json/);
  fs.writeFileSync(path.join(empty, 'config.json'), JSON.stringify({ model: 'resnet' }));
  fails(['--model', empty, '--out', out], 1, /names no model mox can export \(model "resnet"\)/);
  const lstmDir = path.join(tmp, 'lstm');
  await saveLSTM(lstmDir, new LSTMLanguageModel({ vocabSize: 10, embedDim: 4, hiddenSize: 4, numLayers: 1 }));
  fails(['--model', lstmDir, '--out', out], 1, /export-onnx: .*lstm holds an LSTM language model, which has no ONNX export/);
  const qDir = path.join(tmp, 'gpt-int8');
  await runQuantize({ model: gptDir, out: qDir, scheme: 'int8' }, () => {});
  fails(
    ['--model', qDir, '--out', out],
    1,
    /export-onnx: .*gpt-int8 is a quantized GPT \(int8\); ONNX export takes float weights: export the float checkpoint it came from/,
  );
  fails(['--model', gptDir, '--out', tmp], 1, /--out .* is a folder/);
  fails(['--model', gptDir], 2, /--out FILE\.onnx is required/);
  fails(['--model', cnnDir, '--out', out, '--input-shape', '1,x'], 2, /--input-shape must be positive integers/);
  assert.ok(!fs.existsSync(out));
});

// transformers' own logits for a Hugging Face GPT-2 folder, when it is there (made by the project's Python script)
const REF_DIR = path.resolve(process.env['MOX_HF_REF_DIR'] ?? path.join('..', 'shared', 'data', 'hf-gpt2-tiny'));
const refMissing = ['config.json', 'model.safetensors', 'reference.json'].filter((f) => !fs.existsSync(path.join(REF_DIR, f)));
test(`mox export-onnx of a Hugging Face GPT-2 folder: ONNX Runtime gives transformers' logits (${REF_DIR})`, {
  skip: refMissing.length ? `not in ${REF_DIR}: ${refMissing.join(', ')}` : false,
}, async () => {
  const ref = JSON.parse(fs.readFileSync(path.join(REF_DIR, 'reference.json'), 'utf8')) as {
    input_ids: number[][];
    logits: number[][][];
    greedy_prompt: number[] | number[][];
    greedy_output: number[] | number[][];
  };
  const file = path.join(tmp, 'hf-gpt2-tiny.onnx');
  moxOk(['export-onnx', '--model', REF_DIR, '--out', file]);
  const rows = ref.input_ids;
  const ids = mox.tensor(Int32Array.from(rows.flat()), { shape: [rows.length, rows[0]!.length], dtype: 'int32' });
  const got = await runIds(await session(fs.readFileSync(file)), ids);
  assert.deepEqual([...got.dims], [rows.length, rows[0]!.length, ref.logits[0]![0]!.length]);
  assertClose(got.data as Float32Array, ref.logits.flat(2), { ...TOL, msg: 'ONNX Runtime vs transformers' });
  // greedy decoding with the file (the whole sequence in at each step, the last position's argmax) gives
  // transformers' greedy tokens: the loop docs/onnx.md shows
  const s = await session(fs.readFileSync(file));
  const prompt = (Array.isArray(ref.greedy_prompt[0]) ? ref.greedy_prompt[0] : ref.greedy_prompt) as number[];
  const want = (Array.isArray(ref.greedy_output[0]) ? ref.greedy_output[0] : ref.greedy_output) as number[];
  const tokens = [...prompt];
  while (tokens.length < want.length) {
    const out = await s.run({ input_ids: new ort.Tensor('int64', BigInt64Array.from(tokens.map(BigInt)), [1, tokens.length]) });
    const logits = out['logits']!.data as Float32Array;
    const vocab = logits.length / tokens.length;
    const last = logits.subarray(logits.length - vocab);
    tokens.push(last.indexOf(Math.max(...last)));
  }
  assert.deepEqual(tokens, want);
});

test('saveONNX refuses to replace a file unasked', async () => {
  const file = path.join(tmp, 'lib.onnx');
  const mlp = new nn.Sequential(new nn.Linear(3, 2));
  await saveONNX(mlp, file);
  await assert.rejects(saveONNX(mlp, file), /already exists/);
  await saveONNX(mlp, file, { overwrite: true });
});
