// Tensors themselves: creation, seeded randomness, views and strides (checked against what PyTorch
// gives for the same sequence of ops), readout, casting and printing.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as mox from '../src/index.js';
import type { Tensor } from '../src/index.js';
import { assertClose } from '../test-support/assert.js';

const close = (a: number, b: number, tol = 1e-6): void => assertClose(a, b, { atol: tol, rtol: 0 });
const layout = (t: Tensor): { shape: number[]; strides: number[]; offset: number } => ({
  shape: [...t.shape],
  strides: [...t.strides],
  offset: t.offset,
});

describe('tensor() from data', () => {
  test('infers dtype like PyTorch: ints -> int32, any fraction -> float32, booleans -> bool', () => {
    const i = mox.tensor([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    assert.equal(i.dtype, 'int32');
    assert.deepEqual(i.shape, [2, 3]);
    assert.deepEqual(i.tolist(), [
      [1, 2, 3],
      [4, 5, 6],
    ]);
    const f = mox.tensor([
      [1, 2.5],
      [3, 4],
    ]);
    assert.equal(f.dtype, 'float32');
    assert.deepEqual(f.tolist(), [
      [1, 2.5],
      [3, 4],
    ]);
    const b = mox.tensor([true, false, true]);
    assert.equal(b.dtype, 'bool');
    assert.deepEqual(b.tolist(), [true, false, true]);
    const s = mox.tensor(7);
    assert.deepEqual(s.shape, []);
    assert.equal(s.dtype, 'int32');
    assert.equal(s.item(), 7);
    assert.equal(mox.tensor(0.5).dtype, 'float32');
    assert.equal(mox.tensor([[1, 2]], { dtype: 'float64' }).dtype, 'float64');
  });

  test('typed arrays keep their dtype and take a shape', () => {
    const t = mox.tensor(new Float32Array([1, 2, 3, 4, 5, 6]), { shape: [2, 3] });
    assert.equal(t.dtype, 'float32');
    assert.deepEqual(t.shape, [2, 3]);
    assert.deepEqual(t.tolist(), [
      [1, 2, 3],
      [4, 5, 6],
    ]);
    assert.equal(mox.tensor(new Int32Array([1, 2])).dtype, 'int32');
    assert.equal(mox.tensor(new Float64Array([1, 2])).dtype, 'float64');
    assert.equal(mox.tensor(new Uint8Array([1, 0])).dtype, 'bool');
    assert.deepEqual(mox.tensor(new Float32Array([1.9, -1.9]), { dtype: 'int32' }).tolist(), [1, -1]);
  });

  test('shape and data mismatch, ragged arrays and bad elements are errors', () => {
    assert.throws(() => mox.tensor(new Float32Array(5), { shape: [2, 3] }), mox.ShapeError);
    assert.throws(() => mox.tensor([1, 2, 3], { shape: [2, 2] }), mox.ShapeError);
    assert.throws(() => mox.tensor([[1, 2], [3]]), mox.ShapeError);
    assert.throws(() => mox.tensor([[1, 2], 3] as never), mox.ShapeError);
    assert.throws(() => mox.tensor(['a'] as never), mox.ValueError);
    assert.throws(() => mox.tensor([1], { dtype: 'int8' as never }), mox.DTypeError);
  });
});

describe('filled tensors and ranges', () => {
  test('zeros, ones, full and the *Like forms', () => {
    const z = mox.zeros([2, 3]);
    assert.equal(z.dtype, 'float32');
    assert.deepEqual(z.tolist(), [
      [0, 0, 0],
      [0, 0, 0],
    ]);
    assert.deepEqual(mox.ones([2]).tolist(), [1, 1]);
    assert.deepEqual(mox.full([2, 2], 7.5).tolist(), [
      [7.5, 7.5],
      [7.5, 7.5],
    ]);
    assert.equal(mox.full([1], 3, { dtype: 'int32' }).dtype, 'int32');
    assert.deepEqual(mox.zeros([]).shape, []);
    assert.equal(mox.zeros([0, 3]).size, 0);
    assert.throws(() => mox.zeros([-1]), mox.ValueError);
    assert.throws(() => mox.ones([1.5]), mox.ValueError);
    const i = mox.arange(6).reshape(2, 3);
    const zl = mox.zerosLike(i);
    assert.equal(zl.dtype, 'int32');
    assert.deepEqual(zl.shape, [2, 3]);
    assert.deepEqual(mox.onesLike(i, { dtype: 'float64' }).dtype, 'float64');
    assert.deepEqual(mox.fullLike(i, 4).tolist(), [
      [4, 4, 4],
      [4, 4, 4],
    ]);
  });

  test('arange: ints give int32, floats float32, negative steps count down, end excluded', () => {
    const a = mox.arange(5);
    assert.equal(a.dtype, 'int32');
    assert.deepEqual(a.tolist(), [0, 1, 2, 3, 4]);
    assert.deepEqual(mox.arange(2, 8, 3).tolist(), [2, 5]);
    assert.deepEqual(mox.arange(5, 0, -1).tolist(), [5, 4, 3, 2, 1]);
    assert.deepEqual(mox.arange(-1, -7, -2).tolist(), [-1, -3, -5]);
    const f = mox.arange(0, 1, 0.25);
    assert.equal(f.dtype, 'float32');
    assert.deepEqual(f.tolist(), [0, 0.25, 0.5, 0.75]);
    assert.deepEqual(mox.arange(1, 0, -0.25).tolist(), [1, 0.75, 0.5, 0.25]);
    assert.equal(mox.arange(0, 1, 0.1).size, 10); // torch.arange(0, 1, 0.1) has 10 elements
    assert.equal(mox.arange(3, 3).size, 0);
    assert.equal(mox.arange(0, 5, -1).size, 0);
    assert.throws(() => mox.arange(0, 5, 0), mox.ValueError);
  });

  test('linspace hits both endpoints exactly', () => {
    const l = mox.linspace(-1, 3.3, 11);
    const d = l.dataSync();
    assert.equal(d.length, 11);
    assert.equal(d[0], -1);
    assert.equal(d[10], Math.fround(3.3));
    close(d[5]!, 1.15, 1e-6);
    for (let i = 1; i < 11; i++) close(d[i]! - d[i - 1]!, 0.43, 1e-6);
    assert.deepEqual(mox.linspace(0, 1, 5).tolist(), [0, 0.25, 0.5, 0.75, 1]);
    assert.deepEqual(mox.linspace(2, 2, 1).tolist(), [2]);
    assert.equal(mox.linspace(0, 1, 0).size, 0);
    const long = mox.linspace(0, 0.1, 1001).dataSync();
    assert.equal(long[1000], Math.fround(0.1));
  });

  test('eye, square and rectangular', () => {
    assert.deepEqual(mox.eye(3).tolist(), [
      [1, 0, 0],
      [0, 1, 0],
      [0, 0, 1],
    ]);
    assert.deepEqual(mox.eye(2, 3).tolist(), [
      [1, 0, 0],
      [0, 1, 0],
    ]);
    assert.deepEqual(mox.eye(3, 2).tolist(), [
      [1, 0],
      [0, 1],
      [0, 0],
    ]);
    assert.equal(mox.eye(2, 2, { dtype: 'int32' }).dtype, 'int32');
  });
});

describe('random tensors', () => {
  test('rand, randn, randint are reproducible under mox.seed and differ across seeds', () => {
    const draw = (s: number): number[][] => {
      mox.seed(s);
      return [mox.rand([50]), mox.randn([50]), mox.randint(0, 10, [50])].map((t) => Array.from(t.dataSync()));
    };
    const a = draw(42);
    const b = draw(42);
    const c = draw(43);
    assert.deepEqual(a, b);
    for (let k = 0; k < 3; k++) assert.notDeepEqual(a[k], c[k]);
    // a fresh generator with the same seed gives the same stream as the global one
    mox.seed(7);
    const g = new mox.Generator(7);
    assert.deepEqual(Array.from(mox.rand([10]).dataSync()), Array.from(mox.rand([10], { generator: g }).dataSync()));
  });

  test('the generator is xoshiro128** (checked against the reference algorithm), and fillRandom is random() repeated', () => {
    // the algorithm as published (Blackman and Vigna), on four uint32 words
    const rotl = (x: number, k: number): number => ((x << k) | (x >>> (32 - k))) >>> 0;
    const ref = [1, 2, 3, 4];
    const refNext = (): number => {
      const result = Math.imul(rotl(Math.imul(ref[1]!, 5) >>> 0, 7), 9) >>> 0;
      const t = (ref[1]! << 9) >>> 0;
      ref[2] = (ref[2]! ^ ref[0]!) >>> 0;
      ref[3] = (ref[3]! ^ ref[1]!) >>> 0;
      ref[1] = (ref[1]! ^ ref[2]!) >>> 0;
      ref[0] = (ref[0]! ^ ref[3]!) >>> 0;
      ref[2] = (ref[2]! ^ t) >>> 0;
      ref[3] = rotl(ref[3]!, 11);
      return result;
    };
    const g = new mox.Generator(0);
    g.setState([1, 2, 3, 4, NaN]);
    assert.equal(g.nextU32(), 11520, 'first output from state {1, 2, 3, 4}: rotl(2 * 5, 7) * 9');
    refNext();
    for (let i = 0; i < 10_000; i++) assert.equal(g.nextU32(), refNext(), `output ${i + 2}`);
    assert.deepEqual(g.getState().slice(0, 4), ref);
    // a bulk fill draws exactly what as many random() calls would, and leaves the same state
    const a = new mox.Generator(99);
    const b = new mox.Generator(99);
    const want = Array.from({ length: 1001 }, () => a.random());
    const got = new Float64Array(1001);
    b.fillRandom(got);
    assert.deepEqual(Array.from(got), want);
    assert.equal(b.nextU32(), a.nextU32());
  });

  test('rand is in [0, 1); randn has mean ~0 and std ~1 over 100k samples', () => {
    mox.seed(1);
    const u = mox.rand([100_000]).dataSync();
    let lo = Infinity;
    let hi = -Infinity;
    let sum = 0;
    for (const v of u) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
      sum += v;
    }
    assert.ok(lo >= 0 && hi < 1);
    close(sum / u.length, 0.5, 0.01);
    const n = mox.randn([100_000]).dataSync();
    let m = 0;
    for (const v of n) m += v;
    m /= n.length;
    let v2 = 0;
    for (const v of n) v2 += (v - m) ** 2;
    const std = Math.sqrt(v2 / (n.length - 1));
    close(m, 0, 0.015);
    close(std, 1, 0.015);
  });

  test('randint stays in [low, high) and reaches both ends', () => {
    mox.seed(3);
    const r = mox.randint(-2, 3, [10_000]);
    assert.equal(r.dtype, 'int32');
    const seen = new Set(r.dataSync());
    assert.deepEqual(
      [...seen].sort((a, b) => a - b),
      [-2, -1, 0, 1, 2],
    );
    assert.throws(() => mox.randint(3, 3, [1]), mox.ValueError);
    assert.throws(() => mox.randint(0, 2.5, [1]), mox.ValueError);
  });
});

describe('views', () => {
  test('views share storage: writes through copy_ show in every view', () => {
    const base = mox.zeros([2, 3]);
    const v = base.view(6);
    const tr = base.transpose(0, 1);
    const row = base.slice(1);
    assert.equal(v.storage, base.storage);
    assert.equal(tr.storage, base.storage);
    assert.equal(row.storage, base.storage);
    row.copy_(mox.tensor([1, 2, 3]));
    assert.deepEqual(base.tolist(), [
      [0, 0, 0],
      [1, 2, 3],
    ]);
    assert.deepEqual(v.tolist(), [0, 0, 0, 1, 2, 3]);
    assert.deepEqual(tr.tolist(), [
      [0, 1],
      [0, 2],
      [0, 3],
    ]);
    // a strided column, written through a view of a view
    tr.slice(2).copy_(mox.tensor([9, 8]));
    assert.deepEqual(base.tolist(), [
      [0, 0, 9],
      [1, 2, 8],
    ]);
    base.slice(null, [0, 2]).fill_(5);
    assert.deepEqual(v.tolist(), [5, 5, 9, 5, 5, 8]);
  });

  test('reshape/view of a contiguous tensor is a view with contiguous strides; -1 is inferred', () => {
    const x = mox.arange(24);
    const r = x.reshape(2, 3, 4);
    assert.deepEqual(layout(r), { shape: [2, 3, 4], strides: [12, 4, 1], offset: 0 });
    assert.equal(r.storage, x.storage);
    assert.deepEqual(x.view([4, -1]).shape, [4, 6]);
    assert.throws(() => x.reshape(5, 5), mox.ShapeError);
    assert.throws(() => x.reshape(-1, -1), mox.ShapeError);
  });

  test('transpose and permute permute strides (torch: (12,4,1) -> (1,4,12), (4,12,1))', () => {
    const a = mox.arange(24).reshape(2, 3, 4);
    const t = a.transpose(0, 2);
    assert.deepEqual(layout(t), { shape: [4, 3, 2], strides: [1, 4, 12], offset: 0 });
    assert.equal(t.isContiguous(), false);
    assert.deepEqual(t.slice(1, 2).tolist(), [9, 21]); // a[:, 2, 1]
    const p = a.permute(1, 0, 2);
    assert.deepEqual(layout(p), { shape: [3, 2, 4], strides: [4, 12, 1], offset: 0 });
    assert.deepEqual(p.slice(2, 1).tolist(), [20, 21, 22, 23]);
    assert.deepEqual(a.permute(2, 0, 1).strides, [1, 12, 4]);
    const m = mox.arange(6).reshape(2, 3);
    assert.deepEqual(m.T.tolist(), [
      [0, 3],
      [1, 4],
      [2, 5],
    ]);
    assert.deepEqual(m.T.strides, [1, 3]);
    assert.throws(() => a.permute(0, 0, 1), mox.IndexError);
    assert.throws(() => a.permute(0, 1), mox.ShapeError);
  });

  test('expand gives stride 0 on broadcast axes and shares storage', () => {
    const c = mox.tensor([[1], [2]]);
    const e = c.expand(2, 3);
    assert.deepEqual(layout(e), { shape: [2, 3], strides: [1, 0], offset: 0 });
    assert.deepEqual(e.tolist(), [
      [1, 1, 1],
      [2, 2, 2],
    ]);
    const r = mox.tensor([1, 2, 3]).expand(4, 2, 3);
    assert.deepEqual(r.strides, [0, 0, 1]);
    assert.deepEqual(mox.tensor([1, 2, 3]).expand(-1).strides, [1]);
    assert.deepEqual(c.expand(-1, 4).shape, [2, 4]);
    assert.equal(e.storage, c.storage);
    assert.equal(e.isContiguous(), false);
    const ec = e.contiguous();
    assert.deepEqual(layout(ec), { shape: [2, 3], strides: [3, 1], offset: 0 });
    assert.notEqual(ec.storage, c.storage);
    assert.throws(() => mox.tensor([1, 2]).expand(3), mox.ShapeError);
  });

  test('slice: steps, negative indices, integer indices drop the axis (offsets like torch)', () => {
    const z = mox.arange(10);
    assert.deepEqual(z.slice([-3]).tolist(), [7, 8, 9]);
    assert.deepEqual(z.slice([null, null, 3]).tolist(), [0, 3, 6, 9]);
    assert.deepEqual(z.slice([-8, -2, 2]).tolist(), [2, 4, 6]);
    assert.deepEqual(z.slice([1, 100]).size, 9);
    assert.equal(z.slice([5, 2]).size, 0);
    const last = z.slice(-1);
    assert.deepEqual(last.shape, []);
    assert.equal(last.item(), 9);
    const a = mox.arange(24).reshape(2, 3, 4);
    // torch: a[:, 1:, ::2] -> size (2,2,2), stride (12,4,2), offset 4
    const s = a.slice(null, [1], [null, null, 2]);
    assert.deepEqual(layout(s), { shape: [2, 2, 2], strides: [12, 4, 2], offset: 4 });
    assert.deepEqual(s.tolist(), [
      [
        [4, 6],
        [8, 10],
      ],
      [
        [16, 18],
        [20, 22],
      ],
    ]);
    // torch: a[-1, :, 1] -> size (3,), stride (4,), offset 13
    const col = a.slice(-1, null, 1);
    assert.deepEqual(layout(col), { shape: [3], strides: [4], offset: 13 });
    assert.deepEqual(col.tolist(), [13, 17, 21]);
    assert.deepEqual(a.narrow(2, 1, 2).strides, [12, 4, 1]);
    assert.equal(a.narrow(2, 1, 2).offset, 1);
    assert.throws(() => a.slice(2), mox.IndexError);
    assert.throws(() => a.slice(0, 0, 0, 0), mox.IndexError);
    assert.throws(() => z.slice([0, 5, 0]), mox.ValueError);
  });

  test('squeeze, unsqueeze, flatten: strides as torch gives them', () => {
    const u = mox.arange(6).reshape(1, 2, 1, 3);
    assert.deepEqual(layout(u.squeeze()), { shape: [2, 3], strides: [3, 1], offset: 0 });
    assert.deepEqual(u.squeeze(0).shape, [2, 1, 3]);
    assert.deepEqual(u.squeeze(2).strides, [6, 3, 1]);
    assert.deepEqual(u.squeeze(1).shape, [1, 2, 1, 3]); // a non-1 axis is left alone
    assert.deepEqual(u.squeeze([0, 2]).shape, [2, 3]);
    // torch: t = arange(6).view(2,3).t() -> stride (1,3); unsqueeze(0) (3,1,3), (1) (1,6,3), (2) (1,3,1)
    const t = mox.arange(6).reshape(2, 3).T;
    assert.deepEqual(t.unsqueeze(0).strides, [3, 1, 3]);
    assert.deepEqual(t.unsqueeze(1).strides, [1, 6, 3]);
    assert.deepEqual(t.unsqueeze(2).strides, [1, 3, 1]);
    assert.deepEqual(t.unsqueeze(-1).shape, [3, 2, 1]);
    assert.equal(t.unsqueeze(0).storage, t.storage);
    assert.deepEqual(mox.arange(24).reshape(2, 3, 4).unsqueeze(1).strides, [12, 12, 4, 1]);
    const f = mox.arange(24).reshape(2, 3, 4);
    assert.deepEqual(layout(f.flatten()), { shape: [24], strides: [1], offset: 0 });
    assert.deepEqual(f.flatten(1).shape, [2, 12]);
    assert.deepEqual(f.flatten(0, 1).strides, [4, 1]);
    assert.equal(f.flatten(1).storage, f.storage);
    assert.deepEqual(mox.tensor(5).flatten().shape, [1]);
  });

  test('reshape copies only when the layout cannot be viewed', () => {
    const a = mox.arange(24).reshape(2, 3, 4);
    const p = a.permute(1, 0, 2); // (3,2,4) stride (4,12,1)
    // merging the last two axes (strides 12 and 1) cannot be a view: torch copies too
    const merged = p.reshape(3, 8);
    assert.notEqual(merged.storage, a.storage);
    assert.deepEqual(layout(merged), { shape: [3, 8], strides: [8, 1], offset: 0 });
    assert.deepEqual((merged.tolist() as number[][])[1], [4, 5, 6, 7, 16, 17, 18, 19]);
    // splitting an axis stays a view: torch gives stride (4,12,2,1)
    const split = p.reshape(3, 2, 2, 2);
    assert.equal(split.storage, a.storage);
    assert.deepEqual(split.strides, [4, 12, 2, 1]);
    // a transposed matrix flattens only through a copy
    const t = mox.arange(6).reshape(2, 3).T;
    const flat = t.reshape(-1);
    assert.notEqual(flat.storage, t.storage);
    assert.deepEqual(flat.tolist(), [0, 3, 1, 4, 2, 5]);
    // a slice with step along the last axis: a[:, :, ::2].reshape(6, 2) stays a view, stride (4, 2)
    const s = a.slice(null, null, [null, null, 2]);
    const sv = s.reshape(6, 2);
    assert.equal(sv.storage, a.storage);
    assert.deepEqual(sv.strides, [4, 2]);
    // but a narrowed last axis cannot merge with the one before it
    const n = a.narrow(2, 1, 2);
    assert.notEqual(n.flatten(1).storage, a.storage);
    assert.deepEqual((n.flatten(1).tolist() as number[][])[0], [1, 2, 5, 6, 9, 10]);
  });

  test('contiguous() returns the same tensor when already contiguous, a compact copy otherwise', () => {
    const m = mox.arange(6).reshape(2, 3);
    assert.equal(m.isContiguous(), true);
    assert.equal(m.contiguous(), m);
    const t = m.T;
    const c = t.contiguous();
    assert.notEqual(c, t);
    assert.notEqual(c.storage, t.storage);
    assert.deepEqual(layout(c), { shape: [3, 2], strides: [2, 1], offset: 0 });
    assert.deepEqual(c.tolist(), t.tolist());
    // size-1 axes do not count against contiguity (torch ignores their strides too)
    assert.equal(mox.arange(3).unsqueeze(1).isContiguous(), true);
    assert.equal(m.slice([1]).isContiguous(), true);
    assert.equal(m.slice(null, [1]).isContiguous(), false);
    const cl = m.clone();
    assert.notEqual(cl.storage, m.storage);
    assert.deepEqual(cl.tolist(), m.tolist());
  });
});

describe('readout', () => {
  test('dataSync, data(), item(), tolist() read views in logical order', async () => {
    const t = mox.arange(6).reshape(2, 3).T;
    const ds = t.dataSync();
    assert.ok(ds instanceof Int32Array);
    assert.deepEqual(Array.from(ds), [0, 3, 1, 4, 2, 5]);
    const d = await t.data();
    assert.deepEqual(Array.from(d), [0, 3, 1, 4, 2, 5]);
    assert.ok(mox.zeros([2]).dataSync() instanceof Float32Array);
    assert.equal(mox.tensor([[2.5]]).item(), 2.5);
    assert.throws(() => mox.zeros([2]).item(), mox.ValueError);
    assert.deepEqual(mox.tensor(3).tolist(), 3);
    assert.deepEqual(mox.zeros([2, 0]).tolist(), [[], []]);
    // dataSync is a copy: writing to it does not touch the tensor
    const z = mox.zeros([2]);
    z.dataSync()[0] = 9;
    assert.deepEqual(z.tolist(), [0, 0]);
  });
});

describe('dtype casting', () => {
  test('to/float/int/bool/double; float -> int truncates toward zero', () => {
    const f = mox.tensor([1.7, -1.7, 2.5, -0.5, 0]);
    const i = f.int();
    assert.equal(i.dtype, 'int32');
    assert.deepEqual(i.tolist(), [1, -1, 2, 0, 0]);
    assert.deepEqual(f.bool().tolist(), [true, true, true, true, false]);
    assert.deepEqual(mox.tensor([0, 2, -1]).bool().tolist(), [false, true, true]);
    const b = mox.tensor([true, false]);
    assert.deepEqual(b.float().tolist(), [1, 0]);
    assert.equal(b.float().dtype, 'float32');
    assert.deepEqual(b.int().tolist(), [1, 0]);
    assert.equal(mox.arange(3).float().dtype, 'float32');
    assert.equal(f.double().dtype, 'float64');
    assert.equal(f.to('float64').dtype, 'float64');
    assert.equal(f.to('float32'), f); // a no-op cast is the same tensor, like torch's .to()
    // a cast of a strided view reads it in logical order
    assert.deepEqual(
      mox
        .tensor([
          [1.5, 2.5],
          [3.5, 4.5],
        ])
        .T.int()
        .tolist(),
      [
        [1, 3],
        [2, 4],
      ],
    );
  });
});

describe('printing like PyTorch', () => {
  const str = (t: Tensor): string => String(t);

  test('float matrix, integer-valued floats, 0-d', () => {
    assert.equal(
      str(
        mox.tensor([
          [1, 2.5],
          [3, 4],
        ]),
      ),
      'tensor([[1.0000, 2.5000],\n        [3.0000, 4.0000]])',
    );
    assert.equal(
      str(
        mox
          .tensor([
            [1, -2],
            [3, 4],
          ])
          .float(),
      ),
      'tensor([[ 1., -2.],\n        [ 3.,  4.]])',
    );
    assert.equal(str(mox.zeros([3])), 'tensor([0., 0., 0.])');
    assert.equal(str(mox.tensor(3.5)), 'tensor(3.5000)');
    assert.equal(str(mox.tensor(2).float()), 'tensor(2.)');
    assert.equal(str(mox.tensor([0.1234567, -10.5])), 'tensor([  0.1235, -10.5000])');
    assert.equal(
      str(mox.arange(8).float().reshape(2, 2, 2)),
      'tensor([[[0., 1.],\n         [2., 3.]],\n\n        [[4., 5.],\n         [6., 7.]]])',
    );
  });

  test('scientific notation when the range calls for it', () => {
    assert.equal(str(mox.tensor([1e-5, 1])), 'tensor([1.0000e-05, 1.0000e+00])');
    assert.equal(str(mox.tensor([1, 5000]).float()), 'tensor([1.0000e+00, 5.0000e+03])');
    assert.equal(str(mox.tensor([1.5, 2e9])), 'tensor([1.5000e+00, 2.0000e+09])');
    assert.equal(str(mox.tensor([1, 500]).float()), 'tensor([  1., 500.])');
  });

  test('nan and inf', () => {
    assert.equal(str(mox.tensor([NaN, 1.5, -Infinity])), 'tensor([   nan, 1.5000,   -inf])');
    assert.equal(str(mox.tensor([1, Infinity])), 'tensor([1., inf])');
  });

  test('int vector, bool tensors, dtype shown only when a literal would not infer it', () => {
    assert.equal(str(mox.tensor([1, 2, 3])), 'tensor([1, 2, 3])');
    assert.equal(str(mox.tensor([-10, 2, 300])), 'tensor([-10,   2, 300])');
    assert.equal(str(mox.tensor([true, false])), 'tensor([ True, False])');
    assert.equal(str(mox.tensor([true, true])), 'tensor([True, True])');
    assert.equal(str(mox.tensor(true)), 'tensor(True)');
    assert.equal(str(mox.tensor([1, 2.5], { dtype: 'float64' })), 'tensor([1.0000, 2.5000], dtype=float64)');
    assert.equal(str(mox.tensor(7)), 'tensor(7)');
  });

  test('empty tensors', () => {
    assert.equal(str(mox.zeros([0])), 'tensor([])');
    assert.equal(str(mox.zeros([2, 0])), 'tensor([], size=[2, 0])');
    assert.equal(str(mox.arange(0)), 'tensor([], dtype=int32)');
  });

  test('long rows wrap at 80 columns', () => {
    assert.equal(
      str(mox.arange(30).float()),
      'tensor([ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12., 13.,\n' +
        '        14., 15., 16., 17., 18., 19., 20., 21., 22., 23., 24., 25., 26., 27.,\n' +
        '        28., 29.])',
    );
  });

  test('large tensors are summarised with ...', () => {
    assert.equal(str(mox.arange(2000)), 'tensor([   0,    1,    2,  ..., 1997, 1998, 1999], size=[2000])');
    const m = mox.arange(2000).reshape(100, 20).int();
    assert.equal(
      str(m),
      'tensor([[   0,    1,    2,  ...,   17,   18,   19],\n' +
        '        [  20,   21,   22,  ...,   37,   38,   39],\n' +
        '        [  40,   41,   42,  ...,   57,   58,   59],\n' +
        '        ...,\n' +
        '        [1940, 1941, 1942,  ..., 1957, 1958, 1959],\n' +
        '        [1960, 1961, 1962,  ..., 1977, 1978, 1979],\n' +
        '        [1980, 1981, 1982,  ..., 1997, 1998, 1999]], size=[100, 20])',
    );
    // 1000 elements is not yet summarised (torch's threshold is numel > 1000)
    assert.ok(!str(mox.zeros([1000])).includes('...'));
  });

  test('requiresGrad and gradFn suffixes', () => {
    const x = mox.tensor([1, 2.5], { requiresGrad: true });
    assert.equal(str(x), 'tensor([1.0000, 2.5000], requiresGrad=true)');
    const y = x.mul(x);
    assert.match(str(y), /^tensor\(\[1\.0000, 6\.2500\], gradFn=<\w+>\)$/);
    assert.equal(str(mox.noGrad(() => x.mul(x))), 'tensor([1.0000, 6.2500])');
    assert.equal(str(x.detach()), 'tensor([1.0000, 2.5000])');
    assert.equal(`${mox.tensor([1, 2])}`, 'tensor([1, 2])');
  });

  test('a disposed tensor prints without reading memory', () => {
    const t = mox.zeros([2]);
    t.dispose();
    assert.match(str(t), /disposed/);
  });
});
