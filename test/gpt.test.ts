// GPT (nanoGPT's model), generation with and without the KV cache, sampling filters, and the
// `mox train gpt` / `mox generate` commands on a small generated text. Tiny configurations only.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as mox from '../src/index.js';
import { GPT } from '../src/models/gpt.js';
import { generate } from '../src/models/gpt-generate.js';
import { sampleLogits } from '../src/models/sampling.js';

const MAIN = path.resolve(process.cwd(), 'dist/src/cli/main.js');
const TINY = { vocabSize: 40, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 32 };

function mox_(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 120_000 });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A few hundred lines of seeded pseudo-English. */
function corpus(): string {
  const words = 'the king and queen of rome shall speak to thee my lord good night sweet prince'.split(' ');
  const g = new mox.Generator(7);
  const lines: string[] = [];
  for (let i = 0; i < 150; i++) {
    const n = g.int(3, 9);
    const w = Array.from({ length: n }, () => words[g.int(0, words.length)]!).join(' ');
    lines.push(w[0]!.toUpperCase() + w.slice(1) + '.');
  }
  return lines.join('\n') + '\n';
}

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'mox-gpt-'));
}

function randomIds(b: number, t: number, v: number, seed: number): mox.Tensor {
  const g = new mox.Generator(seed);
  return mox.tensor(
    Int32Array.from({ length: b * t }, () => g.int(0, v)),
    { shape: [b, t], dtype: 'int32' },
  );
}

test('GPT: nanoGPT parameter names, tied head, parameter count, forward shapes, loss at init ~ ln(V)', () => {
  mox.seed(0);
  const m = new GPT(TINY);
  const names = Object.keys(m.stateDict());
  for (const n of [
    'transformer.wte.weight',
    'transformer.wpe.weight',
    'transformer.h.0.ln_1.weight',
    'transformer.h.0.attn.c_attn.weight',
    'transformer.h.0.attn.c_attn.bias',
    'transformer.h.0.attn.c_proj.weight',
    'transformer.h.1.mlp.c_fc.weight',
    'transformer.h.1.mlp.c_proj.bias',
    'transformer.ln_f.weight',
  ])
    assert.ok(names.includes(n), n);
  assert.ok(!names.includes('lm_head.weight'), 'the tied head is listed once, as the token embedding');
  assert.equal((m.lm_head as mox.nn.Linear).weight, (m.transformer.wte as mox.nn.Embedding).weight);
  const c = 32;
  const perBlock = 2 * 2 * c + (c * 3 * c + 3 * c) + (c * c + c) + (c * 4 * c + 4 * c) + (4 * c * c + c);
  const all = 40 * c + 16 * c + 2 * perBlock + 2 * c;
  assert.equal(m.getNumParams(false), all);
  assert.equal(m.getNumParams(), all - 16 * c);
  // nanoGPT's init: N(0, 0.02), residual projections 0.02/sqrt(2 nLayer), zero biases
  const std = (t: mox.Tensor) => mox.scope(() => t.std().item());
  assert.ok(Math.abs(std(m.transformer.h[0]!.mlp.c_fc.weight) - 0.02) < 0.002);
  assert.ok(Math.abs(std(m.transformer.h[0]!.mlp.c_proj.weight) - 0.01) < 0.001);
  assert.equal(
    mox.scope(() => m.transformer.h[0]!.attn.c_attn.bias!.abs().sum().item()),
    0,
  );

  mox.scope(() => {
    const idx = randomIds(3, 16, 40, 1);
    const targets = randomIds(3, 16, 40, 2);
    const { logits, loss } = m.forward(idx, targets);
    assert.deepEqual(logits.shape, [3, 16, 40]);
    assert.ok(Math.abs(loss!.item() - Math.log(40)) < 0.1, `loss at init ${loss!.item()}`);
    assert.deepEqual(m.forward(idx.narrow(1, 0, 5)).logits.shape, [3, 5, 40]);
    assert.deepEqual(m.forward(idx, null, { lastOnly: true }).logits.shape, [3, 1, 40]);
    assert.throws(() => m.forward(randomIds(1, 17, 40, 3)), /block size/);
  });
  const untied = new GPT({ ...TINY, tiedEmbeddings: false, bias: false });
  assert.ok(Object.keys(untied.stateDict()).includes('lm_head.weight'));
  assert.ok(!Object.keys(untied.stateDict()).some((k) => k.endsWith('.bias')));
});

test('GPT: a few AdamW steps lower the loss on a fixed batch', () => {
  mox.seed(1);
  const m = new GPT(TINY);
  const opt = new mox.optim.AdamW(m.parameters(), { lr: 3e-3 });
  const x = randomIds(4, 16, 40, 4);
  const y = randomIds(4, 16, 40, 5);
  const losses: number[] = [];
  for (let i = 0; i < 15; i++) {
    losses.push(
      mox.scope(() => {
        const l = m.forward(x, y).loss!;
        l.backward();
        mox.optim.clipGradNorm(m.parameters(), 1);
        opt.step();
        opt.zeroGrad();
        return l.item();
      }),
    );
  }
  assert.ok(losses.at(-1)! < losses[0]! - 0.3, `losses ${losses.map((l) => l.toFixed(3)).join(' ')}`);
  opt.dispose();
});

test('generate: the KV cache gives the same tokens as recomputing (greedy and seeded sampling, past the block size)', () => {
  mox.seed(2);
  const m = new GPT(TINY);
  // train it a little so the distribution is not flat
  const opt = new mox.optim.AdamW(m.parameters(), { lr: 1e-2 });
  const x = randomIds(2, 16, 40, 6);
  for (let i = 0; i < 10; i++)
    mox.scope(() => {
      m.forward(x, x.narrow(1, 0, 16)).loss!.backward();
      opt.step();
      opt.zeroGrad();
    });
  opt.dispose();
  const before = mox.memory().numTensors;
  const greedyA = generate(m, [[1, 2, 3]], { maxNewTokens: 25, temperature: 0, useCache: true });
  const greedyB = generate(m, [[1, 2, 3]], { maxNewTokens: 25, temperature: 0, useCache: false });
  assert.deepEqual(greedyA.newTokens, greedyB.newTokens);
  assert.deepEqual(greedyA.ids.shape, [1, 28]);
  for (const o of [
    { topK: null, topP: null },
    { topK: 5, topP: null },
    { topK: null, topP: 0.9 },
    { topK: 10, topP: 0.8 },
  ]) {
    const a = generate(
      m,
      [
        [1, 2, 3],
        [4, 5, 6],
      ],
      { maxNewTokens: 25, temperature: 1, seed: 11, ...o },
    );
    const b = generate(
      m,
      [
        [1, 2, 3],
        [4, 5, 6],
      ],
      { maxNewTokens: 25, temperature: 1, seed: 11, useCache: false, ...o },
    );
    assert.deepEqual(a.newTokens, b.newTokens, JSON.stringify(o));
    assert.ok(a.tokensPerSecond > 0);
    a.ids.dispose();
    b.ids.dispose();
    const c = generate(
      m,
      [
        [1, 2, 3],
        [4, 5, 6],
      ],
      { maxNewTokens: 25, temperature: 1, seed: 12, ...o },
    );
    c.ids.dispose();
    assert.notDeepEqual(c.newTokens, a.newTokens);
  }
  greedyA.ids.dispose();
  greedyB.ids.dispose();
  assert.equal(mox.memory().numTensors, before, 'generate frees its cache and temporaries');
  assert.equal(m.training, true, 'the mode is restored');
  assert.throws(() => generate(m, [[40]], { maxNewTokens: 1 }), /outside the vocabulary/);
});

test('sampleLogits: temperature 0 is argmax; top-k and top-p only pick allowed tokens', () => {
  const logits = [0.1, 2.0, 1.5, -1, 1.9, 0.0, 1.0, -3];
  const g = new mox.Generator(0);
  assert.equal(sampleLogits(logits, { temperature: 0 }, g), 1);
  const seenK = new Set<number>();
  const seenP = new Set<number>();
  for (let i = 0; i < 2000; i++) {
    seenK.add(sampleLogits(logits, { temperature: 1, topK: 3 }, g));
    seenP.add(sampleLogits(logits, { temperature: 1, topP: 0.5 }, g));
  }
  assert.deepEqual([...seenK].sort(), [1, 2, 4]);
  // probabilities in order 1 (0.274), 4 (0.248), ...: 0.5 is reached with the two most likely
  assert.deepEqual([...seenP].sort(), [1, 4]);
  assert.equal(sampleLogits(logits, { temperature: 1, topK: 1 }, g), 1);
  assert.equal(sampleLogits(logits, { temperature: 1, topP: 0.01 }, g), 1);
});

test('CLI: train gpt writes a checkpoint, generate reads it, --resume reproduces the uninterrupted run', () => {
  const dir = tmpDir();
  const data = path.join(dir, 'text.txt');
  fs.writeFileSync(data, corpus());
  const common = [
    '--data',
    data,
    '--n-layer',
    '2',
    '--n-head',
    '2',
    '--n-embd',
    '32',
    '--block-size',
    '16',
    '--batch-size',
    '4',
    '--eval-interval',
    '10',
    '--eval-iters',
    '2',
    '--warmup-iters',
    '3',
    '--dropout',
    '0.1',
    '--threads',
    '1',
  ];
  const full = path.join(dir, 'full');
  const r = mox_('train', 'gpt', ...common, '--max-iters', '20', '--out', full);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /step 0: train loss \d\.\d{4}, val loss \d\.\d{4}/);
  assert.match(r.stdout, /step 20: train loss .* ms\/iter, \d+ tokens\/s/);
  for (const f of ['config.json', 'model.safetensors', 'optimizer.safetensors', 'trainer_state.json', 'tokenizer.json']) {
    assert.ok(fs.existsSync(path.join(full, f)), f);
  }
  assert.deepEqual(
    fs.readdirSync(full).filter((f) => f.startsWith('.')),
    [],
    'no temporary files left',
  );
  const history = (f: string) =>
    (JSON.parse(fs.readFileSync(path.join(f, 'trainer_state.json'), 'utf8')) as { history: unknown[] }).history;
  const h = history(full) as { step: number; train: number; val: number }[];
  assert.deepEqual(
    h.map((e) => e.step),
    [0, 10, 20],
  );
  assert.ok(h[2]!.val < h[0]!.val, 'the validation loss goes down');

  // the same run in two parts: 10 iterations (with the full run's schedule), then --resume to 20
  const part = path.join(dir, 'part');
  assert.equal(mox_('train', 'gpt', ...common, '--max-iters', '10', '--lr-decay-iters', '20', '--out', part).code, 0);
  const res = mox_('train', 'gpt', '--out', part, '--resume', '--max-iters', '20', '--threads', '1');
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stdout, /resuming from .* at step 10/);
  assert.deepEqual(history(part), h, 'the same losses, bit for bit');
  assert.deepEqual(fs.readFileSync(path.join(part, 'model.safetensors')), fs.readFileSync(path.join(full, 'model.safetensors')));
  const clash = mox_('train', 'gpt', '--out', part, '--resume', '--n-embd', '64');
  assert.equal(clash.code, 1);
  assert.match(clash.stderr, /nEmbd/);

  // generate: text, ids, the same tokens without the cache
  const g = mox_('generate', '--model', full, '--prompt', 'The king', '--max-new-tokens', '30', '--seed', '3');
  assert.equal(g.code, 0, g.stderr);
  assert.ok(g.stdout.startsWith('The king'));
  assert.equal([...g.stdout.trimEnd()].length >= 8 + 20, true);
  assert.match(g.stderr, /30 tokens in .* tokens\/s/);
  const j1 = mox_('generate', '--model', full, '--prompt-ids', '1,2,3', '--max-new-tokens', '12', '--temperature', '0', '--json');
  const j2 = mox_(
    'generate',
    '--model',
    full,
    '--prompt-ids',
    '1,2,3',
    '--max-new-tokens',
    '12',
    '--temperature',
    '0',
    '--json',
    '--no-cache',
  );
  assert.equal(j1.code, 0, j1.stderr);
  const ids = JSON.parse(j1.stdout) as number[];
  assert.equal(ids.length, 15);
  assert.deepEqual(ids.slice(0, 3), [1, 2, 3]);
  assert.deepEqual(JSON.parse(j2.stdout), ids);
  const s1 = mox_(
    'generate',
    '--model',
    full,
    '--prompt',
    'The',
    '--max-new-tokens',
    '20',
    '--top-k',
    '5',
    '--top-p',
    '0.9',
    '--seed',
    '5',
  );
  const s2 = mox_(
    'generate',
    '--model',
    full,
    '--prompt',
    'The',
    '--max-new-tokens',
    '20',
    '--top-k',
    '5',
    '--top-p',
    '0.9',
    '--seed',
    '5',
    '--no-cache',
  );
  assert.equal(s1.stdout, s2.stdout);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('CLI: help, usage errors (exit 2) and missing or malformed files (exit 1, no stack)', () => {
  const dir = tmpDir();
  for (const args of [
    ['train', 'gpt', '--help'],
    ['generate', '--help'],
  ]) {
    const r = mox_(...args);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^usage: mox (train gpt|generate)/);
  }
  const top = mox_('--help');
  assert.match(top.stdout, /^ {2}train gpt\b/m);
  assert.match(top.stdout, /^ {2}generate\b/m);
  const usage: string[][] = [
    ['train', 'gpt', '--data', 'x.txt'], // no --out
    ['train', 'gpt', '--out', dir], // no data
    ['train', 'rnn', '--data', 'x', '--out', dir], // no such model
    ['train', 'gpt', '--data', 'x', '--out', dir, '--n-embd', '30', '--n-head', '4'],
    ['train', 'gpt', '--data', 'x', '--out', dir, '--lr', 'fast'],
    ['train', 'gpt', '--dataset', 'mnist', '--out', dir],
    ['generate', '--prompt', 'x'],
    ['generate', '--model', dir],
    ['generate', '--model', dir, '--prompt-ids', '1,-2'],
    ['generate', '--model', dir, '--prompt', 'x', '--top-p', '1.5'],
  ];
  for (const args of usage) {
    const r = mox_(...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^mox: /);
  }
  const fail = (args: string[], re: RegExp) => {
    const r = mox_(...args);
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.doesNotMatch(r.stderr, /^\s+at /m);
  };
  fail(
    ['train', 'gpt', '--data', path.join(dir, 'missing.txt'), '--out', path.join(dir, 'o')],
    /cannot read the data file .*missing\.txt: no such file/,
  );
  fs.writeFileSync(path.join(dir, 'short.txt'), 'too short');
  fail(['train', 'gpt', '--data', path.join(dir, 'short.txt'), '--out', path.join(dir, 'o')], /validation split/);
  fail(['train', 'gpt', '--out', path.join(dir, 'nothing'), '--resume'], /no checkpoint/);
  fail(['generate', '--model', path.join(dir, 'none'), '--prompt', 'x'], /no such folder/);
  const bad = path.join(dir, 'bad');
  fs.mkdirSync(bad);
  fail(['generate', '--model', bad, '--prompt', 'x'], /no config\.json/);
  fs.writeFileSync(path.join(bad, 'config.json'), '{ not json');
  fail(['generate', '--model', bad, '--prompt', 'x'], /not valid JSON/);
  fs.writeFileSync(path.join(bad, 'config.json'), JSON.stringify({ gpt: { ...TINY, nHead: 0 } }));
  fail(['generate', '--model', bad, '--prompt', 'x'], /nHead must be a positive integer/);
  fs.writeFileSync(path.join(bad, 'config.json'), JSON.stringify({ gpt: TINY }));
  fail(['generate', '--model', bad, '--prompt', 'x'], /no model\.safetensors/);
  fs.writeFileSync(path.join(bad, 'model.safetensors'), 'garbage!');
  fail(['generate', '--model', bad, '--prompt-ids', '1'], /model\.safetensors/);
  mox.seed(0);
  const other = new GPT({ ...TINY, nEmbd: 16 });
  mox.saveSafetensorsSync(path.join(bad, 'model.safetensors'), other.stateDict());
  fail(['generate', '--model', bad, '--prompt-ids', '1'], /does not fit config\.json/);
  fs.rmSync(dir, { recursive: true, force: true });
});
