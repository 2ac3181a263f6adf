// Hugging Face GPT-2 folders: export -> import round trips (tied and untied heads), a hand-made
// transformers-layout folder (Conv1D [in, out] weights, attn.bias buffers, bare GPT2Model keys, F16),
// clear errors, `mox generate` and `mox export-hf` on such folders, and, when the reference folder
// ($MOX_HF_REF_DIR, default ../shared/data/hf-gpt2-tiny) exists, transformers' own logits and greedy tokens.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as mox from '../src/index.js';
import { GPT } from '../src/models/gpt.js';
import { generate } from '../src/models/gpt-generate.js';
import { loadGPT } from '../src/models/gpt-checkpoint.js';
import { exportHuggingFaceGPT2, isHuggingFaceGPT2Dir, loadHuggingFaceGPT2 } from '../src/models/hf-gpt2.js';
import { float32ToHalfBits, halfBitsToNumber } from '../src/base/float16.js';
import { maxAbsDiff } from '../test-support/assert.js';

const MAIN = path.resolve(process.cwd(), 'dist/src/cli/main.js');
const TINY = { vocabSize: 50, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 16 };

function mox_(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 120_000 });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'mox-hf-'));
}

function ids(): mox.Tensor {
  return mox.tensor(Int32Array.from([1, 7, 3, 49, 0, 12, 5, 5, 30, 2, 2, 8]), { shape: [2, 6], dtype: 'int32' });
}

function logits(m: GPT): Float32Array {
  return mox.scope(() =>
    mox.noGrad(() => {
      m.eval();
      const x = ids();
      const out = Float32Array.from(m.forward(x).logits.dataSync() as Float32Array);
      x.dispose();
      return out;
    }),
  );
}

/** Replaces every weight of m by fn(name, its values). */
function mapWeights(m: GPT, fn: (name: string, d: Float32Array) => void): void {
  const sd = m.stateDict();
  const fresh = Object.fromEntries(
    Object.entries(sd).map(([k, t]) => {
      const d = Float32Array.from(t.dataSync() as Float32Array);
      fn(k, d);
      return [k, mox.tensor(d, { shape: t.shape.slice() })];
    }),
  );
  m.loadStateDict(fresh);
  for (const t of Object.values(fresh)) t.dispose();
}

function randomModel(seed: number, tied: boolean): GPT {
  mox.seed(seed);
  const m = new GPT({ ...TINY, tiedEmbeddings: tied });
  // non-zero biases and LayerNorm affines, so a wrong mapping cannot hide behind zeros and ones
  const g = new mox.Generator(seed + 100);
  mapWeights(m, (name, d) => {
    if (name.endsWith('.bias') || name.includes('ln_')) for (let i = 0; i < d.length; i++) d[i] = d[i]! + (g.random() - 0.5) * 0.2;
  });
  assert.notEqual(m.transformer.h[0]!.attn.c_attn.bias!.dataSync()[0], 0);
  return m;
}

interface StEntry {
  dtype: 'F32' | 'F16';
  shape: number[];
  data: Float32Array;
}

/** Writes a safetensors file by hand (F32 or F16), as transformers would. */
function writeSafetensors(file: string, entries: Record<string, StEntry>): void {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  const chunks: Uint8Array[] = [];
  let off = 0;
  for (const [name, e] of Object.entries(entries)) {
    let bytes: Uint8Array;
    if (e.dtype === 'F32') bytes = new Uint8Array(Float32Array.from(e.data).buffer);
    else bytes = new Uint8Array(Uint16Array.from(e.data, (x) => float32ToHalfBits(x)).buffer);
    header[name] = { dtype: e.dtype, shape: e.shape, data_offsets: [off, off + bytes.length] };
    chunks.push(bytes);
    off += bytes.length;
  }
  let h = JSON.stringify(header);
  while ((8 + h.length) % 8 !== 0) h += ' ';
  const hb = new TextEncoder().encode(h);
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(hb.length), true);
  fs.writeFileSync(file, Buffer.concat([len, hb, ...chunks]));
}

function transpose(d: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(d.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = d[i * cols + j]!;
  return out;
}

/** A transformers-layout folder made by hand from a mox model's weights (Conv1D weights transposed). */
function handMadeFolder(
  m: GPT,
  opts: { dtype?: 'F32' | 'F16'; prefix?: string; config?: Record<string, unknown>; edit?: (e: Record<string, StEntry>) => void } = {},
): string {
  const dir = tmpDir();
  const dtype = opts.dtype ?? 'F32';
  const prefix = opts.prefix ?? 'transformer.';
  const e: Record<string, StEntry> = {};
  const c = m.config.nEmbd;
  for (const [name, t] of Object.entries(m.stateDict())) {
    let d: Float32Array = Float32Array.from(t.dataSync() as Float32Array);
    let shape = t.shape.slice();
    if (/\.(c_attn|c_proj|c_fc)\.weight$/.test(name)) {
      d = transpose(d, shape[0]!, shape[1]!);
      shape = [shape[1]!, shape[0]!];
    }
    const key = name === 'lm_head.weight' ? name : prefix + name.slice('transformer.'.length);
    e[key] = { dtype, shape, data: d };
  }
  const T = m.config.blockSize;
  for (let i = 0; i < m.config.nLayer; i++) {
    const mask = new Float32Array(T * T);
    for (let r = 0; r < T; r++) for (let k = 0; k <= r; k++) mask[r * T + k] = 1;
    e[`${prefix}h.${i}.attn.bias`] = { dtype: 'F32', shape: [1, 1, T, T], data: mask };
    e[`${prefix}h.${i}.attn.masked_bias`] = { dtype: 'F32', shape: [], data: Float32Array.of(-1e4) };
  }
  opts.edit?.(e);
  writeSafetensors(path.join(dir, 'model.safetensors'), e);
  const cfg = m.config;
  fs.writeFileSync(
    path.join(dir, 'config.json'),
    JSON.stringify({
      architectures: ['GPT2LMHeadModel'],
      model_type: 'gpt2',
      vocab_size: cfg.vocabSize,
      n_positions: cfg.blockSize,
      n_embd: c,
      n_layer: cfg.nLayer,
      n_head: cfg.nHead,
      n_inner: null,
      activation_function: 'gelu_new',
      layer_norm_epsilon: 1e-5,
      ...(cfg.tiedEmbeddings ? {} : { tie_word_embeddings: false }),
      ...opts.config,
    }),
  );
  return dir;
}

for (const tied of [true, false]) {
  test(`hf-gpt2: export -> import gives identical logits (${tied ? 'tied' : 'untied'} head)`, () => {
    const m = randomModel(tied ? 1 : 2, tied);
    const dir = tmpDir();
    exportHuggingFaceGPT2(m, dir);
    assert.ok(isHuggingFaceGPT2Dir(dir));
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(config['model_type'], 'gpt2');
    assert.equal(config['tie_word_embeddings'], tied);
    assert.equal(config['n_positions'], TINY.blockSize);
    const { tensors, metadata } = mox.loadSafetensorsSync(path.join(dir, 'model.safetensors'));
    assert.equal(metadata['format'], 'pt');
    assert.equal('lm_head.weight' in tensors, !tied);
    assert.deepEqual(tensors['transformer.h.0.attn.c_attn.weight']!.shape, [16, 48], 'Conv1D layout [in, out]');
    assert.deepEqual(tensors['transformer.h.1.mlp.c_proj.weight']!.shape, [64, 16]);
    for (const t of Object.values(tensors)) t.dispose();
    const back = loadHuggingFaceGPT2(dir);
    assert.equal(back.config.tiedEmbeddings, tied);
    assert.equal(maxAbsDiff(logits(back), logits(m)), 0);
    // the library's loader and the folder check agree
    const viaLoadGPT = loadGPT(dir).model;
    assert.equal(maxAbsDiff(logits(viaLoadGPT), logits(m)), 0);
    fs.rmSync(dir, { recursive: true, force: true });
  });
}

test('hf-gpt2: a hand-made transformers folder (Conv1D weights, attn.bias buffers) matches the mox model', () => {
  for (const tied of [true, false]) {
    const m = randomModel(3, tied);
    const dir = handMadeFolder(m);
    const back = loadHuggingFaceGPT2(dir);
    assert.equal(back.config.tiedEmbeddings, tied);
    assert.ok(maxAbsDiff(logits(back), logits(m)) <= 1e-6);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  // the bare GPT2Model's keys (no 'transformer.' prefix)
  const m = randomModel(4, true);
  const bare = handMadeFolder(m, { prefix: '' });
  assert.ok(maxAbsDiff(logits(loadGPT(bare).model), logits(m)) <= 1e-6);
  fs.rmSync(bare, { recursive: true, force: true });
  // no tie_word_embeddings in config.json, and an lm_head.weight that differs from wte: an untied head
  const u = randomModel(5, false);
  const d2 = handMadeFolder(u, { config: { tie_word_embeddings: undefined } });
  const cfg = JSON.parse(fs.readFileSync(path.join(d2, 'config.json'), 'utf8')) as Record<string, unknown>;
  assert.ok(!('tie_word_embeddings' in cfg));
  const back = loadHuggingFaceGPT2(d2);
  assert.equal(back.config.tiedEmbeddings, false);
  assert.ok(maxAbsDiff(logits(back), logits(u)) <= 1e-6);
  fs.rmSync(d2, { recursive: true, force: true });
});

test('hf-gpt2: F16 weights load (widened to float32)', () => {
  const m = randomModel(6, true);
  const dir = handMadeFolder(m, { dtype: 'F16' });
  const back = loadHuggingFaceGPT2(dir);
  // the same model with every weight rounded to half precision
  const rounded = randomModel(6, true);
  mapWeights(rounded, (_, d) => {
    for (let i = 0; i < d.length; i++) d[i] = halfBitsToNumber(float32ToHalfBits(d[i]!));
  });
  const a = back.transformer.h[0]!.attn.c_attn.weight.dataSync();
  const b = rounded.transformer.h[0]!.attn.c_attn.weight.dataSync();
  assert.equal(maxAbsDiff(a, b), 0);
  assert.ok(maxAbsDiff(logits(back), logits(rounded)) <= 1e-6);
  assert.ok(maxAbsDiff(logits(back), logits(m)) < 1e-2, 'close to the float32 model too');
  fs.rmSync(dir, { recursive: true, force: true });
});

test('hf-gpt2: clear errors for missing keys, bad shapes and unsupported configurations', () => {
  const m = randomModel(7, true);
  const missing = handMadeFolder(m, {
    edit: (e) => {
      delete e['transformer.h.1.mlp.c_fc.bias'];
    },
  });
  assert.throws(
    () => loadHuggingFaceGPT2(missing),
    (e: Error) => e instanceof mox.DataError && /missing transformer\.h\.1\.mlp\.c_fc\.bias/.test(e.message),
  );
  const badShape = handMadeFolder(m, {
    edit: (e) => {
      const w = e['transformer.h.0.attn.c_attn.weight']!;
      e['transformer.h.0.attn.c_attn.weight'] = { ...w, shape: [48, 16] }; // nn.Linear's layout, not Conv1D's
    },
  });
  assert.throws(
    () => loadHuggingFaceGPT2(badShape),
    (e: Error) => e instanceof mox.ShapeError && /c_attn\.weight has shape \[48, ?16\], expected \[16, ?48\]/.test(e.message),
  );
  const extra = handMadeFolder(m, {
    edit: (e) => {
      e['transformer.h.2.ln_1.weight'] = { dtype: 'F32', shape: [16], data: new Float32Array(16) };
    },
  });
  assert.throws(() => loadHuggingFaceGPT2(extra), /does not have: transformer\.h\.2\.ln_1\.weight|does not have: h\.2\.ln_1\.weight/);
  const relu = handMadeFolder(m, { config: { activation_function: 'relu' } });
  assert.throws(
    () => loadHuggingFaceGPT2(relu),
    (e: Error) => e instanceof mox.DataError && /activation_function "relu" is not supported/.test(e.message),
  );
  const inner = handMadeFolder(m, { config: { n_inner: 32 } });
  assert.throws(() => loadHuggingFaceGPT2(inner), /n_inner 32 is not supported/);
  const noHead = handMadeFolder(m, { config: { tie_word_embeddings: false } });
  assert.throws(() => loadHuggingFaceGPT2(noHead), /tie_word_embeddings false but the file has no lm_head\.weight/);
  const noWeights = tmpDir();
  fs.writeFileSync(
    path.join(noWeights, 'config.json'),
    JSON.stringify({ model_type: 'gpt2', n_embd: 16, n_head: 2, n_layer: 2, n_positions: 16, vocab_size: 50 }),
  );
  fs.writeFileSync(path.join(noWeights, 'pytorch_model.bin'), 'x');
  assert.throws(() => loadGPT(noWeights), /has no model\.safetensors \(only pytorch_model\.bin/);
  for (const d of [missing, badShape, extra, relu, inner, noHead, noWeights]) fs.rmSync(d, { recursive: true, force: true });
});

test('hf-gpt2: layer_norm_epsilon other than 1e-5 is used and exported', () => {
  const m = randomModel(8, true);
  const dir = handMadeFolder(m, { config: { layer_norm_epsilon: 1e-3 } });
  const back = loadHuggingFaceGPT2(dir);
  assert.equal(back.transformer.ln_f.eps, 1e-3);
  assert.ok(maxAbsDiff(logits(back), logits(m)) > 0, 'eps changes the logits');
  const out = tmpDir();
  exportHuggingFaceGPT2(back, out);
  assert.equal(
    (JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')) as { layer_norm_epsilon: number }).layer_norm_epsilon,
    1e-3,
  );
  assert.equal(maxAbsDiff(logits(loadHuggingFaceGPT2(out)), logits(back)), 0);
  for (const d of [dir, out]) fs.rmSync(d, { recursive: true, force: true });
});

test('hf-gpt2: mox generate --model <hf dir> and mox export-hf', () => {
  const m = randomModel(9, false);
  const dir = handMadeFolder(m);
  const r = mox_('generate', '--model', dir, '--prompt-ids', '1,2,3', '--max-new-tokens', '5', '--temperature', '0', '--json');
  assert.equal(r.code, 0, r.stderr);
  const got = JSON.parse(r.stdout) as number[];
  const want = generate(m, [[1, 2, 3]], { maxNewTokens: 5, temperature: 0 });
  want.ids.dispose();
  assert.deepEqual(got, [1, 2, 3, ...want.newTokens[0]!]);
  const noTok = mox_('generate', '--model', dir, '--prompt', 'hi', '--temperature', '0');
  assert.equal(noTok.code, 1);
  assert.match(noTok.stderr, /no tokenizer/);

  // export-hf: from the Hugging Face folder (loadGPT reads both kinds) to a new one
  const out = path.join(tmpDir(), 'exported');
  const e = mox_('export-hf', '--model', dir, '--out', out);
  assert.equal(e.code, 0, e.stderr);
  assert.match(e.stdout, /untied head/);
  assert.equal(maxAbsDiff(logits(loadHuggingFaceGPT2(out)), logits(m)) <= 1e-6, true);
  const help = mox_('export-hf', '--help');
  assert.equal(help.code, 0);
  assert.match(help.stdout, /usage: mox export-hf --model DIR --out DIR/);
  assert.equal(mox_('export-hf', '--model', dir).code, 2);
  const same = mox_('export-hf', '--model', dir, '--out', dir);
  assert.equal(same.code, 1);
  assert.match(same.stderr, /--out must be another folder/);
  const none = mox_('export-hf', '--model', path.join(dir, 'nope'), '--out', out);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /no such folder/);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(path.dirname(out), { recursive: true, force: true });
});

// transformers' own numbers, when the reference folder is there (made by the project's Python script)
const REF_DIR = path.resolve(process.env['MOX_HF_REF_DIR'] ?? path.join('..', 'shared', 'data', 'hf-gpt2-tiny'));
const refMissing = ['config.json', 'model.safetensors', 'reference.json'].filter((f) => !fs.existsSync(path.join(REF_DIR, f)));
test(`hf-gpt2: logits and greedy tokens match transformers (${REF_DIR})`, {
  skip: refMissing.length ? `not in ${REF_DIR}: ${refMissing.join(', ')}` : false,
}, () => {
  const ref = JSON.parse(fs.readFileSync(path.join(REF_DIR, 'reference.json'), 'utf8')) as Record<string, unknown>;
  const model = loadGPT(REF_DIR).model;
  model.eval();
  const inputIds = ref['input_ids'] as number[] | number[][];
  const rows = Array.isArray(inputIds[0]) ? (inputIds as number[][]) : [inputIds as number[]];
  const want = (ref['logits'] as unknown[]).flat(Infinity as 1) as number[];
  const got = mox.scope(() =>
    mox.noGrad(() => {
      const x = mox.tensor(Int32Array.from(rows.flat()), { shape: [rows.length, rows[0]!.length], dtype: 'int32' });
      return Array.from(model.forward(x).logits.dataSync() as Float32Array);
    }),
  );
  assert.ok(maxAbsDiff(got, want) <= 1e-4, `max abs diff ${maxAbsDiff(got, want)}`);
  const prompt = ref['greedy_prompt'] as number[] | number[][];
  const promptRow = Array.isArray(prompt[0]) ? (prompt as number[][])[0]! : (prompt as number[]);
  const output = ref['greedy_output'] as number[] | number[][];
  const outRow = Array.isArray(output[0]) ? (output as number[][])[0]! : (output as number[]);
  // greedy_output is the prompt followed by the new tokens (as transformers' generate returns it), or the new tokens only
  const includesPrompt = outRow.length > promptRow.length && promptRow.every((t, i) => outRow[i] === t);
  const nNew = includesPrompt ? outRow.length - promptRow.length : outRow.length;
  const res = generate(model, [promptRow], { maxNewTokens: nNew, temperature: 0 });
  res.ids.dispose();
  assert.deepEqual(includesPrompt ? [...promptRow, ...res.newTokens[0]!] : res.newTokens[0]!, outRow);
});

/** erf by its Taylor series (|x| <= 6 here; beyond, erf is +-1 to double precision for these purposes). */
function erf(x: number): number {
  if (Math.abs(x) > 6) return Math.sign(x);
  let term = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= (-x * x) / n;
    const add = term / (2 * n + 1);
    sum += add;
    if (Math.abs(add) < 1e-17) break;
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

test('hf-gpt2: activation_function "gelu" is the exact (erf) GELU, "gelu_new"/"gelu_pytorch_tanh"/"gelu_fast" the tanh one', () => {
  const m = randomModel(11, true);
  // larger c_fc weights, so the pre-activations span [-4, 4] where the two GELUs differ by up to ~1e-3
  // (and c_proj's, so the difference is not scaled away on the way out)
  mapWeights(m, (name, d) => {
    const k = name.endsWith('mlp.c_fc.weight') ? 20 : name.endsWith('mlp.c_proj.weight') ? 50 : 1;
    for (let i = 0; i < d.length; i++) d[i] = d[i]! * k;
  });
  const folders = Object.fromEntries(
    ['gelu', 'gelu_new', 'gelu_pytorch_tanh', 'gelu_fast'].map((a) => [a, handMadeFolder(m, { config: { activation_function: a } })]),
  );
  const c = TINY.nEmbd;
  mox.seed(5);
  const x = mox.randn([2, 5, c]);
  const xs = x.dataSync() as Float32Array;
  const w = (k: string) => m.stateDict()[k]!.dataSync() as Float32Array;
  const [wFc, bFc, wProj, bProj] = ['mlp.c_fc.weight', 'mlp.c_fc.bias', 'mlp.c_proj.weight', 'mlp.c_proj.bias'].map((k) =>
    w(`transformer.h.0.${k}`),
  ) as Float32Array[];
  // the MLP by hand, in float64: c_proj(gelu(c_fc(x)))
  const byHand = (gelu: (v: number) => number): Float64Array => {
    const rows = xs.length / c;
    const out = new Float64Array(rows * c);
    let maxPre = 0;
    for (let r = 0; r < rows; r++) {
      const hidden = new Float64Array(4 * c);
      for (let j = 0; j < 4 * c; j++) {
        let s = bFc![j]!;
        for (let k = 0; k < c; k++) s += xs[r * c + k]! * wFc![j * c + k]!;
        maxPre = Math.max(maxPre, Math.abs(s));
        hidden[j] = gelu(s);
      }
      for (let i = 0; i < c; i++) {
        let s = bProj![i]!;
        for (let j = 0; j < 4 * c; j++) s += hidden[j]! * wProj![i * 4 * c + j]!;
        out[r * c + i] = s;
      }
    }
    assert.ok(maxPre > 2 && maxPre < 10, `pre-activations up to ${maxPre}`);
    return out;
  };
  const exact = byHand((v) => 0.5 * v * (1 + erf(v / Math.SQRT2)));
  const tanhForm = byHand((v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))));
  assert.ok(maxAbsDiff(exact, tanhForm) > 1e-4, `the test tells the two apart (${maxAbsDiff(exact, tanhForm)})`);
  for (const [act, dir] of Object.entries(folders)) {
    const loaded = loadHuggingFaceGPT2(dir);
    const mlp = loaded.transformer.h[0]!.mlp;
    assert.equal(mlp.gelu.approximate, act === 'gelu' ? 'none' : 'tanh', act);
    const y = mox.noGrad(() => mlp.forward(x)).dataSync() as Float32Array;
    const want = act === 'gelu' ? exact : tanhForm;
    const other = act === 'gelu' ? tanhForm : exact;
    assert.ok(maxAbsDiff(y, want) < 2e-5, `${act}: ${maxAbsDiff(y, want)} from the hand computation`);
    assert.ok(maxAbsDiff(y, other) > 5 * maxAbsDiff(y, want), `${act}: closer to the other GELU`);
  }
  // the export says which GELU it computes
  const out = tmpDir();
  exportHuggingFaceGPT2(loadHuggingFaceGPT2(folders['gelu']!), out);
  assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')).activation_function, 'gelu');
  assert.equal(loadHuggingFaceGPT2(out).transformer.h[0]!.mlp.gelu.approximate, 'none');
  const quick = handMadeFolder(m, { config: { activation_function: 'quick_gelu' } });
  assert.throws(
    () => loadHuggingFaceGPT2(quick),
    (e: Error) =>
      e instanceof mox.DataError &&
      /activation_function "quick_gelu" is not supported \(mox's GPT has "gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast"\)/.test(
        e.message,
      ),
  );
  for (const d of [...Object.values(folders), out, quick]) fs.rmSync(d, { recursive: true, force: true });
});
