// Tests for the sequence layers: LSTM, GRU, MultiheadAttention and TransformerBlock. Gradients by
// float64 finite differences (mox.gradcheck), initial state, multi-layer and batch-first layouts,
// masks, dropout in training only, PyTorch's state-dict key names, and the KV cache.
// (PyTorch's numbers for all four are checked in golden.test.ts.)

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as mox from '../src/index.js';
import type { Tensor } from '../src/index.js';
import { maxAbsDiff as maxDiff } from '../test-support/assert.js';

const { nn } = mox;
const F = nn.functional;

const flat = (...ts: Tensor[]): Tensor =>
  mox.concat(
    ts.map((t) => t.flatten()),
    0,
  );
const f64 = (shape: number[]): Tensor => mox.randn(shape).double().requiresGrad_(true);

describe('LSTM and GRU', () => {
  it('LSTM gradients (2 layers, time-major, given h0 and c0) match finite differences', () => {
    mox.scope(() => {
      mox.seed(1);
      const m = new nn.LSTM(3, 4, { numLayers: 2, dtype: 'float64' });
      const o = { numLayers: 2, bias: true, batchFirst: false, dropout: 0, training: true };
      const fn = (x: Tensor, h0: Tensor, c0: Tensor, ...ws: Tensor[]) => {
        const [out, [h, c]] = F.lstm(x, [h0, c0], ws, o);
        return flat(out, h, c);
      };
      assert.ok(mox.gradcheck(fn, [f64([5, 2, 3]), f64([2, 2, 4]), f64([2, 2, 4]), ...m.allWeights()]));
    });
  });

  it('LSTM gradients with zero initial state, batch-first, no bias', () => {
    mox.scope(() => {
      mox.seed(2);
      const m = new nn.LSTM(2, 3, { bias: false, batchFirst: true, dtype: 'float64' });
      const o = { numLayers: 1, bias: false, batchFirst: true, dropout: 0, training: true };
      const fn = (x: Tensor, ...ws: Tensor[]) => {
        const [out, [h, c]] = F.lstm(x, null, ws, o);
        return flat(out, h, c);
      };
      assert.ok(mox.gradcheck(fn, [f64([2, 4, 2]), ...m.allWeights()]));
    });
  });

  it('GRU gradients (2 layers, with and without h0) match finite differences', () => {
    mox.scope(() => {
      mox.seed(3);
      const m = new nn.GRU(3, 4, { numLayers: 2, dtype: 'float64' });
      const o = { numLayers: 2, bias: true, batchFirst: true, dropout: 0, training: true };
      const withH0 = (x: Tensor, h0: Tensor, ...ws: Tensor[]) => flat(...F.gru(x, h0, ws, o));
      assert.ok(mox.gradcheck(withH0, [f64([2, 5, 3]), f64([2, 2, 4]), ...m.allWeights()]));
      const zero = (x: Tensor, ...ws: Tensor[]) => flat(...F.gru(x, null, ws, o));
      assert.ok(mox.gradcheck(zero, [f64([2, 5, 3]), ...m.allWeights()]));
      const nb = new nn.GRU(2, 3, { bias: false, dtype: 'float64' });
      const o1 = { numLayers: 1, bias: false, batchFirst: false, dropout: 0, training: true };
      assert.ok(mox.gradcheck((x: Tensor, ...ws: Tensor[]) => flat(...F.gru(x, null, ws, o1)), [f64([3, 2, 2]), ...nb.allWeights()]));
    });
  });

  it('the module gives the same gradients as the functional form, and backward twice (retainGraph) doubles them', () => {
    mox.scope(() => {
      mox.seed(4);
      const m = new nn.LSTM(3, 5, { numLayers: 2, batchFirst: true });
      const x = mox.randn([2, 6, 3], { requiresGrad: true });
      const [out, [h, c]] = m.forward(x);
      const loss = out.square().sum().add(h.sum()).add(c.mean());
      loss.backward(undefined, { retainGraph: true });
      const g1 = x.grad!.clone();
      const w1 = m.weight_hh_l1!.grad!.clone();
      loss.backward();
      assert.ok(maxDiff(x.grad!, g1.mul(2)) < 1e-5);
      assert.ok(maxDiff(m.weight_hh_l1!.grad!, w1.mul(2)) < 1e-5);
      m.zeroGrad();
    });
  });

  it('initial state: explicit zeros = none; carrying the state over two halves = one pass', () => {
    mox.scope(() => {
      mox.seed(5);
      const lstm = new nn.LSTM(3, 4, { numLayers: 2 });
      const gru = new nn.GRU(3, 4, { numLayers: 2 });
      const x = mox.randn([6, 2, 3]);
      const z = mox.zeros([2, 2, 4]);
      const [o0, [h0, c0]] = lstm.forward(x);
      const [o1, [h1, c1]] = lstm.forward(x, [z, z]);
      assert.ok(maxDiff(o0, o1) < 1e-6 && maxDiff(h0, h1) < 1e-6 && maxDiff(c0, c1) < 1e-6);
      const [oa, sa] = lstm.forward(x.narrow(0, 0, 3));
      const [ob, [hb, cb]] = lstm.forward(x.narrow(0, 3, 3), sa);
      assert.ok(maxDiff(mox.concat([oa, ob], 0), o0) < 1e-5);
      assert.ok(maxDiff(hb, h0) < 1e-5 && maxDiff(cb, c0) < 1e-5);
      // h_n of the last layer is the last output step
      assert.ok(maxDiff(h0.narrow(0, 1, 1).squeeze(0), o0.narrow(0, 5, 1).squeeze(0)) < 1e-7);
      const [g0, gh0] = gru.forward(x);
      const [g1] = gru.forward(x, z);
      assert.ok(maxDiff(g0, g1) < 1e-6);
      const [ga, gha] = gru.forward(x.narrow(0, 0, 4));
      const [gb, ghb] = gru.forward(x.narrow(0, 4, 2), gha);
      assert.ok(maxDiff(mox.concat([ga, gb], 0), g0) < 1e-5 && maxDiff(ghb, gh0) < 1e-5);
      // a non-zero state changes the result
      assert.ok(maxDiff(lstm.forward(x, [mox.ones([2, 2, 4]), null])[0], o0) > 1e-3);
      assert.throws(() => lstm.forward(x, [mox.zeros([1, 2, 4]), null]), /h0 must have shape \[2,2,4\]/);
      assert.throws(() => gru.forward(mox.randn([6, 2, 5])), /expected inputSize 3/);
    });
  });

  it('shapes: multi-layer time-major, batch-first (same numbers, transposed), unbatched', () => {
    mox.scope(() => {
      mox.seed(6);
      const tm = new nn.LSTM(3, 4, { numLayers: 3 });
      const bf = new nn.LSTM(3, 4, { numLayers: 3, batchFirst: true });
      bf.loadStateDict(tm.stateDict());
      const x = mox.randn([7, 2, 3]);
      const [o, [h, c]] = tm.forward(x);
      assert.deepEqual(
        [o.shape, h.shape, c.shape],
        [
          [7, 2, 4],
          [3, 2, 4],
          [3, 2, 4],
        ],
      );
      const [ob, [hb]] = bf.forward(x.transpose(0, 1));
      assert.deepEqual(ob.shape, [2, 7, 4]);
      assert.ok(maxDiff(ob, o.transpose(0, 1)) < 1e-6 && maxDiff(hb, h) < 1e-6);
      const [ou, [hu, cu]] = tm.forward(x.narrow(1, 1, 1).squeeze(1));
      assert.deepEqual(
        [ou.shape, hu.shape, cu.shape],
        [
          [7, 4],
          [3, 4],
          [3, 4],
        ],
      );
      assert.ok(maxDiff(ou, o.narrow(1, 1, 1).squeeze(1)) < 1e-6);
      const g = new nn.GRU(3, 5, { numLayers: 2 });
      const [go, gh] = g.forward(x);
      assert.deepEqual(
        [go.shape, gh.shape],
        [
          [7, 2, 5],
          [2, 2, 5],
        ],
      );
    });
  });

  it('dropout between layers acts in training mode only', () => {
    mox.scope(() => {
      mox.seed(7);
      const m = new nn.LSTM(3, 8, { numLayers: 2, dropout: 0.5 });
      const ref = new nn.LSTM(3, 8, { numLayers: 2 });
      ref.loadStateDict(m.stateDict());
      const x = mox.randn([5, 2, 3]);
      const a = m.forward(x)[0],
        b = m.forward(x)[0];
      assert.ok(maxDiff(a, b) > 1e-4, 'training: two passes differ');
      assert.ok(maxDiff(a, ref.forward(x)[0]) > 1e-4);
      m.eval();
      assert.ok(maxDiff(m.forward(x)[0], ref.forward(x)[0]) < 1e-7, 'eval: no dropout');
      // one layer: there is no "between layers"
      const one = new nn.GRU(3, 4, { dropout: 0.5 });
      assert.ok(maxDiff(one.forward(x)[0], one.forward(x)[0]) < 1e-7);
    });
  });

  it('parameter names, shapes and default init follow PyTorch', () => {
    mox.seed(8);
    const m = new nn.LSTM(5, 6, { numLayers: 2 });
    assert.deepEqual(
      Object.entries(m.stateDict()).map(([k, t]) => [k, t.shape]),
      [
        ['weight_ih_l0', [24, 5]],
        ['weight_hh_l0', [24, 6]],
        ['bias_ih_l0', [24]],
        ['bias_hh_l0', [24]],
        ['weight_ih_l1', [24, 6]],
        ['weight_hh_l1', [24, 6]],
        ['bias_ih_l1', [24]],
        ['bias_hh_l1', [24]],
      ],
    );
    const k = 1 / Math.sqrt(6);
    for (const p of m.parameters()) {
      const v = p.dataSync();
      assert.ok(v.every((e) => e >= -k && e <= k) && v.some((e) => Math.abs(e) > 0.8 * k));
    }
    const g = new nn.GRU(3, 4, { bias: false });
    assert.deepEqual(Object.keys(g.stateDict()), ['weight_ih_l0', 'weight_hh_l0']);
    assert.deepEqual(g.weight_ih_l0!.shape, [12, 3]);
    assert.equal(String(m), 'LSTM(5, 6, num_layers=2)');
    assert.equal(
      String(new nn.GRU(3, 4, { batchFirst: true, dropout: 0.1, numLayers: 2 })),
      'GRU(3, 4, num_layers=2, batch_first=True, dropout=0.1)',
    );
  });

  it('trains: an LSTM learns to output the running sum sign', () => {
    mox.scope(() => {
      mox.seed(9);
      const lstm = new nn.LSTM(1, 8, { batchFirst: true });
      const head = new nn.Linear(8, 1);
      const opt = new mox.optim.Adam([...lstm.parameters(), ...head.parameters()], { lr: 0.05 });
      const x = mox.randn([16, 6, 1]);
      const y = x.sum(1).gt(0).float();
      let first = 0,
        last = 0;
      for (let i = 0; i < 60; i++) {
        mox.scope(() => {
          opt.zeroGrad();
          const [, [h]] = lstm.forward(x);
          const loss = F.binaryCrossEntropyWithLogits(head.forward(h.squeeze(0)), y);
          loss.backward();
          opt.step();
          if (i === 0) first = loss.item();
          last = loss.item();
        });
      }
      assert.ok(last < first * 0.5, `loss ${first} -> ${last}`);
    });
  });
});

describe('MultiheadAttention', () => {
  it('gradients (self- and cross-attention, masks, weights) match finite differences', () => {
    mox.scope(() => {
      mox.seed(10);
      const m = new nn.MultiheadAttention(4, 2, { dtype: 'float64' });
      const ps = [m.in_proj_weight, m.in_proj_bias!, m.out_proj.weight, m.out_proj.bias!];
      for (const p of ps) mox.noGrad(() => p.copy_(mox.randn(p.shape).mul(0.5)));
      const kpm = mox
        .tensor([
          [0, 0, 1],
          [0, 0, 0],
        ])
        .bool();
      const self = (x: Tensor, w: Tensor, b: Tensor, ow: Tensor, ob: Tensor) => {
        const [o, a] = F.multiHeadAttention(x, x, x, 2, w, b, ow, ob, { keyPaddingMask: kpm, isCausal: true });
        return flat(o, a!);
      };
      assert.ok(mox.gradcheck(self, [f64([3, 2, 4]), ...ps]));
      const am = mox.randn([2, 3]).double();
      const cross = (q: Tensor, k: Tensor, v: Tensor, w: Tensor, b: Tensor, ow: Tensor, ob: Tensor) =>
        F.multiHeadAttention(q, k, v, 2, w, b, ow, ob, { batchFirst: true, needWeights: false, attnMask: am })[0];
      assert.ok(mox.gradcheck(cross, [f64([2, 2, 4]), f64([2, 3, 4]), f64([2, 3, 4]), ...ps]));
    });
  });

  it('a bool mask (true = blocked) equals the float -inf mask and isCausal; weights average the heads', () => {
    mox.scope(() => {
      mox.seed(11);
      const m = new nn.MultiheadAttention(8, 2, { batchFirst: true });
      const x = mox.randn([2, 5, 8]);
      const blocked = mox.arange(5).unsqueeze(0).gt(mox.arange(5).unsqueeze(1));
      const additive = mox.where(blocked, -Infinity, 0);
      const [a, wa] = m.forward(x, x, x, { attnMask: blocked });
      const [b, wb] = m.forward(x, x, x, { attnMask: additive });
      const [c, wc] = m.forward(x, null, null, { isCausal: true });
      const [d, none] = m.forward(x, x, x, { isCausal: true, needWeights: false });
      assert.equal(none, null);
      assert.ok(maxDiff(a, b) < 1e-6 && maxDiff(a, c) < 1e-6 && maxDiff(a, d) < 1e-5);
      assert.ok(maxDiff(wa!, wb!) < 1e-7 && maxDiff(wa!, wc!) < 1e-7);
      assert.deepEqual(wa!.shape, [2, 5, 5]);
      const w = wa!.dataSync();
      for (let i = 0; i < 5; i++) for (let j = i + 1; j < 5; j++) assert.equal(w[i * 5 + j], 0);
      assert.ok(maxDiff(wa!.sum(-1), mox.ones([2, 5])) < 1e-6);
      const [, perHead] = m.forward(x, x, x, { attnMask: blocked, averageAttnWeights: false });
      assert.deepEqual(perHead!.shape, [2, 2, 5, 5]);
      assert.ok(maxDiff(perHead!.mean(1), wa!) < 1e-7);
    });
  });

  it('key padding mask: padded keys get no weight, and the output equals attention over the unpadded keys', () => {
    mox.scope(() => {
      mox.seed(12);
      const m = new nn.MultiheadAttention(6, 3);
      const q = mox.randn([4, 2, 6]);
      const kv = mox.randn([5, 2, 6]);
      // batch 0: the last two keys are padding; batch 1: none
      const kpm = mox
        .tensor([
          [0, 0, 0, 1, 1],
          [0, 0, 0, 0, 0],
        ])
        .bool();
      const [o, w] = m.forward(q, kv, kv, { keyPaddingMask: kpm });
      assert.deepEqual(
        [o.shape, w!.shape],
        [
          [4, 2, 6],
          [2, 4, 5],
        ],
      );
      const w0 = w!.narrow(0, 0, 1).narrow(2, 3, 2);
      assert.equal(w0.abs().sum().item(), 0);
      const kvShort = kv.narrow(0, 0, 3).narrow(1, 0, 1);
      const [o0] = m.forward(q.narrow(1, 0, 1), kvShort, kvShort);
      assert.ok(maxDiff(o.narrow(1, 0, 1), o0) < 1e-5);
      // a float padding mask works the same
      const [of] = m.forward(q, kv, kv, { keyPaddingMask: mox.where(kpm, -Infinity, 0), needWeights: false });
      assert.ok(maxDiff(of, o) < 1e-5);
      assert.throws(() => m.forward(q, kv, kv, { keyPaddingMask: mox.zeros([2, 4]).bool() }), /keyPaddingMask must be \[2, 5\]/);
    });
  });

  it('dropout on the weights in training only; names, init and unbatched input as PyTorch', () => {
    mox.scope(() => {
      mox.seed(13);
      const m = new nn.MultiheadAttention(8, 4, { dropout: 0.5 });
      assert.deepEqual(Object.keys(m.stateDict()), ['in_proj_weight', 'in_proj_bias', 'out_proj.weight', 'out_proj.bias']);
      assert.equal(m.in_proj_bias!.abs().sum().item(), 0);
      assert.equal(m.out_proj.bias!.abs().sum().item(), 0);
      const x = mox.randn([3, 2, 8]);
      assert.ok(maxDiff(m.forward(x)[0], m.forward(x)[0]) > 1e-4);
      m.eval();
      const [a] = m.forward(x);
      assert.ok(maxDiff(a, m.forward(x)[0]) === 0);
      const [u, uw] = m.forward(x.narrow(1, 0, 1).squeeze(1));
      assert.deepEqual(
        [u.shape, uw!.shape],
        [
          [3, 8],
          [3, 3],
        ],
      );
      assert.ok(maxDiff(u, a.narrow(1, 0, 1).squeeze(1)) < 1e-6);
      assert.deepEqual(Object.keys(new nn.MultiheadAttention(4, 2, { bias: false }).stateDict()), ['in_proj_weight', 'out_proj.weight']);
      assert.throws(() => new nn.MultiheadAttention(6, 4), /divisible/);
    });
  });
});

describe('TransformerBlock', () => {
  it('has nanoGPT/GPT-2 key names', () => {
    const b = new nn.TransformerBlock(16, 2);
    assert.deepEqual(
      Object.entries(b.stateDict()).map(([k, t]) => `${k} ${t.shape.join('x')}`),
      [
        'ln_1.weight 16',
        'ln_1.bias 16',
        'attn.c_attn.weight 48x16',
        'attn.c_attn.bias 48',
        'attn.c_proj.weight 16x16',
        'attn.c_proj.bias 16',
        'ln_2.weight 16',
        'ln_2.bias 16',
        'mlp.c_fc.weight 64x16',
        'mlp.c_fc.bias 64',
        'mlp.c_proj.weight 16x64',
        'mlp.c_proj.bias 16',
      ],
    );
    assert.deepEqual(Object.keys(new nn.TransformerBlock(8, 2, { bias: false }).stateDict()), [
      'ln_1.weight',
      'attn.c_attn.weight',
      'attn.c_proj.weight',
      'ln_2.weight',
      'mlp.c_fc.weight',
      'mlp.c_proj.weight',
    ]);
  });

  it('gradients match finite differences; causality holds', () => {
    mox.scope(() => {
      mox.seed(14);
      const b = new nn.TransformerBlock(4, 2, { dtype: 'float64' });
      assert.ok(mox.gradcheck((x: Tensor) => b.forward(x), [f64([1, 3, 4])]));
      const x = mox.randn([1, 5, 4]).double();
      const y = b.forward(x);
      const x2 = mox.concat([x.narrow(1, 0, 3), mox.randn([1, 2, 4]).double()], 1);
      assert.ok(maxDiff(b.forward(x2).narrow(1, 0, 3), y.narrow(1, 0, 3)) < 1e-12, 'later positions do not change earlier outputs');
    });
  });

  it('a KV cache gives the same outputs as the full sequence', () => {
    mox.scope(() => {
      mox.seed(15);
      const b = new nn.TransformerBlock(8, 2, { dropout: 0.1 }).eval();
      const x = mox.randn([2, 6, 8]);
      const full = b.forward(x);
      const cache = new nn.KVCache();
      mox.noGrad(() => {
        const parts = [b.forward(x.narrow(1, 0, 3), cache)];
        for (let t = 3; t < 6; t++) parts.push(mox.scope(() => mox.keep(b.forward(x.narrow(1, t, 1), cache))));
        assert.equal(cache.length, 6);
        assert.ok(maxDiff(mox.concat(parts, 1), full) < 1e-5);
        cache.clear();
        // two positions at a time after a prefix (a bottom-right aligned causal mask)
        const p = [b.forward(x.narrow(1, 0, 2), cache), b.forward(x.narrow(1, 2, 2), cache), b.forward(x.narrow(1, 4, 2), cache)];
        assert.ok(maxDiff(mox.concat(p, 1), full) < 1e-5);
        cache.clear();
      });
    });
  });
});
