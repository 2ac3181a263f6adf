// Quantization (issue 15, part 1): the weight format's arithmetic, the kernels of every CPU tier against
// the host reference, mox.quantize on a GPT (tied head, save and load, generate), the errors, and
// `mox quantize`. PyTorch's dynamic quantized Linear is the reference for dynamic-int8 (a fixture).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as mox from '../src/index.js';
import { GPT } from '../src/models/gpt.js';
import { generate } from '../src/models/gpt-generate.js';
import { loadGPT, saveGPTWeights } from '../src/models/gpt-checkpoint.js';
import { dequantizeWeight, quantizeWeight, quantLayout, roundEven } from '../src/backend/quant-format.js';
import { QuantizedWeight, quantizedEmbedding } from '../src/ops/quant.js';
import { QuantizedEmbedding, QuantizedLinear } from '../src/quant/layers.js';
import { quantizationBlock } from '../src/quant/files.js';
import { quantizationInfo } from '../src/quant/quantize.js';
import { moxOk, runMox, wordText } from '../test-support/cli.js';
import { quantKernelErrors } from '../test-support/quant-check.js';
import { cpuBackend } from '../src/backend/cpu/cpu-backend.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mox-quant-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

test('int8 rows: symmetric per channel, every weight within half a step', () => {
  const w = Float32Array.from([0.5, -1.27, 0.01, 0, 3, -3, 1.5, 0.75]);
  const p = quantizeWeight('int8', w, 2, 4);
  assert.equal(p.layout.rowBytes, 16);
  assert.deepEqual([...p.scales], [Math.fround(1.27 / 127), Math.fround(3 / 127)]);
  const q = new Int8Array(p.bytes.buffer);
  assert.deepEqual([...q.subarray(0, 4)], [50, -127, 1, 0]);
  assert.deepEqual([...q.subarray(16, 20)], [127, -127, 64, 32]); // 63.5 -> 64, 31.75 -> 32
  const back = dequantizeWeight(p);
  for (let i = 0; i < w.length; i++) assert.ok(Math.abs(back[i]! - w[i]!) <= p.scales[i < 4 ? 0 : 1]! / 2 + 1e-7);
  assert.equal(roundEven(2.5), 2);
  assert.equal(roundEven(-3.5), -4);
});

test("int4 follows llama.cpp's Q4_0: d = m / -8, q = min(15, trunc(w / d + 8.5)), nibbles j | j+16", () => {
  const w = new Float32Array(32);
  for (let j = 0; j < 32; j++) w[j] = (j - 10) / 10; // m = 2.1 (largest magnitude), d = -0.2625
  const p = quantizeWeight('int4', w, 1, 32);
  assert.deepEqual(quantLayout('int4', 1, 32), { scheme: 'int4', rows: 1, cols: 32, rowBytes: 16, groups: 1 });
  const d = p.scales[0]!;
  assert.equal(d, -0.262451171875); // -0.2625 rounded to float16, as the file stores it
  const id = 1 / Math.fround(2.1 / -8);
  for (let j = 0; j < 32; j++) {
    const byte = p.bytes[j & 15]!;
    const q = j < 16 ? byte & 15 : byte >> 4;
    assert.equal(q, Math.min(15, Math.trunc(Math.fround(Math.fround(w[j]! * Math.fround(id)) + 8.5))), `weight ${j}`);
  }
  // the largest magnitude maps exactly to -8 steps (q = 0) and back within float16's rounding
  const back = dequantizeWeight(p);
  assert.ok(Math.abs(back[31]! - 2.1) < 1e-3);
  // a ragged last group is padded with zeros, which stay zero
  const r = quantizeWeight(
    'int4',
    Float32Array.from({ length: 40 }, (_, i) => i - 20),
    1,
    40,
  );
  assert.equal(r.layout.groups, 2);
  const rb = dequantizeWeight(r);
  assert.equal(rb.length, 40);
  assert.ok(Math.abs(rb[39]! - 19) <= 20 / 8 / 2 + 1e-2, `${rb[39]}`);
});

test('the kernels of this tier agree with the host reference (odd shapes, strided rows, 1 and 2 threads)', () => {
  for (const { line, err } of quantKernelErrors()) assert.ok(err < 2e-6, `${line}: relative error ${err}`);
  mox.setNumThreads(2);
});

// the WebAssembly and TypeScript tiers, and each native level this CPU runs, but this process's own
// (checked by the test above)
const thisTier = String(mox.backendInfo()['kernels'] ?? '');
const nativeLevels = cpuBackend.rt?.native?.levels ?? [];
const tiers: [string, string][] = (
  [
    ['relaxed-simd', 'wasm-relaxed-simd'],
    ['simd', 'wasm-simd'],
    ['typescript', 'typescript'],
    ...nativeLevels.map((l): [string, string] => [`native-${l}`, `native-${l}`]),
  ] as [string, string][]
).filter(([, reported]) => reported !== thisTier);
for (const [tier, reported] of tiers) {
  test(`the kernels agree with the reference on the ${tier} tier too`, () => {
    const r = spawnSync(process.execPath, [path.resolve('dist/test-support/quant-check.js'), '--print'], {
      encoding: 'utf8',
      env: { ...process.env, MOX_CPU_KERNELS: tier },
      timeout: 120_000,
    });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { tier: string; results: { line: string; err: number }[] };
    assert.equal(out.tier, reported);
    assert.ok(out.results.length > 50);
    for (const { line, err } of out.results) assert.ok(err < 2e-6, `${tier}: ${line}: relative error ${err}`);
  });
}

function tinyGPT(seed = 3, tied = true): GPT {
  return new GPT({
    vocabSize: 65,
    blockSize: 32,
    nLayer: 2,
    nHead: 2,
    nEmbd: 64,
    tiedEmbeddings: tied,
    generator: new mox.Generator(seed),
  }).eval();
}

const IDS = mox.tensor([[1, 5, 9, 3, 7, 2, 64, 0]], { dtype: 'int32' });
const logitsOf = (m: GPT): Float32Array => Float32Array.from(mox.noGrad(() => m.forward(IDS).logits).dataSync());

function relErr(a: Float32Array, b: Float32Array): number {
  let e = 0;
  let mag = 0;
  for (let i = 0; i < a.length; i++) {
    e = Math.max(e, Math.abs(a[i]! - b[i]!));
    mag = Math.max(mag, Math.abs(b[i]!));
  }
  return e / mag;
}

for (const [scheme, tol] of [
  ['int8', 0.02],
  ['dynamic-int8', 0.03],
  ['int4', 0.25],
] as const) {
  test(`quantize a GPT to ${scheme}: tied head shares one table, logits near the float ones, save + load exact`, async () => {
    const m = tinyGPT();
    const f = logitsOf(m);
    const params = m.getNumParams(false);
    const same = mox.quantize(m, { scheme });
    assert.equal(same, m, 'quantize works in place and returns the model');
    assert.ok(m.lm_head instanceof QuantizedLinear && m.transformer.wte instanceof QuantizedEmbedding);
    assert.equal(m.lm_head.tiedTo, m.transformer.wte);
    assert.equal(m.getNumParams(false), params, 'a quantized weight counts as many values as the float one');
    const names = Object.keys(m.stateDict());
    assert.ok(names.includes('transformer.wte.weight') && names.includes('transformer.wte.weight_scale'));
    assert.ok(!names.some((n) => n.startsWith('lm_head')), 'the tied head is not listed');
    assert.ok(!names.some((n) => n.endsWith('row_sums')), 'row sums are derived, not saved');
    const q = logitsOf(m);
    assert.ok(relErr(q, f) < tol, `${scheme}: logits moved by ${relErr(q, f)}`);
    const info = quantizationInfo(m)!;
    assert.equal(info.modules.length, 2 * 4 + 2 + 1, 'per block c_attn, c_proj, c_fc, mlp.c_proj; wte, wpe; the head');
    assert.deepEqual(info.tied, [['lm_head', 'transformer.wte']]);

    const dir = path.join(tmp, `gpt-${scheme}`);
    fs.mkdirSync(dir);
    await saveGPTWeights(dir, m);
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ gpt: m.config, quantization: quantizationBlock(info) }));
    const { model } = loadGPT(dir);
    model.eval();
    assert.deepEqual(logitsOf(model), q, 'a saved and reloaded model gives the same logits, bit for bit');
    const out = mox.noGrad(() => generate(model, [[1, 2]], { maxNewTokens: 5, temperature: 0, useCache: true }));
    const again = mox.noGrad(() => generate(m, [[1, 2]], { maxNewTokens: 5, temperature: 0, useCache: false }));
    assert.deepEqual(out.newTokens, again.newTokens, 'generate with the KV cache equals the full forward');
  });
}

test('an untied head, skip patterns, and a quantized embedding lookup', () => {
  const m = tinyGPT(5, false);
  const f = logitsOf(m);
  mox.quantize(m, { scheme: 'int8', skip: ['lm_head', 'transformer.h.1.*'] });
  const info = quantizationInfo(m)!;
  assert.ok(m.lm_head instanceof mox.nn.Linear, 'lm_head was skipped');
  assert.deepEqual(info.skipped, [
    'transformer.h.1.attn.c_attn',
    'transformer.h.1.attn.c_proj',
    'transformer.h.1.mlp.c_fc',
    'transformer.h.1.mlp.c_proj',
    'lm_head',
  ]);
  assert.ok(relErr(logitsOf(m), f) < 0.02);
  const table = m.transformer.wte as QuantizedEmbedding;
  const rows = mox.noGrad(() =>
    quantizedEmbedding(
      mox.tensor(
        [
          [3, 0],
          [64, 3],
        ],
        { dtype: 'int32' },
      ),
      table.qweight,
    ),
  );
  assert.deepEqual(rows.shape, [2, 2, 64]);
  const all = table.qweight.dequantize().dataSync();
  assert.deepEqual([...rows.dataSync().slice(0, 64)], [...all.slice(3 * 64, 4 * 64)]);
  assert.throws(() => quantizedEmbedding(mox.tensor([65], { dtype: 'int32' }), table.qweight), /out of range/);
});

test('bad input: unknown scheme, quantized twice, LoRA, pruned, a backward pass, pruning a quantized layer', () => {
  assert.throws(
    () => mox.quantize(tinyGPT(), { scheme: 'int3' as never }),
    (e: Error) => e instanceof mox.ValueError && /unknown scheme 'int3'/.test(e.message),
  );
  const m = mox.quantize(tinyGPT(), { scheme: 'int4' });
  assert.throws(() => mox.quantize(m, { scheme: 'int8' }), /already quantized \(int4\)/);
  assert.throws(() => mox.quantize(tinyGPT(), { scheme: 'int8', skip: ['nothing.here'] }), /skip pattern 'nothing.here' matches no Linear/);
  const lora = tinyGPT();
  mox.lora.applyLora(lora, { r: 2, alpha: 4, dropout: 0, targetModules: ['c_attn'] });
  assert.throws(() => mox.quantize(lora, { scheme: 'int8' }), /carries LoRA adapters; merge them first/);
  const pruned = tinyGPT();
  mox.prune.l1Unstructured(pruned.transformer.h[0]!.mlp.c_fc, 'weight', { amount: 0.5 });
  assert.throws(() => mox.quantize(pruned, { scheme: 'int8' }), /pruning mask; make it permanent first/);
  assert.throws(() => mox.prune.l1Unstructured(m.lm_head, 'weight', { amount: 0.5 }), /is quantized \(int4\): prune the float model/);
  const x = mox.randn([2, 64], { requiresGrad: true });
  const y = (m.transformer.h[0]!.mlp.c_fc as unknown as QuantizedLinear).forward(x);
  assert.throws(
    () => y.sum().backward(),
    (e: Error) => e instanceof mox.AutogradError && /a quantized layer has no gradient/.test(e.message),
  );
  assert.throws(() => QuantizedWeight.quantize(mox.tensor([[1, Number.NaN]]), 'int8'), /non-finite value \(NaN\) at row 0, column 1/);
});

test('a corrupt quantized checkpoint: wrong dtype, wrong shape, non-finite scale, truncated', async () => {
  const m = mox.quantize(tinyGPT(), { scheme: 'int8' });
  const dir = path.join(tmp, 'corrupt');
  fs.mkdirSync(dir);
  await saveGPTWeights(dir, m);
  const config = { gpt: m.config, quantization: quantizationBlock(quantizationInfo(m)!) };
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  const good = fs.readFileSync(path.join(dir, 'model.safetensors'));
  // the file says int8, config.json says int4
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...config, quantization: { ...config.quantization, scheme: 'int4' } }));
  assert.throws(() => loadGPT(dir), /transformer.wte.weight: expected U8 \[65, 32\] for int4, the file has I8 \[65, 64\]/);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...config, quantization: { ...config.quantization, scheme: 'int2' } }));
  assert.throws(
    () => loadGPT(dir),
    (e: Error) => e instanceof mox.DataError && /unknown scheme "int2"/.test(e.message),
  );
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  // a scale that is NaN
  const { tensors } = mox.loadSafetensorsSync(path.join(dir, 'model.safetensors')); // decodes I8 as int32: check it reads
  assert.equal(tensors['transformer.wte.weight']!.dtype, 'int32');
  const bytes = new Uint8Array(good);
  const header = JSON.parse(
    new TextDecoder().decode(bytes.subarray(8, 8 + Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true)))),
  );
  const start =
    8 + Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true)) + header['transformer.wpe.weight_scale'].data_offsets[0];
  const bad = bytes.slice();
  new DataView(bad.buffer).setFloat32(start, Number.NaN, true);
  fs.writeFileSync(path.join(dir, 'model.safetensors'), bad);
  assert.throws(() => loadGPT(dir), /transformer.wpe.weight: scale 0 is NaN: the file is corrupt/);
  fs.writeFileSync(path.join(dir, 'model.safetensors'), good.subarray(0, good.length - 100));
  assert.throws(() => loadGPT(dir), mox.SafetensorsError);
});

test('mox quantize: writes a checkpoint generate and compress-report read; refuses to overwrite or requantize', () => {
  const data = path.join(tmp, 'words.txt');
  fs.writeFileSync(data, wordText(4000));
  const base = path.join(tmp, 'base');
  moxOk([
    'train',
    'gpt',
    '--data',
    data,
    '--out',
    base,
    '--n-layer',
    '1',
    '--n-head',
    '2',
    '--n-embd',
    '32',
    '--block-size',
    '16',
    '--max-iters',
    '2',
    '--eval-iters',
    '1',
    '--batch-size',
    '2',
    '--threads',
    '1',
  ]);
  const out = path.join(tmp, 'base-int4');
  const log = moxOk(['quantize', '--model', base, '--out', out, '--scheme', 'int4']);
  assert.match(log, /quantize: 7 layers to int4 \(lm_head tied to transformer.wte\)/);
  const cfg = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
  assert.equal(cfg.quantization.scheme, 'int4');
  assert.equal(cfg.quantization.group_size, 32);
  assert.ok(fs.existsSync(path.join(out, 'tokenizer.json')));
  const gen = moxOk(['generate', '--model', out, '--prompt', 'the cat', '--max-new-tokens', '8', '--seed', '1']);
  assert.ok(gen.startsWith('the cat'), gen);
  const report = JSON.parse(
    moxOk(['compress-report', '--model', base, '--compressed', out, '--data', data, '--eval-iters', '1', '--tokens', '4', '--json']),
  );
  assert.equal(report.compressed.quantization, 'int4');
  assert.equal(report.compressed.params, report.original.params);
  assert.ok(report.ratio.weightsBytes < 0.35, `int4 file ratio ${report.ratio.weightsBytes}`);
  const table = moxOk(['compress-report', '--model', base, '--compressed', out, '--tokens', '4', '--threads', '1']);
  assert.match(table, /^quantization\s+none\s+int4$/m);
  let r = runMox(['quantize', '--model', base, '--out', out, '--scheme', 'int8']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /already holds a checkpoint .*pass --overwrite/);
  moxOk(['quantize', '--model', base, '--out', out, '--scheme', 'int8', '--overwrite']);
  r = runMox(['quantize', '--model', out, '--out', path.join(tmp, 'twice'), '--scheme', 'int4']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /is already quantized \(int8\)/);
  r = runMox(['quantize', '--model', base, '--out', path.join(tmp, 'x'), '--scheme', 'fp8']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown scheme 'fp8' \(expected int8, int4, dynamic-int8\)/);
});

test("dynamic-int8 equals PyTorch's dynamic quantized Linear (reduce_range), row by row", () => {
  const file = path.resolve('test/fixtures/quant-dynamic.json');
  const g = JSON.parse(fs.readFileSync(file, 'utf8')) as {
    cases: { m: number; n: number; k: number; x: number[]; w: number[]; bias: number[]; y: number[] }[];
  };
  assert.equal(g.cases.length, 3);
  for (const c of g.cases) {
    const x = mox.tensor(Float32Array.from(c.x), { shape: [c.m, c.k] });
    const w = mox.tensor(Float32Array.from(c.w), { shape: [c.n, c.k] });
    const y = mox.noGrad(() =>
      mox.quant.quantizedLinear(x, QuantizedWeight.quantize(w, 'dynamic-int8'), mox.tensor(Float32Array.from(c.bias))),
    );
    assert.ok(
      relErr(Float32Array.from(y.dataSync()), Float32Array.from(c.y)) < 1e-5,
      `${c.m}x${c.n}x${c.k}: ${relErr(Float32Array.from(y.dataSync()), Float32Array.from(c.y))}`,
    );
  }
});
