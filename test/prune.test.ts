// mox.prune (issue 15): masks and state_dict keys as torch.nn.utils.prune (test/fixtures/prune-torch.json,
// written by torch 1.13 from prune-torch.py: l1/global masks, repeated pruning, remove, the amount
// rounding), gradients masked, pruned entries staying zero through training, the schedule, structured
// shrinking of a Sequential (outputs of the kept units unchanged, shapes, the Flatten boundary,
// BatchNorm), and typed errors for bad input.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as mox from '../src/index.js';
import { assertClose } from '../test-support/assert.js';

const { nn, prune } = mox;
const TORCH = JSON.parse(readFileSync(fileURLToPath(new URL('../../test/fixtures/prune-torch.json', import.meta.url)), 'utf8')) as Record<
  string,
  unknown
>;
const ref = (k: string): number[][] => TORCH[k] as number[][];

function linearWith(weight: number[][], bias?: number[]): mox.nn.Linear {
  const l = new nn.Linear(weight[0]!.length, weight.length);
  l.weight.copy_(mox.tensor(weight));
  if (bias) l.bias!.copy_(mox.tensor(bias));
  return l;
}

const flat = (t: mox.Tensor): number[] => Array.from(t.dataSync());
const mask = (m: mox.nn.Module, name = 'weight'): number[] => flat(m.buffer(`${name}_mask`)!);

describe('prune: unstructured, as torch.nn.utils.prune', () => {
  it('l1Unstructured: torch mask, key names, weight = orig * mask, repeated pruning, remove', () => {
    const a = linearWith(ref('a_weight'), TORCH.a_bias as number[]);
    const orig = a.weight;
    prune.l1Unstructured(a, 'weight', { amount: 0.3 });
    assert.deepEqual(mask(a), ref('a_mask_0.3').flat());
    assert.deepEqual(Object.keys(a.stateDict()), TORCH.a_keys);
    assert.ok(prune.isPruned(a));
    assert.equal(a.stateDict().weight_orig, orig, 'weight_orig is the same Parameter (an optimizer keeps it)');
    assert.ok(!a.parameters().some((p) => p !== orig && p.shape.length === 2), 'the computed weight is no parameter');
    assertClose(
      flat(a.weight),
      ref('a_weight')
        .flat()
        .map((v, i) => v * ref('a_mask_0.3').flat()[i]!),
    );
    // a count, taken from the entries still unpruned (PruningContainer)
    prune.l1Unstructured(a, 'weight', { amount: 5 });
    assert.deepEqual(mask(a), ref('a_mask_then_5').flat());
    prune.removePruning(a, 'weight');
    assert.deepEqual(Object.keys(a.stateDict()), TORCH.a_keys_removed);
    assert.equal(a.weight, orig);
    assert.ok(!prune.isPruned(a));
    assertClose(flat(a.weight), ref('a_weight_removed').flat());
  });

  it('globalUnstructured ranks every layer together, twice as torch', () => {
    const b = linearWith(ref('b_weight'));
    const c = linearWith(ref('c_weight'));
    prune.globalUnstructured(
      [
        [b, 'weight'],
        [c, 'weight'],
      ],
      { amount: 0.5 },
    );
    assert.deepEqual(mask(b), ref('b_mask_global').flat());
    assert.deepEqual(mask(c), ref('c_mask_global').flat());
    prune.globalUnstructured(
      [
        [b, 'weight'],
        [c, 'weight'],
      ],
      { amount: 0.5 },
    );
    assert.deepEqual(mask(b), ref('b_mask_global2').flat());
    assert.deepEqual(mask(c), ref('c_mask_global2').flat());
    // per layer would have pruned exactly half of each; global does not
    const zb = mask(b).filter((v) => v === 0).length;
    assert.equal(zb + mask(c).filter((v) => v === 0).length, 18);
    const report = prune.sparsity(new nn.Sequential(b, c));
    assert.equal(report.zeros, 18);
    assert.equal(report.size, 24);
    assert.equal(report.global, 0.75);
    assert.deepEqual(
      report.layers.map((l) => [l.name, l.zeros]),
      [
        ['0.weight', zb],
        ['1.weight', 18 - zb],
      ],
    );
  });

  it("amount rounds as torch's _compute_nparams_toprune; count; fraction 1 prunes all", () => {
    for (const [k, n] of Object.entries(TORCH.nparams as Record<string, number>)) {
      const [amount, size] = k.split('_').map(Number) as [number, number];
      assert.equal(prune.entriesToPrune('t', { amount }, size), n, k);
    }
    assert.equal(prune.entriesToPrune('t', { count: 1 }, 3), 1);
    assert.equal(prune.entriesToPrune('t', { amount: 3 }, 7), 3);
    const l = new nn.Linear(3, 2);
    prune.l1Unstructured(l, 'weight', { amount: 1 });
    assert.deepEqual(mask(l), [0, 0, 0, 0, 0, 0]);
    prune.l1Unstructured(l, 'bias', { count: 1 });
    assert.deepEqual(Object.keys(l.stateDict()), ['weight_orig', 'bias_orig', 'weight_mask', 'bias_mask']);
  });

  it('customFromMask combines with the mask in force; a pruned stateDict loads into a model pruned alike', () => {
    mox.seed(4);
    const a = new nn.Linear(3, 2);
    prune.customFromMask(
      a,
      'weight',
      mox.tensor([
        [1, 0, 1],
        [1, 1, 0],
      ]),
    );
    prune.customFromMask(
      a,
      'weight',
      mox.tensor([
        [0, 1, 1],
        [1, 1, 1],
      ]),
    );
    assert.deepEqual(mask(a), [0, 0, 1, 1, 1, 0]);
    assert.throws(() => prune.customFromMask(a, 'weight', mox.ones([3, 2])), /the mask's shape \[3, 2\] differs from weight's \[2, 3\]/);
    const b = new nn.Linear(3, 2);
    prune.l1Unstructured(b, 'weight', { amount: 0.5 });
    b.loadStateDict(a.stateDict());
    assert.deepEqual(mask(b), mask(a));
    assert.deepEqual(flat(b.weight), flat(a.weight));
    assert.throws(() => new nn.Linear(3, 2).loadStateDict(a.stateDict()), /unexpected keys \[weight_orig, weight_mask\]/);
  });

  it('randomUnstructured prunes the count asked, reproducibly with mox.seed', () => {
    const masks = [0, 0].map(() => {
      mox.seed(3);
      const l = new nn.Linear(10, 10);
      prune.randomUnstructured(l, 'weight', { amount: 0.4 });
      return mask(l);
    });
    assert.deepEqual(masks[0], masks[1]);
    assert.equal(masks[0]!.filter((v) => v === 0).length, 40);
  });

  it('gradients reach weight_orig only where the mask is 1; pruned entries stay zero through fit', async () => {
    mox.seed(0);
    const model = new nn.Sequential(new nn.Linear(4, 16), new nn.ReLU(), new nn.Linear(16, 3));
    prune.globalUnstructured(prune.prunableWeights(model), { amount: 0.6 });
    const x = mox.randn([32, 4]);
    const y = mox.randint(0, 3, [32]);
    mox.nn.functional.crossEntropy(model.forward(x), y).backward();
    for (const [m] of prune.prunableWeights(model)) {
      const g = flat(m.stateDict().weight_orig!.grad!);
      const mk = mask(m);
      assert.ok(
        g.every((v, i) => mk[i] !== 0 || v === 0),
        'a pruned entry got a gradient',
      );
      assert.ok(g.some((v) => v !== 0));
    }
    model.zeroGrad();
    const before = prune.sparsity(model);
    model.compile({ optimizer: 'adamw', lr: 0.05, loss: 'sparseCategoricalCrossentropy' });
    await model.fit(x, y, { epochs: 3, batchSize: 8, verbose: 0 });
    const after = prune.sparsity(model);
    assert.equal(after.zeros, before.zeros);
    for (const [m] of prune.prunableWeights(model)) {
      const w = flat((m as unknown as { weight: mox.Tensor }).weight);
      mask(m).forEach((v, i) => v === 0 && assert.ok(w[i] === 0, `pruned entry ${i} is ${w[i]}`));
    }
    prune.removeAllPruning(model);
    assert.ok(!prune.isPruned(model));
    assert.equal(prune.sparsity(model).zeros, before.zeros);
  });

  it('PruningSchedule raises sparsity along the polynomial to the final value', async () => {
    assert.equal(prune.polynomialSparsity(0, { finalSparsity: 0.8, endStep: 10 }), 0);
    assertClose([prune.polynomialSparsity(5, { finalSparsity: 0.8, endStep: 10 })], [0.8 - 0.8 * 0.5 ** 3]);
    assert.equal(prune.polynomialSparsity(12, { finalSparsity: 0.8, endStep: 10 }), 0.8);
    mox.seed(1);
    const model = new nn.Sequential(new nn.Linear(4, 32), new nn.ReLU(), new nn.Linear(32, 3));
    const x = mox.randn([64, 4]);
    const y = mox.randint(0, 3, [64]);
    const schedule = new prune.PruningSchedule({ finalSparsity: 0.8, frequency: 4 });
    model.compile({ optimizer: 'adam', lr: 0.01, loss: 'sparseCategoricalCrossentropy' });
    await model.fit(x, y, { epochs: 2, batchSize: 8, verbose: 0, callbacks: [schedule] });
    const steps = schedule.history.map(([s]) => s);
    assert.deepEqual(steps, [0, 4, 8, 12, 15]);
    const s = schedule.history.map(([, v]) => v);
    assert.ok(s.every((v, i) => i === 0 || v >= s[i - 1]!));
    assertClose([prune.sparsity(model).global], [0.8], { atol: 1 / 224 });
  });

  it('typed errors: amount, unknown parameter, remove before prune, setter, structured on a masked layer', () => {
    const l = new nn.Linear(3, 2);
    assert.throws(
      () => prune.l1Unstructured(l, 'weight', { amount: 1.5 }),
      (e: Error) => e instanceof mox.ValueError && /amount=1.5/.test(e.message),
    );
    assert.throws(() => prune.l1Unstructured(l, 'weight', { amount: -0.1 }), mox.ValueError);
    assert.throws(
      () => prune.l1Unstructured(l, 'weight', { amount: 7 }),
      /amount=7 should be smaller than the number of parameters to prune=6/,
    );
    assert.throws(() => prune.l1Unstructured(l, 'weight', { amount: 0.5, count: 1 }), mox.ValueError);
    assert.throws(
      () => prune.l1Unstructured(l, 'kernel', { amount: 0.5 }),
      /Linear has no parameter 'kernel' \(its parameters: weight, bias\)/,
    );
    assert.throws(() => prune.removePruning(l, 'weight'), /has to be pruned before pruning can be removed/);
    prune.l1Unstructured(l, 'weight', { amount: 0.5 });
    assert.throws(() => prune.l1Unstructured(l, 'weight_orig', { amount: 0.5 }), /pruning's own state/);
    assert.throws(() => {
      (l as unknown as { weight: unknown }).weight = null;
    }, /removePruning/);
    const seq = new nn.Sequential(l, new nn.ReLU(), new nn.Linear(2, 2));
    assert.throws(() => prune.pruneLinearNeurons(seq, 0, { amount: 0.5 }), /carries a pruning mask/);
    assert.throws(() => prune.globalUnstructured([], { amount: 0.5 }), mox.ValueError);
    assert.throws(() => new prune.PruningSchedule({ finalSparsity: 1.2 }), mox.ValueError);
  });
});

describe('prune: structured, shrinking a Sequential', () => {
  it('Linear neurons: zero-norm neurons go, outputs unchanged, shapes and parameter count shrink', () => {
    mox.seed(0);
    const model = new nn.Sequential(new nn.Linear(6, 8), new nn.ReLU(), new nn.BatchNorm1d(8), new nn.Linear(8, 3));
    model.eval();
    const l0 = model.getSubmodule('0') as mox.nn.Linear;
    // neurons 1, 4, 6 output relu(0) = 0 into the batch norm, whose shift we also kill so they carry nothing
    const w = l0.weight.tolist() as number[][];
    const b = l0.bias!.tolist() as number[];
    for (const r of [1, 4, 6]) {
      w[r] = w[r]!.map(() => 0);
      b[r] = 0;
    }
    l0.weight.copy_(mox.tensor(w));
    l0.bias!.copy_(mox.tensor(b));
    const bn = model.getSubmodule('2') as mox.nn.BatchNorm1d;
    bn.bias!.copy_(mox.tensor([0.1, 0, 0.2, 0.3, 0, 0.4, 0, 0.5]));
    bn.setBuffer('running_mean', mox.tensor([0.1, 0, 0.2, 0.1, 0, 0.3, 0, 0.1]));
    const x = mox.randn([5, 6]);
    const before = flat(model.forward(x));
    const n0 = model.numParameters();
    const r = prune.pruneLinearNeurons(model, 0, { count: 3 });
    assert.deepEqual(r.kept, [0, 2, 3, 5, 7]);
    assert.deepEqual(r.consumers, ['2', '3']);
    assertClose(flat(model.forward(x)), before, { atol: 1e-5 });
    assert.deepEqual((model.getSubmodule('3') as mox.nn.Linear).weight.shape, [3, 5]);
    assert.deepEqual(flat(model.getSubmodule('2').buffer('running_mean')!), [0.1, 0.2, 0.1, 0.3, 0.1].map(Math.fround));
    assert.equal(model.numParameters(), n0 - 3 * 6 - 3 - 3 * 2 - 3 * 3);
    assert.throws(() => prune.pruneLinearNeurons(model, 3, { amount: 0.5 }), /outputs are the model's outputs/);
    assert.throws(() => prune.pruneLinearNeurons(model, 1, { amount: 0.5 }), /not a Linear/);
  });

  it('Conv channels: through ReLU, pooling, BatchNorm2d, into the next Conv and across Flatten into a Linear', async () => {
    mox.seed(2);
    const model = new nn.Sequential(
      new nn.Conv2d(2, 6, 3),
      new nn.BatchNorm2d(6),
      new nn.ReLU(),
      new nn.MaxPool2d(2),
      new nn.Conv2d(6, 4, 3, { padding: 1 }),
      new nn.ReLU(),
      new nn.Flatten(),
      new nn.Linear(4 * 3 * 3, 5),
      new nn.ReLU(),
      new nn.Linear(5, 2),
    );
    model.eval();
    // channel 3 of the first conv and channel 1 of the second carry nothing: zero weights and bias,
    // and a batch norm that maps 0 to 0 (running mean 0, shift 0)
    const c0 = model.getSubmodule('0') as mox.nn.Conv2d;
    const w0 = c0.weight.tolist() as number[][][][];
    w0[3] = w0[3]!.map((a) => a.map((r) => r.map(() => 0)));
    c0.weight.copy_(mox.tensor(w0));
    const b0 = flat(c0.bias!);
    b0[3] = 0;
    c0.bias!.copy_(mox.tensor(b0));
    const bn = model.getSubmodule('1') as mox.nn.BatchNorm2d;
    bn.bias!.copy_(mox.tensor([0.1, -0.1, 0.2, 0, 0.3, 0.05]));
    const c4 = model.getSubmodule('4') as mox.nn.Conv2d;
    const w4 = c4.weight.tolist() as number[][][][];
    w4[1] = w4[1]!.map((a) => a.map((r) => r.map(() => 0)));
    c4.weight.copy_(mox.tensor(w4));
    const b4 = flat(c4.bias!);
    b4[1] = 0;
    c4.bias!.copy_(mox.tensor(b4));
    const x = mox.randn([3, 2, 8, 8]);
    const before = flat(model.forward(x));
    const n0 = model.numParameters();
    const r0 = prune.pruneConvChannels(model, 0, { count: 1, norm: 2 });
    assert.deepEqual(r0.kept, [0, 1, 2, 4, 5]);
    assert.deepEqual(r0.consumers, ['1', '4']);
    const r4 = prune.pruneConvChannels(model, 4, { count: 1 });
    assert.deepEqual(r4.kept, [0, 2, 3]);
    assert.deepEqual(r4.consumers, ['7']);
    assertClose(flat(model.forward(x)), before, { atol: 1e-5 });
    assert.deepEqual((model.getSubmodule('0') as mox.nn.Conv2d).weight.shape, [5, 2, 3, 3]);
    assert.deepEqual((model.getSubmodule('4') as mox.nn.Conv2d).weight.shape, [3, 5, 3, 3]);
    assert.deepEqual((model.getSubmodule('7') as mox.nn.Linear).weight.shape, [5, 27]);
    assert.ok(model.numParameters() < n0);
    // and the model still trains (new parameters: compile again)
    model.train();
    model.compile({ optimizer: 'adam', lr: 0.01, loss: 'sparseCategoricalCrossentropy' });
    const h = await model.fit(x, mox.tensor([0, 1, 0]), { epochs: 2, batchSize: 3, verbose: 0 });
    assert.ok(h.history.loss!.every(Number.isFinite));
  });

  it('pruneStructured halves every hidden layer of the MNIST-shaped CNN, keeps the output layer', () => {
    mox.seed(0);
    const model = new nn.Sequential(
      new nn.Conv2d(1, 8, 3),
      new nn.ReLU(),
      new nn.MaxPool2d(2),
      new nn.Conv2d(8, 8, 3),
      new nn.ReLU(),
      new nn.Flatten(),
      new nn.Linear(8 * 11 * 11, 16),
      new nn.ReLU(),
      new nn.Linear(16, 10),
    );
    const reports = prune.pruneStructured(model, { amount: 0.5 });
    assert.deepEqual(
      reports.map((r) => [r.layer, r.before, r.after]),
      [
        ['0', 8, 4],
        ['3', 8, 4],
        ['6', 16, 8],
      ],
    );
    assert.deepEqual(model.forward(mox.randn([2, 1, 28, 28])).shape, [2, 10]);
    assert.equal(model.numParameters(), 4 * 9 + 4 + 4 * 4 * 9 + 4 + 4 * 121 * 8 + 8 + 8 * 10 + 10);
    assert.throws(() => prune.pruneConvChannels(model, 0, { amount: 1 }), /cannot remove all 4 units/);
  });
});

it('a weight two modules share (a GPT tied head) is not pruned, and counted once', () => {
  const gpt = new mox.models.GPT({ vocabSize: 11, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 8 });
  const names = prune.prunableWeights(gpt).map(([m]) => gpt.namedModules().find(([, x]) => x === m)![0]);
  // lm_head.weight is wte.weight: masking it through one of them would leave the other unmasked
  assert.ok(!names.includes('transformer.wte') && !names.includes('lm_head'), names.join(', '));
  assert.ok(names.includes('transformer.h.0.attn.c_attn'));
  const unique = new Set(gpt.parameters().filter((p) => p.ndim >= 2));
  const report = prune.sparsity(gpt);
  assert.equal(
    report.size,
    [...unique].reduce((n, p) => n + p.size, 0),
  );
  const all = prune.sparsity(gpt, { all: true });
  assert.equal(
    all.size,
    gpt.parameters().reduce((n, p) => n + p.size, 0),
  );
  prune.globalUnstructured(prune.prunableWeights(gpt), { amount: 0.5 });
  const after = prune.sparsity(gpt).layers;
  assert.equal(after.find((l) => l.name === 'transformer.wte.weight')!.zeros, 0);
  const rest = after.filter((l) => l.name !== 'transformer.wte.weight');
  const zeros = rest.reduce((n, l) => n + l.zeros, 0);
  const size = rest.reduce((n, l) => n + l.size, 0);
  assert.ok(Math.abs(zeros / size - 0.5) < 1e-3, `${zeros} / ${size}`);
});
