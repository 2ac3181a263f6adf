// Bad numbers (issue 13, part 4): anomaly mode names the op whose value or gradient first went NaN
// or infinite and where it was recorded; fit's `nonFinite` raises, stops or skips the step at which
// the loss goes NaN (here: a NaN in the input of a known batch), leaving the weights as they were;
// clipGradNorm's errorIfNonfinite names the parameter; the trainers stop with one line and exit 1.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as mox from '../src/index.js';
import { AnomalyError, NonFiniteError, ValueError } from '../src/index.js';
import { assertClose } from '../test-support/assert.js';

const { nn, train } = mox;

describe('anomaly mode', () => {
  it('names the op whose backward returned Inf, the input and where the op was recorded', () => {
    const x = mox.tensor([1, 4, 0], { dtype: 'float32' }).requiresGrad_();
    try {
      mox.detectAnomaly(() => x.sqrt().sum().backward()); // finite forward (sqrt(0) = 0); d sqrt/dx at 0 is Inf
      assert.fail('expected an AnomalyError');
    } catch (e) {
      assert.ok(e instanceof AnomalyError, String(e));
      assert.equal(e.node, 'sqrt');
      assert.equal(e.phase, 'backward');
      assert.equal(e.input, 0);
      assert.match(
        e.message,
        /backward of 'sqrt' \(recorded at .*non-finite\.test\.js:\d+:\d+\) returned Inf in 1 of 3 elements, the first at index 2/,
      );
      assert.match(e.message, /for input 0 \(a leaf, \[3\]\)/);
      assert.match(e.createdAt.split('\n')[0]!, /non-finite\.test\.js/, 'the trace starts in the user code, not in mox/ops');
    }
    assert.equal(x.grad, null, 'nothing reached the leaf');
  });

  it("names 'log' of a negative input in the forward pass, though its gradient is finite", () => {
    const w = mox.tensor([0.5, -2, 3]).requiresGrad_();
    const a = mox.tensor([1, 1, 1]);
    const err = (() => {
      try {
        mox.detectAnomaly(() => {
          const h = w.mul(a); // finite
          const l = h.log(); // NaN at index 1
          l.mul(2).sum().backward();
        });
      } catch (e) {
        return e;
      }
      return null;
    })();
    assert.ok(err instanceof AnomalyError, String(err));
    assert.equal(err.node, 'log');
    assert.equal(err.phase, 'forward');
    assert.match(
      err.message,
      /the loss is non-finite \(NaN in 1 of 1 elements.*\): 'log' \(recorded at .*non-finite\.test\.js:\d+:\d+\) computed NaN in 1 of 3 elements, the first at index 1 \[3\] from finite inputs/,
    );
    // without anomaly mode the same graph runs backward and leaves a finite gradient (1/x * 2)
    const loss = w.mul(a).log().mul(2).sum();
    assert.ok(Number.isNaN(loss.item()));
    loss.backward();
    assertClose(w.grad!, [4, -1, 2 / 3]);
  });

  it('names a bad leaf input of the first op and a bad seed gradient', () => {
    const w = mox.tensor([1, Number.POSITIVE_INFINITY]).requiresGrad_();
    assert.throws(
      () => mox.detectAnomaly(() => w.exp().sum().backward()),
      (e: unknown) =>
        e instanceof AnomalyError && e.node === 'exp' && /input 0 of 'exp'.*\(a leaf, \[2\]\) already holds Inf in 1 of 2/.test(e.message),
    );
    const v = mox.tensor([1, 2], { dtype: 'float32' }).requiresGrad_();
    assert.throws(
      () => mox.detectAnomaly(() => v.exp().backward(mox.tensor([1, Number.NaN]))),
      /the gradient flowing into 'exp'.*the gradient passed to backward\(\) holds NaN/,
    );
  });

  it('finds a NaN in the data of a model with a cross-entropy loss (integer targets) at the first layer', () => {
    mox.seed(3);
    const m = new nn.Sequential(new nn.Linear(3, 4), new nn.ReLU(), new nn.Linear(4, 2));
    const x = mox.tensor([
      [1, 2, 3],
      [4, Number.NaN, 6],
    ]);
    const y = mox.tensor([0, 1], { dtype: 'int32' });
    assert.throws(
      () => mox.detectAnomaly(() => mox.nn.functional.crossEntropy(m.forward(x), y).backward()),
      (e: unknown) =>
        e instanceof AnomalyError &&
        e.phase === 'forward' &&
        /^detectAnomaly: the loss is non-finite \(NaN in 1 of 1 elements.*\): input \d of '\w+' \(recorded at .*\) \(a leaf, \[2,3\]\) already holds NaN in 1 of 6 elements, the first at index 4$/.test(
          e.message,
        ) &&
        /linear/i.test(e.createdAt),
    );
  });

  it('records no trace and checks nothing when off; detectAnomaly restores the mode, also on a throw and after a promise', async () => {
    assert.equal(mox.isAnomalyEnabled(), false);
    const x = mox.tensor([1, 2], { dtype: 'float32' }).requiresGrad_();
    assert.equal(x.mul(2)._node!.trace, undefined);
    assert.ok(mox.detectAnomaly(() => x.mul(2)._node!.trace) instanceof Error);
    assert.throws(() =>
      mox.detectAnomaly(() => {
        throw new Error('boom');
      }),
    );
    assert.equal(mox.isAnomalyEnabled(), false);
    const p = mox.detectAnomaly(async () => {
      await new Promise((r) => setTimeout(r, 1));
      return mox.isAnomalyEnabled();
    });
    assert.equal(mox.isAnomalyEnabled(), true, 'on while the promise is pending');
    assert.equal(await p, true);
    assert.equal(mox.isAnomalyEnabled(), false);
    mox.setDetectAnomaly(true);
    try {
      assert.equal(mox.isAnomalyEnabled(), true);
      // a finite graph passes every check and gives the usual gradient
      const y = mox.tensor([1, 2, 3], { dtype: 'float32' }).requiresGrad_();
      y.square().sum().backward();
      assertClose(y.grad!, [2, 4, 6]);
    } finally {
      mox.setDetectAnomaly(false);
    }
  });
});

// 16 examples of 2 features in batches of 4 without shuffling: example 9 holds a NaN, so batch 2 of
// every epoch (step 2, 6, ...) has a NaN loss and NaN gradients, the first of them '0.weight''s.
function data(bad = true): { x: mox.Tensor; y: mox.Tensor } {
  mox.seed(7);
  const x = mox.randn([16, 2]);
  const y = mox.tensor(
    Array.from({ length: 16 }, (_, i) => i % 2),
    { dtype: 'int32' },
  );
  if (!bad) return { x, y };
  const flat = Array.from(x.dataSync());
  flat[9 * 2 + 1] = Number.NaN;
  return { x: mox.tensor(flat).reshape(16, 2), y };
}

function model(nonFinite?: 'raise' | 'stop' | 'skip' | 'ignore'): mox.nn.Module {
  mox.seed(0);
  const m = new nn.Sequential(new nn.Linear(2, 8), new nn.Tanh(), new nn.Linear(8, 2));
  m.compile({ optimizer: 'adam', lr: 0.05, loss: 'sparseCategoricalCrossentropy', ...(nonFinite ? { nonFinite } : {}) });
  return m;
}

function weights(m: mox.nn.Module): Record<string, number[]> {
  return Object.fromEntries(m.namedParameters().map(([k, p]) => [k, Array.from(p.dataSync())]));
}

function allFinite(m: mox.nn.Module): boolean {
  return Object.values(weights(m)).every((w) => w.every(Number.isFinite));
}

const sink = () => ({
  text: '',
  isTTY: false,
  write(s: string) {
    this.text += s;
    return true;
  },
});

describe('fit nonFinite', () => {
  const fitOpts = { batchSize: 4, shuffle: false, verbose: 0 } as const;

  it("'raise' names the step, the loss and the first parameter whose gradient is NaN, before the step is taken", async () => {
    const { x, y } = data();
    const m = model('raise');
    const err = await m.fit(x, y, { ...fitOpts, epochs: 2 }).then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(err instanceof NonFiniteError, String(err));
    assert.equal(err.step, 2);
    assert.equal(err.epoch, 0);
    assert.equal(err.batch, 2);
    assert.ok(Number.isNaN(err.loss));
    assert.equal(err.parameter, '0.weight');
    assert.match(
      err.message,
      /^fit: step 2 \(epoch 1, batch 2\): the loss is NaN; the first non-finite gradient is that of '0\.weight' \(NaN in 16 of 16 elements\)$/,
    );
    assert.ok(allFinite(m), 'the NaN step was not applied');
    // the weights are those after the two good steps
    const ref = model('ignore');
    const clean = data();
    await ref.fit(clean.x.slice([0, 8]), clean.y.slice([0, 8]), { ...fitOpts, epochs: 1 });
    assert.deepEqual(weights(m), weights(ref));
  });

  it("'stop' logs the same message, keeps the last good weights and ends training, as TerminateOnNaN", async () => {
    const { x, y } = data();
    const m = model();
    const out = sink();
    const h = await m.fit(x, y, { ...fitOpts, epochs: 3, nonFinite: 'stop', stream: out });
    assert.match(
      out.text,
      /step 2 \(epoch 1, batch 2\): the loss is NaN; the first non-finite gradient is that of '0\.weight'.*: terminating training/,
    );
    assert.deepEqual(h.epoch, [0], 'the first epoch ends, no other starts');
    assert.ok(allFinite(m));
    const ref = model();
    const clean = data();
    await ref.fit(clean.x.slice([0, 8]), clean.y.slice([0, 8]), { ...fitOpts, epochs: 1 });
    assert.deepEqual(weights(m), weights(ref));
  });

  it("'skip' leaves the weights unchanged on the NaN steps, counts them in the history and trains on", async () => {
    const { x, y } = data();
    const m = model('skip');
    const out = sink();
    const batches: number[] = [];
    const seen = new (class extends train.Callback {
      override onBatchEnd(_b: number, logs: Record<string, number>): void {
        batches.push(logs['skipped']!);
      }
    })();
    const h = await m.fit(x, y, { ...fitOpts, epochs: 2, verbose: 2, stream: out, callbacks: [seen] });
    assert.deepEqual(h.history['skipped'], [1, 1]);
    assert.deepEqual(batches, [0, 0, 1, 1, 0, 0, 1, 1]);
    assert.ok(h.history['loss']!.every(Number.isFinite), 'a skipped step is not in the loss');
    assert.match(out.text, /step 6 \(epoch 2, batch 2\): the loss is NaN.*: step skipped/);
    // the same run without batch 2 (Adam's step count is not advanced by a skipped step either)
    const clean = data();
    const keepRows = mox.tensor([0, 1, 2, 3, 4, 5, 6, 7, 12, 13, 14, 15], { dtype: 'int32' });
    const ref = model();
    await ref.fit(clean.x.indexSelect(0, keepRows), clean.y.indexSelect(0, keepRows), { ...fitOpts, epochs: 2 });
    assert.deepEqual(weights(m), weights(ref));
  });

  it("'ignore' (the default) keeps today's behaviour: TerminateOnNaN stops after the NaN step, whose update is applied", async () => {
    const { x, y } = data();
    const m = model();
    const logged: string[] = [];
    const log = console.log;
    console.log = (s: string) => logged.push(s);
    try {
      await m.fit(x, y, { ...fitOpts, epochs: 2, callbacks: [new train.TerminateOnNaN()] });
    } finally {
      console.log = log;
    }
    assert.deepEqual(logged, ['Batch 2: invalid loss, terminating training']);
    assert.ok(!allFinite(m), 'the NaN gradients reached the weights');
  });

  it('a finite run is the same with every mode, and a bad mode is a ValueError', async () => {
    const { x, y } = data(false);
    const runs: Record<string, number[]>[] = [];
    for (const mode of ['ignore', 'raise', 'stop', 'skip'] as const) {
      const m = model(mode);
      await m.fit(x, y, { ...fitOpts, epochs: 2 });
      runs.push(weights(m));
    }
    for (const r of runs.slice(1)) assert.deepEqual(r, runs[0]);
    assert.throws(() => model().compile({ loss: 'mse', nonFinite: 'warn' as never }), ValueError);
    await assert.rejects(
      model().fit(x, y, { nonFinite: 'nan' as never }),
      /nonFinite must be 'raise', 'stop', 'skip' or 'ignore', got "nan"/,
    );
  });
});

describe('clipGradNorm errorIfNonfinite', () => {
  it('names the first parameter whose gradient has a non-finite norm', () => {
    mox.seed(1);
    const m = new nn.Sequential(new nn.Linear(3, 2), new nn.Linear(2, 1));
    const x = mox.tensor([[1, Number.POSITIVE_INFINITY, 0]]);
    m.forward(x).sum().backward();
    assert.throws(
      () => mox.optim.clipGradNorm(m.namedParameters(), 1, 2, { errorIfNonfinite: true }),
      /clipGradNorm: the total norm of order 2 of the gradients is non-finite \(\w+\), so it cannot be clipped; the first gradient whose norm is non-finite \(\w+\) is that of '0\.weight' \[2,3\]/,
    );
    assert.throws(() => mox.optim.clipGradNorm(m.parameters(), 1, 2, { errorIfNonfinite: true }), /is that of parameter 0 \[2,3\]/);
    // without the flag it clips as before (and returns the non-finite norm)
    assert.ok(!Number.isFinite(mox.optim.clipGradNorm(m.parameters(), 1).item()));
  });
});

describe('mox train gpt on a NaN loss', () => {
  it('stops with one line naming the step and the checkpoint still good, exit code 1', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mox-nan-'));
    fs.writeFileSync(path.join(dir, 'text.txt'), 'Before we proceed any further, hear me speak.\n'.repeat(20));
    const out = path.join(dir, 'run');
    const tiny = ['--n-layer', '1', '--n-head', '2', '--n-embd', '16', '--block-size', '16', '--batch-size', '2', '--eval-iters', '1'];
    const r = spawnSync(
      process.execPath,
      [
        path.resolve('dist/src/cli/main.js'),
        'train',
        'gpt',
        '--data',
        path.join(dir, 'text.txt'),
        '--out',
        out,
        ...tiny,
        '--threads',
        '1',
        '--max-iters',
        '20',
        '--eval-interval',
        '20',
        '--warmup-iters',
        '0',
        '--lr',
        '1e30',
        '--grad-clip',
        '0',
      ],
      { encoding: 'utf8', timeout: 120_000 },
    );
    assert.equal(r.status, 1, r.stderr);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(
      lines[0]!,
      /^mox: train gpt: the loss became (NaN|-?Infinity) at step \d+; the checkpoint in .*run \(step 0\) is still good: continue it with --resume and a lower --lr$/,
    );
    // the checkpoint of step 0 is there and finite
    const state = JSON.parse(fs.readFileSync(path.join(out, 'trainer_state.json'), 'utf8')) as { step: number };
    assert.equal(state.step, 0);
  });
});
