// Removing a GPT's attention heads (mox.prune.pruneHeads, pruneAttentionHeads): the pruned model's logits
// equal the unpruned model's with those heads' outputs zeroed (their c_proj input columns set to 0, which
// is exactly what removing them computes), with and without the KV cache; pruned heads are remembered in
// the unpruned numbering (Hugging Face's pruned_heads) and survive mox and Hugging Face checkpoints; the
// head scores choose the weakest heads; bad input is a typed error. When the Hugging Face reference folder
// ($MOX_HF_REF_DIR, default ../shared/data/hf-gpt2-tiny) exists, its real checkpoint is pruned too, and
// compared with transformers' prune_heads run in PyTorch (test/fixtures/hf-prune-heads.py writes the logits).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as mox from '../src/index.js';
import { GPT, GPTCache, type GPTOptions } from '../src/models/gpt.js';
import { generate } from '../src/models/gpt-generate.js';
import { loadGPT, parseGPTConfig, saveGPTWeights } from '../src/models/gpt-checkpoint.js';
import { exportHuggingFaceGPT2, loadHuggingFaceGPT2 } from '../src/models/hf-gpt2.js';
import { headImportance, headScores, pruneAttentionHeads, pruneHeads } from '../src/prune/heads.js';
import { l1Unstructured } from '../src/prune/unstructured.js';
import { maxAbsDiff } from '../test-support/assert.js';

const TINY: GPTOptions = { vocabSize: 40, blockSize: 16, nLayer: 2, nHead: 4, nEmbd: 16 };
const HF_DIR = process.env['MOX_HF_REF_DIR'] ?? path.resolve(process.cwd(), '../shared/data/hf-gpt2-tiny');

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'mox-heads-'));
}

function ids(): mox.Tensor {
  return mox.tensor(Int32Array.from([1, 7, 3, 39, 0, 12, 5, 5, 30, 2, 2, 8]), { shape: [2, 6], dtype: 'int32' });
}

function logits(m: GPT): Float32Array {
  return mox.scope(() =>
    mox.noGrad(() => {
      m.eval();
      return Float32Array.from(m.forward(ids()).logits.dataSync() as Float32Array);
    }),
  );
}

/** A tiny GPT with non-zero biases and LayerNorm parameters, so every path of the pruning shows. */
function tiny(seed = 3, opts: Partial<GPTOptions> = {}): GPT {
  mox.seed(seed);
  const m = new GPT({ ...TINY, ...opts });
  mox.noGrad(() => {
    for (const [k, p] of m.namedParameters()) if (k.endsWith('bias') || k.includes('ln_')) p.copy_(p.add(mox.randn(p.shape).mul(0.1)));
  });
  return m;
}

/** A copy of m (same config, same weights). */
function copy(m: GPT): GPT {
  const c = new GPT({ ...m.config });
  c.loadStateDict(m.stateDict());
  return c;
}

/**
 * The reference: a copy of the unpruned model whose c_proj input columns of the given heads are zero, so
 * those heads add nothing to the residual stream: what removing them computes, exactly.
 */
function zeroHeads(m: GPT, heads: Record<number, number[]>): GPT {
  const c = copy(m);
  for (const [l, hs] of Object.entries(heads)) {
    const attn = c.transformer.h[Number(l)]!.attn;
    const w = attn.c_proj.weight;
    const d = Float32Array.from(w.dataSync() as Float32Array);
    const [rows, cols] = w.shape as [number, number];
    for (const h of hs) for (let r = 0; r < rows; r++) d.fill(0, r * cols + h * attn.headDim, r * cols + (h + 1) * attn.headDim);
    const t = mox.tensor(d, { shape: [rows, cols] });
    mox.noGrad(() => w.copy_(t));
    t.dispose();
  }
  return c;
}

function dispose(m: GPT): void {
  for (const p of m.parameters()) p.dispose();
}

test('pruneHeads: logits equal the unpruned model with those heads zeroed; shapes and config', () => {
  const m = tiny();
  const heads = { 0: [1], 1: [0, 3] };
  const ref = logits(zeroHeads(m, heads));
  const unpruned = logits(m);
  // the heads matter: zeroing them moves the logits well beyond the tolerance below
  assert.ok(maxAbsDiff(unpruned, ref) > 1e-3, `zeroing moved the logits by ${maxAbsDiff(unpruned, ref)} only`);
  const before = m.getNumParams(false);
  const removed = pruneHeads(m, heads);
  assert.deepEqual(removed, { 0: [1], 1: [0, 3] });
  assert.deepEqual(m.config.prunedHeads, { 0: [1], 1: [0, 3] });
  const [a0, a1] = m.transformer.h.map((b) => b.attn) as [mox.nn.CausalSelfAttention, mox.nn.CausalSelfAttention];
  assert.equal(a0.nHead, 3);
  assert.equal(a1.nHead, 2);
  assert.equal(a1.headDim, 4);
  assert.deepEqual(a0.c_attn.weight.shape, [36, 16]);
  assert.deepEqual(a0.c_attn.bias!.shape, [36]);
  assert.deepEqual(a0.c_proj.weight.shape, [16, 12]);
  assert.deepEqual(a1.c_attn.weight.shape, [24, 16]);
  assert.deepEqual(a1.c_proj.weight.shape, [16, 8]);
  // each head: its q, k, v rows (3 * hd * c), their biases (3 * hd) and its c_proj columns (c * hd)
  const perHead = 3 * 4 * 16 + 3 * 4 + 16 * 4;
  assert.equal(before - m.getNumParams(false), 3 * perHead);
  assert.ok(maxAbsDiff(logits(m), ref) < 1e-5, `max diff ${maxAbsDiff(logits(m), ref)}`);
  assert.match(a1.extraRepr(), /n_head=2, head_dim=4, pruned_heads=\[0, 3\]/);
});

test('pruneHeads without biases, and with an untied head', () => {
  for (const opts of [{ bias: false }, { tiedEmbeddings: false }]) {
    const m = tiny(14, opts);
    const ref = logits(zeroHeads(m, { 1: [2] }));
    pruneHeads(m, { 1: [2] });
    const attn = m.transformer.h[1]!.attn;
    assert.equal(attn.c_attn.bias === null, opts.bias === false);
    assert.deepEqual(attn.c_attn.weight.shape, [36, 16]);
    assert.ok(maxAbsDiff(logits(m), ref) < 1e-5, JSON.stringify(opts));
  }
});

test('pruneHeads again: numbering stays the original one, a head pruned twice is a no-op', () => {
  const m = tiny(4);
  const orig = copy(m);
  pruneHeads(m, { 1: [2] });
  assert.deepEqual(pruneHeads(m, { 1: [2] }), {});
  // head 3 is at position 2 now; it is still called 3
  assert.deepEqual(pruneHeads(m, { 1: [2, 3], 0: [0] }), { 0: [0], 1: [3] });
  assert.deepEqual(m.config.prunedHeads, { 0: [0], 1: [2, 3] });
  assert.equal(m.transformer.h[1]!.attn.nHead, 2);
  const ref = logits(zeroHeads(orig, { 0: [0], 1: [2, 3] }));
  assert.ok(maxAbsDiff(logits(m), ref) < 1e-5);
  assert.deepEqual(pruneHeads(m, {}), {});
});

test('a head-pruned GPT decodes with the KV cache as without, and generates', () => {
  const m = tiny(5);
  pruneHeads(m, { 0: [0, 1], 1: [3] });
  m.eval();
  // the cache holds [B, heads, T, hd] per layer: 2 heads in layer 0, 3 in layer 1
  mox.scope(() =>
    mox.noGrad(() => {
      const x = ids();
      const full = m.forward(x).logits;
      const cache = new GPTCache(2);
      const a = m.forward(x.narrow(1, 0, 4), null, { cache }).logits;
      const b = m.forward(x.narrow(1, 4, 2), null, { cache }).logits;
      assert.deepEqual(cache.layers[0]!.k!.shape, [2, 2, 6, 4]);
      assert.deepEqual(cache.layers[1]!.k!.shape, [2, 3, 6, 4]);
      assert.ok(maxAbsDiff(mox.cat([a, b], 1), full) < 1e-5);
      cache.dispose();
    }),
  );
  const withCache = generate(m, [[1, 2, 3]], { maxNewTokens: 10, temperature: 0 });
  const without = generate(m, [[1, 2, 3]], { maxNewTokens: 10, temperature: 0, useCache: false });
  assert.equal(withCache.newTokens[0]!.length, 10);
  assert.deepEqual(withCache.newTokens, without.newTokens);
  withCache.ids.dispose();
  without.ids.dispose();
});

test('a head-pruned GPT trains: gradients reach the new, smaller parameters', () => {
  const m = tiny(6);
  pruneHeads(m, { 0: [2] });
  m.train();
  const x = ids();
  const { loss } = m.forward(x, x);
  loss!.backward();
  const attn = m.transformer.h[0]!.attn;
  assert.deepEqual(attn.c_attn.weight.grad!.shape, [36, 16]);
  assert.deepEqual(attn.c_proj.weight.grad!.shape, [16, 12]);
  assert.ok(attn.c_attn.weight.requiresGrad);
});

test('mox checkpoint: config.json carries prunedHeads; loadGPT builds the pruned model', async () => {
  const m = tiny(7);
  pruneHeads(m, { 1: [1, 2] });
  const dir = tmpDir();
  await saveGPTWeights(dir, m);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ model: 'gpt', gpt: m.config }));
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')).gpt.prunedHeads, { 1: [1, 2] });
  const { model } = loadGPT(dir);
  assert.deepEqual(model.config.prunedHeads, { 1: [1, 2] });
  assert.equal(model.transformer.h[1]!.attn.nHead, 2);
  assert.equal(maxAbsDiff(logits(model), logits(m)), 0);
  // the same weights with a config.json that does not say which heads are gone do not fit
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ model: 'gpt', gpt: { ...m.config, prunedHeads: undefined } }));
  assert.throws(
    () => loadGPT(dir),
    (e: Error) => e instanceof mox.DataError && /does not fit config\.json/.test(e.message),
  );
  fs.rmSync(dir, { recursive: true, force: true });
});

test('parseGPTConfig checks prunedHeads', () => {
  const base = { ...TINY };
  assert.deepEqual(parseGPTConfig({ ...base, prunedHeads: { '1': [3, 0, 3] } }, 'c.json').prunedHeads, { 1: [0, 3] });
  assert.equal(parseGPTConfig({ ...base, prunedHeads: {} }, 'c.json').prunedHeads, undefined);
  for (const [bad, re] of [
    [{ '2': [0] }, /layer 2, the model has layers 0\.\.1/],
    [{ '0': [4] }, /head 4 is out of range: the layer has heads 0\.\.3/],
    [{ '0': [0, 1, 2, 3] }, /cannot remove all 4 heads/],
    [{ '0': 1 }, /must be a list of heads/],
    [[0], /must map layers to lists of heads/],
  ] as const) {
    assert.throws(
      () => parseGPTConfig({ ...base, prunedHeads: bad }, 'c.json'),
      (e: Error) => e instanceof mox.DataError && /c\.json: gpt\.prunedHeads/.test(e.message) && re.test(e.message),
    );
  }
});

test('Hugging Face folder: pruned_heads as {"layer": [heads]}, Conv1D shapes of the kept heads, round trip', () => {
  const m = tiny(8);
  pruneHeads(m, { 0: [3], 1: [0, 1] });
  const dir = tmpDir();
  exportHuggingFaceGPT2(m, dir);
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  assert.deepEqual(cfg.pruned_heads, { '0': [3], '1': [0, 1] });
  assert.equal(cfg.n_head, 4); // transformers keeps n_head and prunes after building, as from_pretrained does
  const back = loadHuggingFaceGPT2(dir);
  assert.deepEqual(back.config.prunedHeads, { 0: [3], 1: [0, 1] });
  assert.deepEqual(back.transformer.h[1]!.attn.c_proj.weight.shape, [16, 8]);
  assert.ok(maxAbsDiff(logits(back), logits(m)) < 1e-6);
  const { tensors } = mox.loadSafetensorsSync(path.join(dir, 'model.safetensors'));
  assert.deepEqual(tensors['transformer.h.0.attn.c_attn.weight']!.shape, [16, 36]);
  assert.deepEqual(tensors['transformer.h.1.attn.c_proj.weight']!.shape, [8, 16]);
  for (const t of Object.values(tensors)) t.dispose();
  // an unpruned model's config.json has no pruned_heads, as transformers writes it
  const plain = tmpDir();
  exportHuggingFaceGPT2(tiny(9), plain);
  assert.equal(JSON.parse(fs.readFileSync(path.join(plain, 'config.json'), 'utf8')).pruned_heads, undefined);
  // a config.json whose pruned_heads do not match the weights
  cfg.pruned_heads = { '0': [3] };
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
  assert.throws(
    () => loadHuggingFaceGPT2(dir),
    (e: Error) => e instanceof mox.ShapeError && /transformer\.h\.1\.attn\.c_attn\.weight has shape/.test(e.message),
  );
  cfg.pruned_heads = { '0': [9] };
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
  assert.throws(
    () => loadHuggingFaceGPT2(dir),
    (e: Error) => e instanceof mox.DataError && /pruned_heads: .*head 9 is out of range/.test(e.message),
  );
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(plain, { recursive: true, force: true });
});

test('the real Hugging Face GPT-2 checkpoint: pruned logits equal its heads zeroed', {
  skip: !fs.existsSync(HF_DIR) && `no ${HF_DIR}`,
}, () => {
  const m = loadHuggingFaceGPT2(HF_DIR);
  const heads = { 0: [2], 1: [0, 1, 3] };
  const ref = logits(zeroHeads(m, heads));
  const unpruned = logits(m);
  assert.ok(maxAbsDiff(unpruned, ref) > 1e-3, `zeroing moved the logits by ${maxAbsDiff(unpruned, ref)} only`);
  pruneHeads(m, heads);
  assert.ok(maxAbsDiff(logits(m), ref) < 1e-5, `max diff ${maxAbsDiff(logits(m), ref)}`);
  assert.equal(m.transformer.h[1]!.attn.nHead, 1);
  dispose(m);
});

test("transformers' prune_heads on the real checkpoint (test/fixtures/hf-prune-heads.py): the same logits and shapes", {
  skip: !fs.existsSync(HF_DIR) && `no ${HF_DIR}`,
}, () => {
  const fx = JSON.parse(fs.readFileSync(fileURLToPath(new URL('../../test/fixtures/hf-prune-heads.json', import.meta.url)), 'utf8')) as {
    steps: Record<string, number[]>[];
    pruned_heads: Record<string, number[]>;
    c_attn_shapes: number[][];
    c_proj_shapes: number[][];
    logits_shape: number[];
    logits_f32: string;
  };
  const ref = JSON.parse(fs.readFileSync(path.join(HF_DIR, 'reference.json'), 'utf8')) as { input_ids: number[][] };
  const m = loadHuggingFaceGPT2(HF_DIR);
  for (const step of fx.steps) pruneHeads(m, step);
  assert.deepEqual(m.config.prunedHeads, fx.pruned_heads);
  const want = new Float32Array(new Uint8Array(Buffer.from(fx.logits_f32, 'base64')).buffer);
  const x = mox.tensor(Int32Array.from(ref.input_ids.flat()), { shape: [2, 24], dtype: 'int32' });
  const got = mox.noGrad(() => m.forward(x).logits);
  assert.deepEqual(got.shape, fx.logits_shape);
  const d = maxAbsDiff(got.dataSync() as Float32Array, want);
  assert.ok(d < 1e-5, `max diff ${d}`);
  // exported, the Conv1D weights have transformers' shapes after its pruning
  const dir = tmpDir();
  exportHuggingFaceGPT2(m, dir);
  const { tensors } = mox.loadSafetensorsSync(path.join(dir, 'model.safetensors'));
  fx.c_attn_shapes.forEach((shape, i) => assert.deepEqual(tensors[`transformer.h.${i}.attn.c_attn.weight`]!.shape, shape));
  fx.c_proj_shapes.forEach((shape, i) => assert.deepEqual(tensors[`transformer.h.${i}.attn.c_proj.weight`]!.shape, shape));
  for (const t of Object.values(tensors)) t.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
  x.dispose();
  got.dispose();
  dispose(m);
});

test('headScores and pruneAttentionHeads: the weakest heads go, globally or per layer', () => {
  const m = tiny(10);
  // head 2 of layer 1 writes nothing: zero value rows (c_attn rows 2*16 + 8 .. 2*16 + 11)
  const w = m.transformer.h[1]!.attn.c_attn.weight;
  const d = Float32Array.from(w.dataSync() as Float32Array);
  d.fill(0, (32 + 8) * 16, (32 + 12) * 16);
  const t = mox.tensor(d, { shape: [48, 16] });
  mox.noGrad(() => w.copy_(t));
  t.dispose();
  const scores = headScores(m);
  assert.equal(scores.length, 8);
  assert.equal(scores.find((s) => s.layer === 1 && s.head === 2)!.score, 0);
  // by hand: ||W_V,h||_F * ||W_O,h||_F for layer 0 head 1
  const a0 = m.transformer.h[0]!.attn;
  const wa = a0.c_attn.weight.dataSync() as Float32Array;
  const wp = a0.c_proj.weight.dataSync() as Float32Array;
  let v = 0;
  for (let i = (32 + 4) * 16; i < (32 + 8) * 16; i++) v += wa[i]! ** 2;
  let o = 0;
  for (let r = 0; r < 16; r++) for (let j = 4; j < 8; j++) o += wp[r * 16 + j]! ** 2;
  const s01 = scores.find((s) => s.layer === 0 && s.head === 1)!.score;
  assert.ok(Math.abs(s01 - Math.sqrt(v) * Math.sqrt(o)) < 1e-6 * s01);

  const sorted = [...scores].sort((a, b) => a.score - b.score);
  const r = pruneAttentionHeads(m, { amount: 0.25, global: true });
  assert.equal(r.before, 8);
  assert.equal(r.after, 6);
  const got = Object.entries(r.pruned).flatMap(([l, hs]) => hs.map((h) => `${l}.${h}`));
  assert.deepEqual(
    got.sort(),
    sorted
      .slice(0, 2)
      .map((s) => `${s.layer}.${s.head}`)
      .sort(),
  );
  assert.ok(got.includes('1.2'));
  // global: at most all but one head per layer
  assert.throws(
    () => pruneAttentionHeads(m, { count: 5, global: true }),
    (e: Error) => e instanceof mox.ValueError && /each of the 2 layers keeps at least one \(at most 4\)/.test(e.message),
  );
  const r2 = pruneAttentionHeads(m, { count: 4, global: true });
  assert.equal(r2.after, 2);
  assert.deepEqual(
    m.transformer.h.map((b) => b.attn.nHead),
    [1, 1],
  );

  const p = tiny(11);
  // the weight norms rank within each layer unless told otherwise
  const r3 = pruneAttentionHeads(p, { amount: 0.5, norm: 1 });
  assert.deepEqual(
    p.transformer.h.map((b) => b.attn.nHead),
    [2, 2],
  );
  assert.equal(Object.values(r3.pruned).flat().length, 4);
  assert.throws(
    () => pruneAttentionHeads(p, { amount: 1, global: false }),
    (e: Error) => e instanceof mox.ValueError && /cannot remove all 2 remaining heads of layer 0/.test(e.message),
  );
});

test('headImportance: the loss increase of removing each head alone; the weights come back unchanged', () => {
  const m = tiny(13);
  const batches: [mox.Tensor, mox.Tensor][] = [0, 1].map((b) => {
    const g = new mox.Generator(40 + b);
    const x = mox.keep(mox.randint(0, 40, [3, 8], { generator: g }));
    const y = mox.keep(mox.randint(0, 40, [3, 8], { generator: g }));
    return [x, y];
  });
  const meanLoss = (g: GPT) => {
    g.eval();
    return batches.reduce((s, [x, y]) => s + mox.scope(() => mox.noGrad(() => g.forward(x, y).loss!.item())), 0) / batches.length;
  };
  pruneHeads(m, { 0: [1] });
  m.train();
  const before = Object.fromEntries(Object.entries(m.stateDict()).map(([k, t]) => [k, Float32Array.from(t.dataSync() as Float32Array)]));
  const imp = headImportance(m, batches);
  assert.equal(m.training, true);
  for (const [k, t] of Object.entries(m.stateDict())) assert.equal(maxAbsDiff(t.dataSync() as Float32Array, before[k]!), 0, k);
  assert.deepEqual(
    imp.map((s) => `${s.layer}.${s.head}`),
    ['0.0', '0.2', '0.3', '1.0', '1.1', '1.2', '1.3'],
  );
  const base = meanLoss(m);
  for (const s of [imp[1]!, imp[5]!]) {
    const c = copy(m);
    pruneHeads(c, { [s.layer]: [s.head] });
    assert.ok(Math.abs(s.score - (meanLoss(c) - base)) < 1e-5, `${s.layer}.${s.head}: ${s.score} vs ${meanLoss(c) - base}`);
    dispose(c);
  }
  // given scores rank across layers by default; they must name each remaining head once
  const r = pruneAttentionHeads(copy(m), { count: 2, scores: imp });
  const lowest = [...imp].sort((a, b) => a.score - b.score);
  const want = lowest.slice(0, 2).map((x) => `${x.layer}.${x.head}`);
  assert.deepEqual(
    Object.entries(r.pruned)
      .flatMap(([l, hs]) => hs.map((h) => `${l}.${h}`))
      .sort(),
    want.sort(),
  );
  assert.throws(
    () => pruneAttentionHeads(copy(m), { count: 1, scores: imp.slice(1) }),
    (e: Error) => e instanceof mox.ValueError && /scores name 6 heads, the model has 7/.test(e.message),
  );
  assert.throws(
    () => pruneAttentionHeads(copy(m), { count: 1, scores: [...imp, { layer: 0, head: 1, score: 0 }] }),
    (e: Error) => e instanceof mox.ValueError && /layer 0 head 1 .* is not a remaining head/.test(e.message),
  );
  assert.throws(
    () => headImportance(m, []),
    (e: Error) => e instanceof mox.ValueError && /at least one/.test(e.message),
  );
  for (const [x, y] of batches) {
    x.dispose();
    y.dispose();
  }
});

test('pruneHeads errors: layer or head out of range, every head of a layer, masks; nothing changes', () => {
  const m = tiny(12);
  const before = logits(m);
  const bad = (heads: Record<number, number[]>, re: RegExp) =>
    assert.throws(
      () => pruneHeads(m, heads),
      (e: Error) => e instanceof mox.ValueError && re.test(e.message),
    );
  bad({ 2: [0] }, /pruneHeads: layer 2 is out of range: the model has layers 0\.\.1/);
  bad({ 0: [1], 1: [4] }, /pruneHeads \(layer 1\): head 4 is out of range: the layer has heads 0\.\.3/);
  bad({ 0: [-1] }, /head -1 is out of range/);
  bad({ 0: [0.5] }, /head 0\.5 is out of range/);
  bad({ 1: [0, 1, 2, 3] }, /cannot remove all 4 heads of a layer/);
  // checked before anything changed: layer 0 kept its heads
  assert.equal(m.transformer.h[0]!.attn.nHead, 4);
  assert.equal(m.config.prunedHeads, undefined);
  pruneHeads(m, { 1: [0, 1] });
  bad({ 1: [3, 2] }, /cannot remove all 4 heads of a layer \(removing \[2, 3\] after \[0, 1\]\)/);
  assert.throws(() => pruneHeads(new mox.nn.Linear(2, 2) as unknown as GPT, { 0: [0] }), /takes a GPT/);
  assert.throws(
    () => new GPT({ ...TINY, prunedHeads: { 0: [0, 1, 2, 3] } }),
    (e: Error) => e instanceof mox.ValueError && /GPT \(prunedHeads of layer 0\)/.test(e.message),
  );
  const q = tiny(12);
  assert.equal(maxAbsDiff(logits(q), before), 0);
  mox.lora.applyLora(q, { r: 2, alpha: 2, dropout: 0, targetModules: ['c_attn'] });
  assert.throws(
    () => pruneHeads(q, { 0: [0] }),
    (e: Error) =>
      e instanceof mox.ValueError && /layer 0's attention has LoraLinear and Linear layers, not plain Linear ones/.test(e.message),
  );
  mox.lora.mergeAndUnload(q);
  pruneHeads(q, { 0: [0] }); // plain Linear layers again
  l1Unstructured(q.transformer.h[0]!.attn.c_proj, 'weight', { amount: 0.5 });
  assert.throws(
    () => pruneHeads(q, { 0: [0] }),
    (e: Error) => e instanceof mox.ValueError && /carries a pruning mask/.test(e.message),
  );
});
