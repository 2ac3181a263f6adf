// LoRA adapters (src/adapters/): a fresh adapter leaves the output as it was, training moves only the
// adapters, merge/unmerge/mergeAndUnload, PEFT's file layout (keys, shapes, adapter_config.json), the
// round trip through a folder, the typed errors, the embedding adapter and dropout. Tiny GPTs only.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as mox from '../src/index.js';
import { GPT } from '../src/models/gpt.js';
import { assertClose, maxAbsDiff } from '../test-support/assert.js';

const { lora } = mox;
const TINY = { vocabSize: 40, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 32 };

function gpt(opts: Partial<ConstructorParameters<typeof GPT>[0]> = {}): GPT {
  mox.seed(3);
  return new GPT({ ...TINY, ...opts });
}

function ids(seed = 5, b = 2, t = 8): mox.Tensor {
  const g = new mox.Generator(seed);
  const data = Int32Array.from({ length: b * t }, () => g.int(0, TINY.vocabSize));
  return mox.tensor(data, { shape: [b, t], dtype: 'int32' });
}

const logits = (m: GPT, x: mox.Tensor): Float32Array => mox.noGrad(() => Float32Array.from(m.forward(x).logits.dataSync() as Float32Array));

function snapshot(m: mox.nn.Module): Map<string, Float32Array> {
  return new Map(m.namedParameters().map(([k, p]) => [k, Float32Array.from(p.dataSync() as Float32Array)]));
}

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'mox-lora-'));
}

/** A few AdamW steps on the trainable parameters. */
function train(m: GPT, steps = 5, lr = 1e-2): void {
  const opt = new mox.optim.AdamW(
    m.parameters().filter((p) => p.requiresGrad),
    { lr },
  );
  m.train();
  for (let s = 0; s < steps; s++) {
    const x = ids(100 + s);
    const y = ids(200 + s);
    opt.zeroGrad();
    m.forward(x, y).loss!.backward();
    opt.step();
  }
  m.eval();
}

const TARGETS = ['c_attn', 'c_proj'];

test('applyLora wraps the targets, a fresh adapter leaves the output unchanged, only adapters train', () => {
  const m = gpt();
  m.eval();
  const x = ids();
  const before = logits(m, x);
  const names = lora.applyLora(m, { r: 4, alpha: 8, dropout: 0, targetModules: [...TARGETS, 'wte'] });
  assert.deepEqual(names, [
    'transformer.wte',
    'transformer.h.0.attn.c_attn',
    'transformer.h.0.attn.c_proj',
    'transformer.h.0.mlp.c_proj',
    'transformer.h.1.attn.c_attn',
    'transformer.h.1.attn.c_proj',
    'transformer.h.1.mlp.c_proj',
  ]);
  assert.ok(m.getSubmodule('transformer.h.0.attn.c_attn') instanceof lora.LoraLinear);
  assert.ok(m.getSubmodule('transformer.wte') instanceof lora.LoraEmbedding);
  // the tied head still shares the (wrapped) embedding's weight
  assert.equal((m.lm_head as mox.nn.Linear).weight, (m.transformer.wte as mox.nn.Embedding).weight);
  assert.deepEqual(Array.from(logits(m, x)), Array.from(before));
  const trainable = m
    .namedParameters()
    .filter(([, p]) => p.requiresGrad)
    .map(([k]) => k);
  assert.ok(
    trainable.length > 0 && trainable.every((k) => /\.lora_(A|B|embedding_A|embedding_B)(\.weight)?$/.test(k)),
    trainable.join(' '),
  );
  // the base model's state-dict keys are unchanged; the adapters add theirs
  const baseKeys = Object.keys(gpt().stateDict());
  const keys = Object.keys(m.stateDict());
  assert.deepEqual(
    keys.filter((k) => !k.includes('lora_')),
    baseKeys,
  );
});

test('the PEFT key names and shapes for a 2-layer GPT with targets c_attn,c_proj, and the counts', () => {
  const m = gpt();
  lora.applyLora(m, { r: 4, alpha: 16, dropout: 0.05, targetModules: TARGETS });
  const sd = lora.loraStateDict(m);
  const shapes = Object.fromEntries(Object.entries(sd).map(([k, t]) => [k, [...t.shape]]));
  const expected: Record<string, number[]> = {};
  for (const i of [0, 1]) {
    const p = `base_model.model.transformer.h.${i}`;
    expected[`${p}.attn.c_attn.lora_A.weight`] = [4, 32];
    expected[`${p}.attn.c_attn.lora_B.weight`] = [96, 4];
    expected[`${p}.attn.c_proj.lora_A.weight`] = [4, 32];
    expected[`${p}.attn.c_proj.lora_B.weight`] = [32, 4];
    expected[`${p}.mlp.c_proj.lora_A.weight`] = [4, 128];
    expected[`${p}.mlp.c_proj.lora_B.weight`] = [32, 4];
  }
  assert.deepEqual(shapes, expected);
  assert.deepEqual(Object.keys(sd), Object.keys(expected));
  const base = gpt()
    .parameters()
    .reduce((s, p) => s + p.size, 0);
  const adapters = 2 * 4 * (32 + 96 + 32 + 32 + 128 + 32);
  assert.deepEqual(lora.trainableParameters(m), {
    trainable: adapters,
    total: base + adapters,
    percent: (100 * adapters) / (base + adapters),
  });
  const f = (n: number) => n.toLocaleString('en-US');
  assert.equal(
    lora.formatTrainableParameters(m),
    `trainable params: ${f(adapters)} || all params: ${f(base + adapters)} || trainable%: ${((100 * adapters) / (base + adapters)).toFixed(4)}`,
  );
  // PEFT's own example line, checked against the same arithmetic
  assert.equal(((100 * 16384) / 826240).toFixed(4), '1.9830');
  const lines: string[] = [];
  const table = m.summary([8], { dtype: 'int32', printFn: (l) => lines.push(l) });
  assert.match(table, /transformer\.h\.0\.attn\.c_attn \(LoraLinear\)/);
  assert.match(table, /transformer\.h\.0\.attn\.c_attn\.lora_A \(Linear\)/);
  assert.ok(lines.includes(`Total params: ${f(base + adapters)} (${lines.find((l) => l.startsWith('Total'))!.split('(')[1]}`));
  assert.ok(lines.some((l) => l.startsWith(`Trainable params: ${f(adapters)} (`)));
  assert.ok(lines.some((l) => l.startsWith(`Non-trainable params: ${f(base)} (`)));
});

test('training a GPT with LoRA moves only the adapters; merge, unmerge and mergeAndUnload', () => {
  const m = gpt();
  lora.applyLora(m, { r: 4, alpha: 8, dropout: 0, targetModules: ['c_attn', 'c_proj', 'c_fc'] });
  const before = snapshot(m);
  train(m);
  const after = snapshot(m);
  for (const [k, v] of before) {
    if (k.includes('lora_B')) assert.ok(maxAbsDiff(after.get(k)!, v) > 0, `${k} did not move`);
    else if (!k.includes('lora_')) assert.deepEqual(after.get(k), v, `${k} changed`);
  }
  const x = ids(9);
  const unmerged = logits(m, x);
  const baseWeights = snapshot(m);
  lora.mergeLora(m);
  assert.ok(lora.loraLayers(m).every(([, l]) => l.merged));
  assertClose(logits(m, x), unmerged, { atol: 1e-5, rtol: 0, msg: 'merged vs unmerged' });
  assert.ok(maxAbsDiff(snapshot(m).get('transformer.h.0.attn.c_attn.weight')!, baseWeights.get('transformer.h.0.attn.c_attn.weight')!) > 0);
  // training while merged is refused: the adapters would get no gradient
  m.train();
  assert.throws(
    () => m.forward(x, ids(10)),
    (e: Error) => e instanceof mox.AutogradError && /unmergeLora/.test(e.message),
  );
  m.eval();
  lora.unmergeLora(m);
  const restored = snapshot(m);
  for (const [k, v] of baseWeights) assertClose(restored.get(k)!, v, { atol: 1e-6, rtol: 0, msg: k });
  assertClose(logits(m, x), unmerged, { atol: 1e-5, rtol: 0 });

  const out = lora.mergeAndUnload(m);
  assert.equal(out, m);
  const c = m.getSubmodule('transformer.h.1.mlp.c_fc');
  assert.equal(c.constructor, mox.nn.Linear);
  assert.equal(lora.loraLayers(m).length, 0);
  assert.deepEqual(Object.keys(m.stateDict()), Object.keys(gpt().stateDict()));
  assertClose(logits(m, x), unmerged, { atol: 1e-5, rtol: 0, msg: 'unloaded vs unmerged' });
  // unloaded, it can be adapted again
  lora.applyLora(m, { r: 2, alpha: 2, dropout: 0, targetModules: ['c_fc'] });
});

test('an embedding adapter: PEFT forward, merge on an untied GPT, refused on a tied one', () => {
  const m = gpt({ tiedEmbeddings: false });
  lora.applyLora(m, { r: 3, alpha: 6, dropout: 0, targetModules: ['wte'] });
  const wte = m.transformer.wte as unknown as InstanceType<typeof lora.LoraEmbedding>;
  assert.deepEqual([...wte.lora_embedding_A.shape], [3, TINY.vocabSize]);
  assert.deepEqual([...wte.lora_embedding_B.shape], [TINY.nEmbd, 3]);
  assert.deepEqual(Array.from(wte.lora_embedding_A.dataSync()), new Array(3 * TINY.vocabSize).fill(0));
  train(m, 3);
  // W[ids] + (A^T)[ids] B^T * alpha/r, computed by hand
  const x = ids(11);
  const got = mox.noGrad(() => wte.forward(x));
  const want = mox.noGrad(() =>
    mox
      .embedding(x, wte.weight)
      .add(mox.embedding(x, wte.lora_embedding_A.transpose(0, 1)).matmul(wte.lora_embedding_B.transpose(0, 1)).mul(2)),
  );
  assertClose(got, want, { atol: 1e-6 });
  assert.ok(
    maxAbsDiff(
      got,
      mox.noGrad(() => mox.embedding(x, wte.weight)),
    ) > 0,
    'the trained adapter changes the output',
  );
  const unmerged = logits(m, x);
  lora.mergeLora(m);
  assertClose(logits(m, x), unmerged, { atol: 1e-5, rtol: 0 });
  lora.unmergeLora(m);

  const tied = gpt();
  lora.applyLora(tied, { r: 2, alpha: 4, dropout: 0, targetModules: ['wte', 'c_attn'] });
  assert.deepEqual(lora.tiedLoraLayers(tied), ['transformer.wte (its weight is also lm_head.weight)']);
  assert.throws(
    () => lora.mergeLora(tied),
    (e: Error) => e instanceof mox.ValueError && /lm_head\.weight/.test(e.message),
  );
  assert.throws(() => lora.mergeAndUnload(tied), mox.ValueError);
  assert.ok(
    lora.loraLayers(tied).every(([, l]) => !l.merged),
    'nothing merged after the refusal',
  );
});

test('dropout acts on the adapter input in training mode only', () => {
  mox.seed(1);
  const base = new mox.nn.Linear(6, 5);
  const l = new lora.LoraLinear(base, { r: 2, alpha: 4, dropout: 0.5 });
  mox.noGrad(() => l.lora_B.weight.copy_(mox.randn([5, 2])));
  const x = mox.randn([4, 6]);
  const exact = mox.noGrad(() =>
    base.forward(x).add(x.matmul(l.lora_A.weight.transpose(0, 1)).matmul(l.lora_B.weight.transpose(0, 1)).mul(2)),
  );
  l.eval();
  assertClose(
    mox.noGrad(() => l.forward(x)),
    exact,
    { atol: 1e-6 },
  );
  l.train();
  const a = mox.noGrad(() => l.forward(x));
  const b = mox.noGrad(() => l.forward(x));
  assert.ok(maxAbsDiff(a, exact) > 1e-3 && maxAbsDiff(a, b) > 1e-3, 'dropout should act in training');
  // the base path is never dropped: with B = 0 training output equals the base
  mox.noGrad(() => l.lora_B.weight.zero_());
  assertClose(
    mox.noGrad(() => l.forward(x)),
    mox.noGrad(() => base.forward(x)),
    { atol: 0 },
  );
});

test('save and load: PEFT layout, identical outputs, adapter names and rsLoRA', async () => {
  const dir = tmpDir();
  try {
    const m = gpt();
    lora.applyLora(m, { r: 4, alpha: 16, dropout: 0.05, targetModules: TARGETS });
    train(m, 3);
    const x = ids(12);
    const want = logits(m, x);
    await lora.saveLoraAdapter(m, dir, { baseModelNameOrPath: 'gpt2' });
    assert.deepEqual(fs.readdirSync(dir).sort(), ['adapter_config.json', 'adapter_model.safetensors']);
    const text = fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8');
    const cfg = JSON.parse(text) as Record<string, unknown>;
    assert.deepEqual(Object.keys(cfg), Object.keys(cfg).sort(), 'sort_keys');
    assert.deepEqual(cfg, {
      alpha_pattern: {},
      auto_mapping: null,
      base_model_name_or_path: 'gpt2',
      bias: 'none',
      exclude_modules: null,
      fan_in_fan_out: true,
      inference_mode: true,
      init_lora_weights: true,
      layer_replication: null,
      layers_pattern: null,
      layers_to_transform: null,
      loftq_config: {},
      lora_alpha: 16,
      lora_bias: false,
      lora_dropout: 0.05,
      megatron_config: null,
      megatron_core: 'megatron.core',
      modules_to_save: null,
      peft_type: 'LORA',
      r: 4,
      rank_pattern: {},
      revision: null,
      target_modules: ['c_attn', 'c_proj'],
      task_type: 'CAUSAL_LM',
      use_dora: false,
      use_rslora: false,
    });
    const file = mox.loadSafetensorsSync(path.join(dir, 'adapter_model.safetensors'));
    assert.deepEqual(file.metadata, { format: 'pt' });
    assert.deepEqual(Object.keys(file.tensors).sort(), Object.keys(lora.loraStateDict(m)).sort());

    const fresh = gpt();
    const loaded = lora.loadLoraAdapter(fresh, dir);
    assert.equal(loaded.r, 4);
    fresh.eval();
    assert.deepEqual(Array.from(logits(fresh, x)), Array.from(want));
    assert.ok(fresh.parameters().every((p) => p.requiresGrad === /lora_/.test(fresh.namedParameters().find(([, q]) => q === p)![0])));
    assert.throws(
      () => lora.loadLoraAdapter(fresh, dir),
      (e: Error) => e instanceof mox.ValueError && /already has LoRA adapters/.test(e.message),
    );

    // the keys of a state dict taken from a live PeftModel carry the adapter name; rsLoRA scales by sqrt(r)
    const named = Object.fromEntries(
      Object.entries(file.tensors).map(([k, t]) => [k.replace(/\.lora_([AB])\.weight$/, '.lora_$1.default.weight'), t]),
    );
    mox.saveSafetensorsSync(path.join(dir, 'adapter_model.safetensors'), named, { format: 'pt' });
    fs.writeFileSync(path.join(dir, 'adapter_config.json'), JSON.stringify({ ...cfg, use_rslora: true }));
    const rs = gpt();
    lora.loadLoraAdapter(rs, dir);
    const layer = rs.getSubmodule('transformer.h.0.attn.c_attn') as InstanceType<typeof lora.LoraLinear>;
    assert.equal(layer.scaling, 16 / Math.sqrt(4));
    assertClose(layer.lora_B.weight, lora.loraStateDict(m)['base_model.model.transformer.h.0.attn.c_attn.lora_B.weight']!, { atol: 0 });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('typed errors: targets, a second apply, wrong base model, missing key, bad shape, bad config', async () => {
  const m = gpt();
  assert.throws(
    () => lora.applyLora(m, { r: 4, alpha: 8, dropout: 0, targetModules: ['c_attn', 'q_proj'] }),
    (e: Error) => e instanceof mox.ValueError && /'q_proj' matches no module/.test(e.message),
  );
  assert.throws(
    () => lora.applyLora(m, { r: 4, alpha: 8, dropout: 0, targetModules: ['attn'] }),
    (e: Error) => e instanceof mox.ValueError && /transformer\.h\.0\.attn' is a CausalSelfAttention/.test(e.message),
  );
  assert.throws(() => lora.applyLora(m, { r: 4, alpha: 8, dropout: 0, targetModules: 'c_att' }), /matches no module/);
  assert.throws(() => lora.applyLora(m, { r: 0, alpha: 8, dropout: 0, targetModules: TARGETS }), /r must be an integer >= 1/);
  assert.throws(() => lora.applyLora(m, { r: 2, alpha: 8, dropout: 1, targetModules: TARGETS }), /dropout must be in \[0, 1\)/);
  assert.equal(lora.loraLayers(m).length, 0, 'a refused apply changes nothing');
  assert.deepEqual(lora.applyLora(m, { r: 2, alpha: 8, dropout: 0, targetModules: '.*\\.attn\\.c_attn' }), [
    'transformer.h.0.attn.c_attn',
    'transformer.h.1.attn.c_attn',
  ]);
  assert.throws(() => lora.applyLora(m, { r: 2, alpha: 8, dropout: 0, targetModules: TARGETS }), /already has LoRA adapters/);
  assert.throws(() => lora.mergeLora(gpt()), /has no LoRA adapters/);

  const dir = tmpDir();
  try {
    const src = gpt();
    lora.applyLora(src, { r: 4, alpha: 8, dropout: 0, targetModules: TARGETS });
    await lora.saveLoraAdapter(src, dir);
    const weights = path.join(dir, 'adapter_model.safetensors');
    const cfgFile = path.join(dir, 'adapter_config.json');
    const good = fs.readFileSync(weights);
    const goodCfg = fs.readFileSync(cfgFile, 'utf8');

    // a wider base model: every shape differs
    const wide = gpt({ nEmbd: 16 });
    assert.throws(
      () => lora.loadLoraAdapter(wide, dir),
      (e: Error) =>
        e instanceof mox.ShapeError &&
        e.message.includes(weights) &&
        /transformer\.h\.0\.attn\.c_attn\.lora_A\.weight is \[4,32\] in the file, the model needs \[4,16\]/.test(e.message),
    );
    assert.equal(lora.loraLayers(wide).length, 0, 'a failed load leaves the model as it was');
    // a deeper base model: its third layer's keys are missing
    assert.throws(
      () => lora.loadLoraAdapter(gpt({ nLayer: 3 }), dir),
      (e: Error) =>
        e instanceof mox.DataError && /missing keys base_model\.model\.transformer\.h\.2\.attn\.c_attn\.lora_A\.weight/.test(e.message),
    );
    // a missing key and a bad shape in the file
    const t = mox.loadSafetensorsSync(weights).tensors;
    const k = 'base_model.model.transformer.h.1.mlp.c_proj.lora_B.weight';
    const { [k]: dropped, ...rest } = t;
    assert.ok(dropped);
    mox.saveSafetensorsSync(weights, rest, { format: 'pt' });
    assert.throws(
      () => lora.loadLoraAdapter(gpt(), dir),
      (e: Error) => e instanceof mox.DataError && e.message.includes(`${weights}: missing key ${k}`),
    );
    mox.saveSafetensorsSync(weights, { ...rest, [k]: mox.zeros([32, 5]) }, { format: 'pt' });
    assert.throws(
      () => lora.loadLoraAdapter(gpt(), dir),
      (e: Error) => e instanceof mox.ShapeError && e.message.includes(`${k} is [32,5] in the file, the model needs [32,4]`),
    );
    mox.saveSafetensorsSync(weights, { ...t, 'base_model.model.lm_head.lora_A.weight': mox.zeros([4, 32]) }, { format: 'pt' });
    assert.throws(
      () => lora.loadLoraAdapter(gpt(), dir),
      (e: Error) => e instanceof mox.DataError && /unexpected key base_model\.model\.lm_head\.lora_A\.weight/.test(e.message),
    );
    fs.writeFileSync(weights, good);

    // bad configs
    const write = (patch: Record<string, unknown>) => fs.writeFileSync(cfgFile, JSON.stringify({ ...JSON.parse(goodCfg), ...patch }));
    write({ peft_type: 'IA3' });
    assert.throws(
      () => lora.loadLoraAdapter(gpt(), dir),
      (e: Error) => e instanceof mox.ValueError && /peft_type is "IA3"/.test(e.message),
    );
    write({ use_dora: true });
    assert.throws(() => lora.loadLoraAdapter(gpt(), dir), /use_dora=true is not supported/);
    write({ bias: 'all' });
    assert.throws(() => lora.loadLoraAdapter(gpt(), dir), /bias="all" is not supported/);
    write({ r: 0 });
    assert.throws(() => lora.loadLoraAdapter(gpt(), dir), /r must be an integer >= 1, got 0/);
    write({ target_modules: ['q_proj', 'v_proj'] });
    assert.throws(
      () => lora.loadLoraAdapter(gpt(), dir),
      (e: Error) => e instanceof mox.ValueError && /does not fit this model: .*'q_proj'/.test(e.message),
    );
    fs.writeFileSync(cfgFile, '{ not json');
    assert.throws(
      () => lora.loadLoraAdapter(gpt(), dir),
      (e: Error) => e instanceof mox.DataError && e.message.includes(cfgFile),
    );
    fs.rmSync(cfgFile);
    assert.throws(
      () => lora.loadLoraAdapter(gpt(), dir),
      (e: Error) => e instanceof mox.DataError && /no such file/.test(e.message),
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
