// Gradient checks for every differentiable op: analytic gradients (backward) against float64 central
// differences (mox.gradcheck), on seeded random shapes with size-1 dims, broadcasting between operands,
// and non-contiguous (transposed, step-sliced, expanded) inputs. Inputs are kept away from the points
// where an op is not differentiable (ties in max, |x| near 0 for abs/relu, x <= 0 for log/sqrt).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as mox from '../src/index.js';
import type { Tensor } from '../src/index.js';
import type { AvgPool2dOptions, Conv2dOptions, ConvTranspose2dOptions, Pool2dOptions } from '../src/nn/functional.js';

const F = mox.nn.functional;
const G = mox.globalGenerator;

// ---- inputs ----

function make(shape: readonly number[], draw: () => number, requiresGrad = true): Tensor {
  const n = shape.reduce((p, d) => p * d, 1);
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = draw();
  return mox.tensor(a, { shape, requiresGrad });
}
/** Standard normal. */
const normal = (shape: readonly number[], requiresGrad = true): Tensor => make(shape, () => G.normal(), requiresGrad);
/** Uniform in [lo, hi). */
const uniform = (shape: readonly number[], lo: number, hi: number, requiresGrad = true): Tensor =>
  make(shape, () => lo + (hi - lo) * G.random(), requiresGrad);
/** Normal, pushed at least `margin` away from 0 (for abs, relu, sign-dependent ops). */
const away = (shape: readonly number[], margin = 0.2, requiresGrad = true): Tensor =>
  make(
    shape,
    () => {
      const v = G.normal();
      return v >= 0 ? v + margin : v - margin;
    },
    requiresGrad,
  );
/** Distinct values: a shuffled, spaced-out ramp plus noise, so max/min/maxPool have no near-ties. */
function distinct(shape: readonly number[], requiresGrad = true): Tensor {
  const n = shape.reduce((p, d) => p * d, 1);
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = G.int(0, i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const a = Float64Array.from(order, (k) => (k - n / 2) * 0.3 + 0.1 * G.random());
  return mox.tensor(a, { shape, requiresGrad });
}
const ints = (values: number[], shape?: readonly number[]): Tensor =>
  mox.tensor(Int32Array.from(values), { shape: shape ?? [values.length] });
const bools = (values: boolean[], shape: readonly number[]): Tensor =>
  mox.tensor(
    Uint8Array.from(values, (v) => (v ? 1 : 0)),
    { shape },
  );
const randBool = (shape: readonly number[], p = 0.5): Tensor =>
  bools(
    Array.from({ length: shape.reduce((a, d) => a * d, 1) }, () => G.random() < p),
    shape,
  );

/** A seeded random shape of `ndim` sizes in [1, max]. */
const randShape = (ndim: number, max = 4): number[] => Array.from({ length: ndim }, () => G.int(1, max + 1));

// ---- the check ----

function check(label: string, fn: (...xs: Tensor[]) => Tensor, inputs: Tensor[], opts: mox.GradcheckOptions = {}): void {
  const r = mox.scope(() => mox.gradcheckDetailed(fn, inputs, { ...opts, raiseException: false }));
  assert.ok(r.ok, `${label}: ${r.message} (max error ${r.maxError})`);
}

/** Ways to hand an op a non-contiguous view of a fresh leaf of the wanted shape. */
type Layout = {
  name: string;
  leaf: (shape: number[], mk: (s: number[]) => Tensor) => Tensor;
  view: (x: Tensor, shape: number[]) => Tensor;
};
const LAYOUTS: Layout[] = [
  { name: 'contiguous', leaf: (s, mk) => mk(s), view: (x) => x },
  {
    // the leaf holds the transpose of the last two axes; the op sees a transposed view
    name: 'transposed',
    leaf: (s, mk) => mk(s.length < 2 ? s : [...s.slice(0, -2), s[s.length - 1]!, s[s.length - 2]!]),
    view: (x, s) => (s.length < 2 ? x : x.transpose(-2, -1)),
  },
  {
    // every other element of a leaf twice as long in the last axis
    name: 'step-sliced',
    leaf: (s, mk) => mk(s.length === 0 ? s : [...s.slice(0, -1), 2 * s[s.length - 1]!]),
    view: (x, s) => (s.length === 0 ? x : x.slice(...s.slice(0, -1).map(() => null), [1, null, 2])),
  },
];

// ---- unary ----

describe('gradcheck: unary ops', () => {
  type U = [string, (x: Tensor) => Tensor, (s: number[]) => Tensor];
  const anyReal = (s: number[]): Tensor => normal(s);
  const nonZero = (s: number[]): Tensor => away(s, 0.3);
  const positive = (s: number[]): Tensor => uniform(s, 0.3, 2.5);
  const UNARY: U[] = [
    ['neg', (x) => mox.neg(x), anyReal],
    ['abs', (x) => mox.abs(x), nonZero],
    ['exp', (x) => mox.exp(x), anyReal],
    ['expm1', (x) => mox.expm1(x), anyReal],
    ['log', (x) => mox.log(x), positive],
    ['log1p', (x) => mox.log1p(x), (s) => uniform(s, -0.7, 2)],
    ['sqrt', (x) => mox.sqrt(x), positive],
    ['rsqrt', (x) => mox.rsqrt(x), positive],
    ['square', (x) => mox.square(x), anyReal],
    ['reciprocal', (x) => mox.reciprocal(x), nonZero],
    ['sin', (x) => mox.sin(x), anyReal],
    ['cos', (x) => mox.cos(x), anyReal],
    ['tanh', (x) => mox.tanh(x), anyReal],
    ['sigmoid', (x) => mox.sigmoid(x), anyReal],
    ['relu', (x) => mox.relu(x), nonZero],
    ['leakyRelu default slope', (x) => mox.leakyRelu(x), nonZero],
    ['leakyRelu slope 0.2', (x) => x.leakyRelu(0.2), nonZero],
    ['gelu exact', (x) => mox.gelu(x), anyReal],
    ['gelu tanh', (x) => mox.gelu(x, 'tanh'), anyReal],
    ['silu', (x) => mox.silu(x), anyReal],
    ['erf', (x) => mox.erf(x), anyReal],
    ['softplus', (x) => mox.softplus(x), (s) => normal(s).mul(3).detach().requiresGrad_()],
    ['powScalar 2', (x) => mox.powScalar(x, 2), anyReal],
    ['powScalar 3', (x) => mox.powScalar(x, 3), anyReal],
    ['powScalar 1', (x) => mox.powScalar(x, 1), anyReal],
    ['powScalar 0', (x) => mox.powScalar(x, 0), anyReal],
    ['powScalar -1', (x) => mox.powScalar(x, -1), positive],
    ['powScalar -2.5', (x) => mox.powScalar(x, -2.5), positive],
    ['powScalar 0.5', (x) => mox.powScalar(x, 0.5), positive],
    ['powScalar 1.7', (x) => x.pow(1.7), positive],
    ['clamp min', (x) => mox.clamp(x, -0.5), (s) => avoidBand(s, [-0.5])],
    ['clamp max', (x) => mox.clamp(x, null, 0.4), (s) => avoidBand(s, [0.4])],
    ['clamp both', (x) => x.clamp(-0.5, 0.4), (s) => avoidBand(s, [-0.5, 0.4])],
  ];
  /** Normal values at least 0.05 away from each of `points`. */
  function avoidBand(s: number[], points: number[]): Tensor {
    return make(s, () => {
      for (;;) {
        const v = G.normal();
        if (points.every((p) => Math.abs(v - p) > 0.05)) return v;
      }
    });
  }

  for (const [name, op, gen] of UNARY) {
    it(name, () => {
      mox.seed(1);
      const shapes = [[], [1], randShape(2), [randShape(1)[0]!, 1, 3]];
      for (const s of shapes) {
        for (const layout of LAYOUTS) {
          check(`${name} ${layout.name} [${s}]`, (x) => op(layout.view(x, s)), [layout.leaf(s, gen)]);
        }
      }
      // expanded input: a [3,1] leaf broadcast to [3,4] (the gradient is summed back)
      check(`${name} expanded`, (x) => op(x.expand(3, 4)), [gen([3, 1])]);
    });
  }
});

// ---- binary ----

describe('gradcheck: binary ops', () => {
  type Bin = [string, (a: Tensor, b: Tensor | number) => Tensor, (s: number[]) => Tensor, (s: number[]) => Tensor];
  const BINARY: Bin[] = [
    ['add', (a, b) => mox.add(a, b), normal, normal],
    ['sub', (a, b) => mox.sub(a, b), normal, normal],
    ['mul', (a, b) => mox.mul(a, b), normal, normal],
    ['div', (a, b) => mox.div(a, b), normal, (s) => away(s, 0.5)],
    ['pow', (a, b) => mox.pow(a, b), (s) => uniform(s, 0.3, 2), (s) => uniform(s, -2, 2)],
    // maximum/minimum: a and b drawn from disjoint-ish values so no element ties within eps
    ['maximum', (a, b) => mox.maximum(a, b), (s) => distinct(s), (s) => distinct(s).add(0.05).detach().requiresGrad_()],
    ['minimum', (a, b) => mox.minimum(a, b), (s) => distinct(s), (s) => distinct(s).add(0.05).detach().requiresGrad_()],
  ];
  const PAIRS: [number[], number[]][] = [
    [
      [2, 3],
      [2, 3],
    ],
    [
      [3, 1, 4],
      [2, 1],
    ],
    [[], [2, 3]],
    [[2, 3], []],
    [[4], [3, 1]],
    [
      [1, 3],
      [2, 1],
    ],
  ];

  for (const [name, op, genA, genB] of BINARY) {
    it(name, () => {
      mox.seed(2);
      // plus a seeded random pair: b has a's shape with some sizes (always axis 1) set to 1
      const ra = randShape(3);
      const rb = ra.map((d, j) => (j === 1 || G.random() < 0.3 ? 1 : d));
      for (const [sa, sb] of [...PAIRS, [ra, rb], [rb.slice(1), ra]] as [number[], number[]][]) {
        check(`${name} [${sa}] with [${sb}]`, op, [genA(sa), genB(sb)]);
      }
      // non-contiguous operands: a transposed and b step-sliced
      check(`${name} transposed a, sliced b`, (a, b) => op(a.transpose(0, 1), b.slice(null, [0, null, 2])), [genA([3, 2]), genB([2, 6])]);
      // expanded operand, and a number on either side
      check(`${name} expanded`, (a, b) => op(a.expand(2, 3), b), [genA([1, 3]), genB([2, 3])]);
      check(`${name} tensor op number`, (a) => op(a, 1.5), [genA([2, 3])]);
    });
  }

  it('add/sub/mul with a scalar on the left', () => {
    mox.seed(3);
    check('number + tensor', (a) => mox.add(0.5, a), [normal([2, 3])]);
    check('number - tensor', (a) => mox.sub(0.5, a), [normal([2, 3])]);
    check('number * tensor', (a) => mox.mul(-2, a), [normal([2, 3])]);
    check('number / tensor', (a) => mox.div(2, a), [away([2, 3], 0.5)]);
    check('number ** tensor', (a) => mox.pow(1.7, a), [normal([2, 3])]);
  });

  it('where (broadcast condition and branches)', () => {
    mox.seed(4);
    const cond = randBool([3, 1, 4]);
    check('where [3,1,4] ? [2,4] : [3,2,1]', (a, b) => mox.where(cond, a, b), [normal([2, 4]), normal([3, 2, 1])]);
    check('where scalar branch', (a) => mox.where(cond, a, 0.5), [normal([2, 4])]);
    check('where number : tensor', (b) => mox.where(cond, -1, b), [normal([4])]);
    const cond2 = randBool([4, 3]);
    check('where transposed', (a, b) => mox.where(cond2, a.T, b), [normal([3, 4]), normal([])]);
  });

  it('maskedFill', () => {
    mox.seed(5);
    const [m1, m2, m3] = [randBool([1, 4]), randBool([3, 4]), randBool([4, 3])];
    check('maskedFill broadcast mask', (x) => x.maskedFill(m1, -3), [normal([3, 4])]);
    check('maskedFill full mask', (x) => mox.maskedFill(x, m2, 0), [normal([3, 4])]);
    check('maskedFill on a transposed input', (x) => x.T.maskedFill(m3, 2), [normal([3, 4])]);
  });
});

// ---- reductions ----

describe('gradcheck: reductions', () => {
  type Red = [string, (x: Tensor, axes: number | number[] | null, keepdim: boolean) => Tensor, (s: number[]) => Tensor];
  const REDUCTIONS: Red[] = [
    ['sum', (x, a, k) => mox.sum(x, a, k), normal],
    ['mean', (x, a, k) => mox.mean(x, a, k), normal],
    ['max', (x, a, k) => mox.max(x, a, k), (s) => distinct(s)],
    ['min', (x, a, k) => mox.min(x, a, k), (s) => distinct(s)],
    ['prod', (x, a, k) => mox.prod(x, a, k), (s) => away(s, 0.3)],
    ['var correction 1', (x, a, k) => mox.var(x, a, { keepdim: k }), normal],
    ['var correction 0', (x, a, k) => x.var(a, { correction: 0, keepdim: k }), normal],
    ['var unbiased false', (x, a, k) => x.var(a, { unbiased: false, keepdim: k }), normal],
    ['std', (x, a, k) => mox.std(x, a, { keepdim: k }), normal],
    ['std correction 0', (x, a, k) => x.std(a, { correction: 0, keepdim: k }), normal],
    ['logsumexp', (x, a, k) => mox.logsumexp(x, a, k), (s) => normal(s).mul(3).detach().requiresGrad_()],
  ];
  const AXES: (number | number[] | null)[] = [0, -1, 1, [0, 2], [-1, 0, 1], null];

  for (const [name, op, gen] of REDUCTIONS) {
    it(name, () => {
      mox.seed(6);
      const s = [randShape(1, 3)[0]! + 1, 3, 2]; // var/std need > 1 element per reduced slice
      for (const axes of AXES) {
        for (const keepdim of [false, true]) {
          check(`${name} [${s}] axes ${JSON.stringify(axes)} keepdim ${keepdim}`, (x) => op(x, axes, keepdim), [gen(s)]);
        }
      }
      // size-1 dims and non-contiguous input
      check(`${name} [1,4,1] over 1`, (x) => op(x, 1, false), [gen([1, 4, 1])]);
      check(`${name} transposed`, (x) => op(x.T, 0, true), [gen([3, 4])]);
      check(`${name} step-sliced`, (x) => op(x.slice(null, [null, null, 2]), -1, false), [gen([3, 6])]);
      check(`${name} expanded`, (x) => op(x.expand(3, 2, 4), [0, 2], false), [gen([2, 1])]);
    });
  }

  it('sum/mean/max/min/prod of a 0-d tensor', () => {
    mox.seed(7);
    check('sum 0-d', (x) => x.sum(), [normal([])]);
    check('mean 0-d', (x) => x.mean(), [normal([])]);
    check('max 0-d', (x) => x.max(), [normal([])]);
    check('min 0-d', (x) => x.min(), [normal([])]);
    check('prod 0-d', (x) => x.prod(), [away([])]);
  });

  it('gradcheck itself reports a NaN gradient as a mismatch', () => {
    const r = mox.gradcheckDetailed((x) => x.sqrt().mul(0), [mox.tensor(new Float64Array([0, 1]), { requiresGrad: true })], {
      raiseException: false,
    });
    assert.equal(r.ok, false, r.message);
  });

  it('prod with a zero element is differentiable (gradient is the product of the others)', () => {
    mox.seed(8);
    const one = mox.tensor(new Float64Array([1.5, 0, -2, 0.7]), { shape: [4], requiresGrad: true });
    check('prod one zero', (x) => x.prod(), [one]);
    const rows = mox.tensor(new Float64Array([0, 2, 3, 0.5, -1, 4, 0, 0, 1.2]), { shape: [3, 3], requiresGrad: true });
    check('prod zeros per row (none, one, two)', (x) => x.prod(1), [rows]);
  });
});

// ---- matmul and linear ----

describe('gradcheck: matmul and linear', () => {
  it('matmul shape combinations', () => {
    mox.seed(9);
    const CASES: [number[], number[]][] = [
      [[4], [4]],
      [[3], [3, 2]],
      [[3], [2, 3, 4]],
      [[2, 3], [3]],
      [[2, 2, 3], [3]],
      [
        [2, 3],
        [3, 4],
      ],
      [
        [2, 2, 3],
        [2, 3, 4],
      ],
      [
        [2, 1, 2, 3],
        [3, 3, 2],
      ],
      [
        [2, 3],
        [2, 3, 1],
      ],
      [
        [1, 3],
        [3, 1],
      ],
    ];
    for (const [sa, sb] of CASES) check(`matmul [${sa}] @ [${sb}]`, (a, b) => mox.matmul(a, b), [normal(sa), normal(sb)]);
  });

  it('matmul of transposed, step-sliced and expanded operands', () => {
    mox.seed(10);
    check('a^T @ b^T', (a, b) => a.T.matmul(b.T), [normal([3, 2]), normal([4, 3])]);
    check('sliced a @ b', (a, b) => a.slice([null, null, 2]).matmul(b), [normal([5, 3]), normal([3, 2])]);
    check('expanded a @ b', (a, b) => a.expand(2, 3, 4).matmul(b), [normal([1, 4]), normal([2, 4, 2])]);
    check('permuted batch', (a, b) => a.permute(1, 0, 2).matmul(b), [normal([3, 2, 4]), normal([4, 2])]);
  });

  it('linear', () => {
    mox.seed(11);
    check('linear with bias', (x, w, b) => F.linear(x, w, b), [normal([3, 4]), normal([2, 4]), normal([2])]);
    check('linear without bias', (x, w) => mox.linear(x, w), [normal([3, 4]), normal([2, 4])]);
    check('linear 1-D input', (x, w, b) => F.linear(x, w, b), [normal([4]), normal([2, 4]), normal([2])]);
    check('linear 3-D input', (x, w, b) => F.linear(x, w, b), [normal([2, 3, 4]), normal([5, 4]), normal([5])]);
    check('linear transposed input', (x, w, b) => F.linear(x.T, w, b), [normal([4, 3]), normal([2, 4]), normal([2])]);
  });
});

// ---- views ----

describe('gradcheck: views', () => {
  it('reshape / view / flatten', () => {
    mox.seed(12);
    check('reshape contiguous', (x) => x.reshape(3, 4).mul(x.reshape(3, 4)), [normal([2, 6])]);
    check('reshape -1', (x) => mox.reshape(x, [-1, 2]), [normal([2, 3, 2])]);
    check('reshape of a transposed input (copy)', (x) => x.T.reshape(12).mul(mox.arange(12).to('float64')), [normal([3, 4])]);
    check('reshape of a sliced input', (x) => x.slice(null, [1, null, 2]).reshape([-1]), [normal([3, 5])]);
    check('reshape to 0-d', (x) => x.reshape([]), [normal([1, 1])]);
    check('view', (x) => x.view(2, 2, 3), [normal([4, 3])]);
    check('flatten all', (x) => mox.flatten(x), [normal([2, 3, 2])]);
    check('flatten 1..2', (x) => x.permute(2, 0, 1).flatten(1, 2), [normal([2, 3, 2])]);
  });

  it('transpose / permute / movedim', () => {
    mox.seed(13);
    check('transpose 0,2', (x) => mox.transpose(x, 0, 2), [normal([2, 3, 4])]);
    const [u32, u423, u342] = [normal([3, 2], false), normal([4, 2, 3], false), normal([3, 4, 2], false)];
    check('T', (x) => x.T.mul(u32), [normal([2, 3])]);
    check('transpose 1-D', (x) => x.transpose(0, -1), [normal([3])]);
    check('permute', (x) => mox.permute(x, [2, 0, 1]).mul(u423), [normal([2, 3, 4])]);
    check('permute negative axes', (x) => x.permute(-1, -3, -2), [normal([2, 1, 3])]);
    check('movedim 0 -> -1', (x) => mox.movedim(x, 0, -1).mul(u342), [normal([2, 3, 4])]);
    check('movedim 2 -> 0', (x) => mox.movedim(x, 2, 0), [normal([2, 3, 4])]);
  });

  it('expand / squeeze / unsqueeze', () => {
    mox.seed(14);
    const u = normal([2, 3, 4], false);
    check('expand leading and size-1', (x) => mox.expand(x, [2, 3, 4]).mul(u), [normal([3, 1])]);
    check('expand with -1', (x) => x.expand(2, -1, 4).mul(u), [normal([1, 3, 1])]);
    check('expandAs 0-d', (x) => x.expandAs(u).mul(u), [normal([])]);
    check('squeeze all', (x) => mox.squeeze(x), [normal([1, 3, 1, 2])]);
    check('squeeze one axis', (x) => x.squeeze(2), [normal([1, 3, 1, 2])]);
    check('squeeze axis list', (x) => x.squeeze([0, -2]), [normal([1, 3, 1, 2])]);
    check('unsqueeze', (x) => mox.unsqueeze(x, 1), [normal([2, 3])]);
    const u324 = normal([3, 2, 4], false);
    check('unsqueeze -1 of transposed', (x) => x.T.unsqueeze(-1).mul(u324), [normal([2, 3])]);
  });

  it('slice / narrow', () => {
    mox.seed(15);
    check(
      'slice steps',
      (x) =>
        mox.slice(x, [
          [null, null, 2],
          [1, null, 3],
        ]),
      [normal([5, 7])],
    );
    check('slice negative indices', (x) => x.slice([-3, -1], [null, -2]), [normal([5, 4])]);
    check('slice an index (drops the axis)', (x) => x.slice(null, -1), [normal([3, 4])]);
    check('slice of a slice', (x) => x.slice([1, null, 2]).slice([null, null, 2], [0, 3]), [normal([9, 4])]);
    check('slice transposed', (x) => x.T.slice([1, 3], [null, null, 2]), [normal([5, 4])]);
    check('slice empty', (x) => x.slice([2, 2]).sum().add(x.sum()), [normal([3, 2])]);
    check('narrow', (x) => mox.narrow(x, 1, 1, 2), [normal([3, 4])]);
    check('narrow negative start', (x) => x.narrow(-1, -3, 2), [normal([2, 3, 5])]);
  });

  it('contiguous / clone / detach', () => {
    mox.seed(16);
    const u = normal([3, 2], false);
    check('contiguous of transposed', (x) => mox.contiguous(x.T).mul(u), [normal([2, 3])]);
    check('clone', (x) => mox.clone(x).mul(x), [normal([2, 3])]);
    // detach cuts the graph, so gradcheck would (rightly) disagree; check the gradient directly
    const x = normal([3]);
    x.mul(x.detach().add(1)).sum().backward();
    assert.deepEqual(
      x.grad!.tolist(),
      (x.tolist() as number[]).map((v) => v + 1),
      'detach: d/dx x*(x+1 detached) = x+1',
    );
  });
});

// ---- joining and cutting ----

describe('gradcheck: concat, stack, split, chunk, pad', () => {
  it('concat / cat', () => {
    mox.seed(17);
    check('concat axis 0', (a, b) => mox.concat([a, b], 0), [normal([2, 3]), normal([1, 3])]);
    check('concat axis -1 three', (a, b, c) => mox.cat([a, b, c], -1), [normal([2, 1]), normal([2, 3]), normal([2, 2])]);
    check('concat same tensor twice', (a) => mox.concat([a, a.mul(2)], 1), [normal([2, 2])]);
    check('concat non-contiguous', (a, b) => mox.concat([a.T, b.slice(null, [null, null, 2])], 0), [normal([3, 2]), normal([1, 6])]);
    const c = normal([2, 2], false);
    check('concat with a constant', (a) => mox.concat([a, c], 0), [normal([1, 2])]);
  });

  it('stack', () => {
    mox.seed(18);
    check('stack axis 0', (a, b) => mox.stack([a, b]), [normal([2, 3]), normal([2, 3])]);
    check('stack axis -1', (a, b, c) => mox.stack([a, b, c], -1), [normal([3]), normal([3]), normal([3])]);
    check('stack 0-d', (a, b) => mox.stack([a, b], 0), [normal([]), normal([])]);
    check('stack transposed', (a, b) => mox.stack([a.T, b], 1), [normal([3, 2]), normal([2, 3])]);
  });

  /** Joins pieces back into one tensor, weighting each differently so a mix-up changes the result. */
  const rejoin = (pieces: Tensor[]): Tensor =>
    mox.concat(
      pieces.map((p, i) => p.mul(i + 1).flatten()),
      0,
    );

  it('split / chunk', () => {
    mox.seed(19);
    check('split by size', (x) => rejoin(mox.split(x, 2, 1)), [normal([2, 5])]);
    check('split by sections', (x) => rejoin(x.split([1, 3, 1], 0)), [normal([5, 2])]);
    check('split only some pieces used', (x) => x.split([2, 3], -1)[1]!.square(), [normal([2, 5])]);
    check('chunk', (x) => rejoin(mox.chunk(x, 3, 0)), [normal([7, 2])]);
    check('chunk of transposed', (x) => rejoin(x.T.chunk(2, 1)), [normal([3, 2])]);
  });

  it('pad (positive, negative = crop, mixed, with a value)', () => {
    mox.seed(20);
    check('pad last axis', (x) => F.pad(x, [1, 2]), [normal([2, 3])]);
    check('pad two axes with value', (x) => mox.pad(x, [1, 0, 0, 2], 0.5), [normal([2, 3])]);
    check('pad negative (crop)', (x) => F.pad(x, [-1, -1, -1, 0]), [normal([3, 4])]);
    check('pad mixed crop and pad', (x) => F.pad(x, [2, -2, -1, 1]), [normal([3, 4])]);
    check('pad 3-D, one pair', (x) => F.pad(x, [0, 1]), [normal([2, 2, 2])]);
    check('pad transposed', (x) => F.pad(x.T, [1, 1, 1, 1]), [normal([2, 3])]);
  });
});

// ---- indexing ----

describe('gradcheck: indexing', () => {
  it('indexSelect', () => {
    mox.seed(21);
    check('indexSelect axis 0 with repeats', (x) => mox.indexSelect(x, 0, ints([2, 0, 2, 1])), [normal([3, 4])]);
    check('indexSelect axis -1', (x) => x.indexSelect(-1, ints([3, 1])), [normal([2, 3, 4])]);
    check('indexSelect transposed', (x) => x.T.indexSelect(0, ints([0, 0, 2])), [normal([2, 3])]);
    check('indexSelect 0-d index', (x) => x.indexSelect(1, mox.tensor(2, { dtype: 'int32' })), [normal([2, 3])]);
  });

  it('gather', () => {
    mox.seed(22);
    check('gather axis 1', (x) => mox.gather(x, 1, ints([0, 2, 2, 1, 0, 0], [3, 2])), [normal([3, 4])]);
    check('gather axis 0 smaller index', (x) => x.gather(0, ints([1, 0, 1], [1, 3])), [normal([2, 4])]);
    check('gather 3-D axis -1', (x) => x.gather(-1, ints([1, 1, 0, 2, 2, 2, 0, 1], [2, 2, 2])), [normal([2, 2, 3])]);
    check('gather step-sliced', (x) => x.slice(null, [null, null, 2]).gather(1, ints([1, 0, 2, 2], [2, 2])), [normal([2, 6])]);
  });

  it('scatterAdd (gradient for both input and src)', () => {
    mox.seed(23);
    const idx = ints([0, 2, 0, 1, 1, 1], [2, 3]);
    check('scatterAdd axis 0', (x, src) => mox.scatterAdd(x, 0, ints([2, 0, 1, 0, 2, 2], [2, 3]), src), [normal([3, 3]), normal([2, 3])]);
    check('scatterAdd axis 1 with duplicates', (x, src) => x.scatterAdd(1, idx, src), [normal([2, 4]), normal([2, 3])]);
    check('scatterAdd src larger than index', (x, src) => x.scatterAdd(1, ints([3, 0], [2, 1]), src), [normal([2, 4]), normal([3, 2])]);
    check('scatterAdd transposed input', (x, src) => x.T.scatterAdd(1, idx, src), [normal([4, 2]), normal([2, 3])]);
  });

  it('embedding', () => {
    mox.seed(24);
    const ids = ints([1, 3, 3, 0, 4, 1], [2, 3]);
    check('embedding', (w) => F.embedding(ids, w), [normal([5, 3])]);
    check('embedding 0-d ids', (w) => F.embedding(mox.tensor(2, { dtype: 'int32' }), w), [normal([4, 2])]);
  });

  it('embedding with paddingIdx: the other rows match numerics, the padding row gets zero', () => {
    mox.seed(25);
    const ids = ints([1, 3, 3, 0, 2, 1], [2, 3]);
    for (const paddingIdx of [3, -1]) {
      // the padding row (3) is a constant; the other four rows are what gradcheck perturbs
      const padRow = normal([1, 3], false);
      check(`embedding paddingIdx ${paddingIdx}`, (rest) => F.embedding(ids, mox.concat([rest, padRow], 0), paddingIdx), [normal([3, 3])]);
      const w = normal([4, 3]);
      F.embedding(ids, w, paddingIdx)
        .mul(normal([2, 3, 3], false))
        .sum()
        .backward();
      const g = w.grad!.tolist() as number[][];
      assert.deepEqual(g[3], [0, 0, 0], `embedding paddingIdx ${paddingIdx}: padding row gradient must be zero`);
      assert.ok(
        g[1]!.some((v) => v !== 0),
        'other rows receive gradient',
      );
    }
  });
});

// ---- softmax and dropout ----

describe('gradcheck: softmax, logSoftmax, dropout', () => {
  it('softmax / logSoftmax over each axis', () => {
    mox.seed(26);
    for (const axis of [0, 1, -1]) {
      check(`softmax axis ${axis}`, (x) => mox.softmax(x, axis), [normal([3, 2, 4])]);
      check(`logSoftmax axis ${axis}`, (x) => F.logSoftmax(x, axis), [normal([3, 2, 4])]);
    }
    check('softmax transposed', (x) => x.T.softmax(-1), [normal([4, 3])]);
    check('logSoftmax step-sliced', (x) => x.slice(null, [null, null, 2]).logSoftmax(), [normal([2, 8])]);
    check('softmax size-1 axis', (x) => F.softmax(x, 1).add(x), [normal([3, 1])]);
    check('softmax 0-d', (x) => x.softmax().add(x), [normal([])]);
    check('softmax large values', (x) => x.mul(30).softmax(-1), [normal([2, 3])]);
  });

  it('dropout p = 0 and eval mode are the identity', () => {
    mox.seed(27);
    check('dropout p=0', (x) => mox.dropout(x, 0), [normal([3, 4])]);
    check('dropout eval', (x) => F.dropout(x, 0.5, false), [normal([3, 4])]);
  });

  it('dropout p > 0 with a re-seeded generator (same mask every call)', () => {
    mox.seed(28);
    const gen = new mox.Generator(1);
    for (const p of [0.3, 0.7]) {
      check(`dropout p=${p}`, (x) => F.dropout(x, p, true, gen.seed(42)), [normal([4, 5])]);
      check(`dropout p=${p} transposed`, (x) => F.dropout(x.T, p, true, gen.seed(7)), [normal([5, 4])]);
    }
    check('dropout p=1', (x) => F.dropout(x, 1, true, gen.seed(1)), [normal([2, 3])]);
  });
});

// ---- convolution and pooling ----

describe('gradcheck: conv2d, convTranspose2d', () => {
  it('conv2d options', () => {
    mox.seed(29);
    type C = [string, number[], number[], Conv2dOptions];
    const CASES: C[] = [
      ['plain', [1, 2, 4, 4], [3, 2, 3, 3], {}],
      ['stride 2, padding 1', [2, 2, 5, 4], [2, 2, 3, 3], { stride: 2, padding: 1 }],
      ['rectangular stride/padding', [1, 1, 5, 6], [2, 1, 2, 3], { stride: [1, 2], padding: [2, 0] }],
      ['dilation 2', [1, 2, 5, 5], [2, 2, 2, 2], { dilation: 2, padding: 1 }],
      ['groups 2', [1, 4, 4, 3], [4, 2, 2, 2], { groups: 2 }],
      ['depthwise', [1, 3, 4, 4], [3, 1, 3, 3], { groups: 3, padding: 1 }],
      ["'same' odd kernel", [1, 2, 4, 4], [2, 2, 3, 3], { padding: 'same' }],
      ["'same' even kernel", [1, 1, 4, 5], [2, 1, 2, 4], { padding: 'same' }],
      ["'same' with dilation", [1, 1, 5, 5], [1, 1, 2, 2], { padding: 'same', dilation: 3 }],
      ["'valid'", [1, 1, 4, 4], [2, 1, 3, 2], { padding: 'valid' }],
    ];
    for (const [name, xs, ws, opts] of CASES) {
      check(`conv2d ${name}`, (x, w, b) => F.conv2d(x, w, b, opts), [normal(xs), normal(ws), normal([ws[0]!])]);
    }
    check('conv2d no bias', (x, w) => F.conv2d(x, w), [normal([1, 2, 3, 3]), normal([2, 2, 2, 2])]);
    check('conv2d unbatched [C,H,W]', (x, w, b) => F.conv2d(x, w, b, { padding: 1 }), [
      normal([2, 3, 3]),
      normal([1, 2, 3, 3]),
      normal([1]),
    ]);
    check('conv2d permuted (channels-last) input', (x, w) => F.conv2d(x.permute(0, 3, 1, 2), w, null, { stride: 2 }), [
      normal([1, 4, 4, 2]),
      normal([2, 2, 2, 2]),
    ]);
  });

  it('convTranspose2d options', () => {
    mox.seed(30);
    type C = [string, number[], number[], ConvTranspose2dOptions];
    const CASES: C[] = [
      ['plain', [1, 2, 3, 3], [2, 3, 2, 2], {}],
      ['stride 2', [2, 1, 2, 3], [1, 2, 3, 3], { stride: 2 }],
      ['stride 2, padding 1, outputPadding 1', [1, 2, 3, 3], [2, 1, 3, 3], { stride: 2, padding: 1, outputPadding: 1 }],
      ['rectangular', [1, 1, 3, 2], [1, 2, 2, 3], { stride: [2, 1], padding: [0, 1], outputPadding: [1, 0] }],
      ['groups 2', [1, 4, 2, 3], [4, 1, 2, 2], { groups: 2, stride: 2 }],
      ['dilation 2', [1, 2, 3, 3], [2, 2, 2, 2], { dilation: 2, padding: 1 }],
      ['dilation 2 with outputPadding', [1, 1, 2, 2], [1, 1, 2, 2], { dilation: 2, outputPadding: 1 }],
    ];
    for (const [name, xs, ws, opts] of CASES) {
      const groups = opts.groups ?? 1;
      check(`convTranspose2d ${name}`, (x, w, b) => F.convTranspose2d(x, w, b, opts), [normal(xs), normal(ws), normal([ws[1]! * groups])]);
    }
    check('convTranspose2d transposed input', (x, w) => F.convTranspose2d(x.transpose(2, 3), w), [
      normal([1, 2, 3, 2]),
      normal([2, 1, 2, 2]),
    ]);
  });

  it('unfold / fold', () => {
    mox.seed(31);
    const win = {
      kernel: [2, 2] as [number, number],
      stride: [1, 2] as [number, number],
      padding: [1, 0] as [number, number],
      dilation: [1, 1] as [number, number],
    };
    check('unfold', (x) => F.unfold(x, win, 4, 2, 0), [normal([1, 2, 3, 4])]);
    check('fold', (c) => F.fold(c, win, 2, 3, 4, 4, 2), [normal([1, 8, 8])]);
  });
});

describe('gradcheck: pooling', () => {
  it('maxPool2d (stride, padding, dilation, ceilMode)', () => {
    mox.seed(32);
    type C = [string, number[], number | [number, number], Pool2dOptions];
    const CASES: C[] = [
      ['2x2', [1, 2, 4, 4], 2, {}],
      ['3x3 stride 1 (overlapping)', [1, 1, 4, 5], 3, { stride: 1 }],
      ['padding 1', [2, 1, 4, 4], 3, { stride: 2, padding: 1 }],
      ['ceilMode', [1, 2, 5, 5], 2, { ceilMode: true }],
      ['ceilMode with padding', [1, 1, 6, 5], 3, { stride: 2, padding: 1, ceilMode: true }],
      ['rectangular kernel', [1, 1, 4, 6], [2, 3], { stride: [1, 2] }],
      ['dilation 2', [1, 1, 5, 5], 2, { dilation: 2 }],
      ['unbatched', [2, 4, 4], 2, {}],
    ];
    for (const [name, xs, k, opts] of CASES) check(`maxPool2d ${name}`, (x) => F.maxPool2d(x, k, opts), [distinct(xs)]);
    check('maxPool2d transposed', (x) => F.maxPool2d(x.transpose(2, 3), 2), [distinct([1, 1, 4, 6])]);
    check('maxPool2dWithIndices', (x) => F.maxPool2dWithIndices(x, 2, { padding: 1 })[0], [distinct([1, 2, 3, 3])]);
  });

  it('avgPool2d (countIncludePad both ways, ceilMode, divisorOverride)', () => {
    mox.seed(33);
    type C = [string, number[], number | [number, number], AvgPool2dOptions];
    const CASES: C[] = [
      ['2x2', [1, 2, 4, 4], 2, {}],
      ['stride 1', [1, 1, 4, 3], 2, { stride: 1 }],
      ['padding, countIncludePad', [1, 1, 5, 5], 3, { stride: 2, padding: 1, countIncludePad: true }],
      ['padding, exclude pad', [1, 1, 5, 5], 3, { stride: 2, padding: 1, countIncludePad: false }],
      ['ceilMode, countIncludePad', [1, 2, 5, 4], 2, { ceilMode: true }],
      ['ceilMode with padding, exclude pad', [1, 1, 6, 5], 3, { stride: 2, padding: 1, ceilMode: true, countIncludePad: false }],
      ['ceilMode with padding, include pad', [1, 1, 6, 5], 3, { stride: 2, padding: 1, ceilMode: true, countIncludePad: true }],
      ['divisorOverride', [1, 1, 4, 4], 2, { divisorOverride: 3 }],
      ['unbatched', [2, 4, 4], [2, 1], {}],
    ];
    for (const [name, xs, k, opts] of CASES) check(`avgPool2d ${name}`, (x) => F.avgPool2d(x, k, opts), [normal(xs)]);
    check('avgPool2d step-sliced', (x) => F.avgPool2d(x.slice(null, null, null, [null, null, 2]), 2), [normal([1, 1, 4, 8])]);
  });

  it('adaptiveAvgPool2d (divisible and non-divisible sizes)', () => {
    mox.seed(34);
    check('adaptiveAvgPool2d 4x4 -> 2x2', (x) => F.adaptiveAvgPool2d(x, 2), [normal([1, 2, 4, 4])]);
    check('adaptiveAvgPool2d 7x5 -> 3x2', (x) => F.adaptiveAvgPool2d(x, [3, 2]), [normal([2, 1, 7, 5])]);
    check('adaptiveAvgPool2d 5x3 -> 1x1', (x) => F.adaptiveAvgPool2d(x, 1), [normal([1, 2, 5, 3])]);
    check('adaptiveAvgPool2d to a larger size', (x) => F.adaptiveAvgPool2d(x, [4, 3]), [normal([1, 1, 3, 2])]);
    check('adaptiveAvgPool2d null keeps a size', (x) => F.adaptiveAvgPool2d(x, [null, 2]), [normal([1, 1, 3, 5])]);
    check('adaptiveAvgPool2d unbatched, transposed', (x) => F.adaptiveAvgPool2d(x.transpose(1, 2), [2, 3]), [normal([2, 5, 3])]);
  });
});

// ---- normalisation ----

describe('gradcheck: batchNorm, layerNorm', () => {
  it('batchNorm training (input, weight, bias), [N,C] and [N,C,H,W]', () => {
    mox.seed(35);
    check('batchNorm training [4,3]', (x, w, b) => F.batchNorm(x, null, null, { training: true, weight: w, bias: b }), [
      normal([4, 3]),
      normal([3]),
      normal([3]),
    ]);
    check(
      'batchNorm training [2,3,2,2] with running stats',
      (x, w, b) =>
        F.batchNorm(x, mox.zeros([3], { dtype: 'float64' }), mox.ones([3], { dtype: 'float64' }), {
          training: true,
          weight: w,
          bias: b,
          eps: 1e-3,
        }),
      [normal([2, 3, 2, 2]), normal([3]), normal([3])],
    );
    check('batchNorm training no affine, [N,C,L]', (x) => F.batchNorm(x, null, null, { training: true }), [normal([3, 2, 2])]);
    check('batchNorm training permuted input', (x) => F.batchNorm(x.permute(0, 3, 1, 2), null, null, { training: true }), [
      normal([2, 2, 2, 3]),
    ]);
  });

  it('batchNorm eval (input, weight, bias and running stats)', () => {
    mox.seed(36);
    check('batchNorm eval', (x, w, b, rm, rv) => F.batchNorm(x, rm, rv, { training: false, weight: w, bias: b }), [
      normal([3, 2, 2, 2]),
      normal([2]),
      normal([2]),
      normal([2]),
      uniform([2], 0.5, 2),
    ]);
    const [rm, rv] = [normal([3], false), uniform([3], 0.5, 2, false)];
    check('batchNorm eval default mode', (x) => F.batchNorm(x, rm, rv), [normal([2, 3])]);
  });

  it('layerNorm', () => {
    mox.seed(37);
    check('layerNorm last axis', (x, w, b) => F.layerNorm(x, 4, w, b), [normal([3, 4]), normal([4]), normal([4])]);
    check('layerNorm two axes', (x, w, b) => F.layerNorm(x, [2, 3], w, b, 1e-3), [normal([2, 2, 3]), normal([2, 3]), normal([2, 3])]);
    check('layerNorm no affine', (x) => F.layerNorm(x, [3]), [normal([2, 2, 3])]);
    check('layerNorm transposed', (x, w) => F.layerNorm(x.T, 3, w), [normal([3, 4]), normal([3])]);
  });
});

// ---- losses ----

describe('gradcheck: losses', () => {
  const REDUCTIONS = ['mean', 'sum', 'none'] as const;

  it('mseLoss / l1Loss', () => {
    mox.seed(38);
    for (const r of REDUCTIONS) {
      check(`mseLoss ${r}`, (x, y) => F.mseLoss(x, y, r), [normal([3, 4]), normal([3, 4])]);
      // l1: keep input - target away from 0
      const y = normal([3, 4]);
      const x = y
        .add(away([3, 4], 0.2, false))
        .detach()
        .requiresGrad_();
      check(`l1Loss ${r}`, (x, y) => F.l1Loss(x, y, r), [x, y]);
    }
    check('mseLoss default, transposed', (x, y) => F.mseLoss(x.T, y), [normal([4, 3]), normal([3, 4])]);
  });

  it('crossEntropy (weights, ignoreIndex, labelSmoothing, [N,C,d], reductions)', () => {
    mox.seed(39);
    const target = ints([0, 2, 1, 2]);
    const weight = uniform([3], 0.5, 2, false);
    for (const reduction of REDUCTIONS) {
      check(`crossEntropy ${reduction}`, (x) => F.crossEntropy(x, target, { reduction }), [normal([4, 3])]);
      check(`crossEntropy weight ${reduction}`, (x, w) => F.crossEntropy(x, target, { weight: w, reduction }), [normal([4, 3]), weight]);
      check(`crossEntropy ignoreIndex ${reduction}`, (x) => F.crossEntropy(x, ints([0, -100, 1, 2]), { reduction }), [normal([4, 3])]);
      check(
        `crossEntropy custom ignoreIndex + weight ${reduction}`,
        (x, w) => F.crossEntropy(x, ints([1, 1, 0, 2]), { weight: w, ignoreIndex: 1, reduction }),
        [normal([4, 3]), weight],
      );
      for (const ls of [0.1, 1]) {
        check(`crossEntropy labelSmoothing ${ls} ${reduction}`, (x) => F.crossEntropy(x, target, { labelSmoothing: ls, reduction }), [
          normal([4, 3]),
        ]);
        check(
          `crossEntropy labelSmoothing ${ls} + weight + ignore ${reduction}`,
          (x, w) => F.crossEntropy(x, ints([0, 2, -100, 1]), { labelSmoothing: ls, weight: w, reduction }),
          [normal([4, 3]), weight],
        );
      }
      check(`crossEntropy [N,C,d] ${reduction}`, (x) => F.crossEntropy(x, ints([0, 2, 1, 1, 0, 2], [2, 3]), { reduction }), [
        normal([2, 3, 3]),
      ]);
      check(
        `crossEntropy [N,C,h,w] smoothing ${reduction}`,
        (x) => F.crossEntropy(x, ints([0, 1, 1, 0], [1, 2, 2]), { reduction, labelSmoothing: 0.2 }),
        [normal([1, 2, 2, 2])],
      );
    }
    check('crossEntropy unbatched [C]', (x) => F.crossEntropy(x, mox.tensor(1, { dtype: 'int32' })), [normal([4])]);
    check('crossEntropy transposed logits', (x) => F.crossEntropy(x.T, target), [normal([3, 4])]);
  });

  it('nllLoss', () => {
    mox.seed(40);
    const weight = uniform([3], 0.5, 2, false);
    for (const reduction of REDUCTIONS) {
      check(`nllLoss ${reduction}`, (x) => F.nllLoss(x, ints([2, 0, 1]), { reduction }), [normal([3, 3])]);
      check(`nllLoss weight + ignore ${reduction}`, (x, w) => F.nllLoss(x, ints([2, 0, -100]), { weight: w, reduction }), [
        normal([3, 3]),
        weight,
      ]);
      check(`nllLoss [N,C,d] ${reduction}`, (x) => F.nllLoss(x, ints([0, 2, 1, 1], [2, 2]), { reduction }), [normal([2, 3, 2])]);
    }
    check('nllLoss of logSoftmax', (x) => F.nllLoss(F.logSoftmax(x, 1), ints([1, 0])), [normal([2, 3])]);
  });

  it('binaryCrossEntropyWithLogits (posWeight, weight; gradient for input and target)', () => {
    mox.seed(41);
    for (const reduction of REDUCTIONS) {
      check(`bce ${reduction}`, (x, y) => F.binaryCrossEntropyWithLogits(x, y, { reduction }), [away([3, 4], 0.1), uniform([3, 4], 0, 1)]);
      check(`bce posWeight ${reduction}`, (x, y, pw) => F.binaryCrossEntropyWithLogits(x, y, { posWeight: pw, reduction }), [
        away([3, 4], 0.1),
        uniform([3, 4], 0, 1),
        uniform([4], 0.5, 3),
      ]);
      check(
        `bce weight + posWeight ${reduction}`,
        (x, y, w, pw) => F.binaryCrossEntropyWithLogits(x, y, { weight: w, posWeight: pw, reduction }),
        [away([2, 3], 0.1), uniform([2, 3], 0, 1), uniform([2, 1], 0.5, 2), uniform([3], 0.5, 3)],
      );
    }
    check('bce large logits', (x, y) => F.binaryCrossEntropyWithLogits(x.mul(20), y), [away([2, 3], 0.1), uniform([2, 3], 0, 1)]);
  });

  it('klDiv (logTarget both ways, every reduction)', () => {
    mox.seed(42);
    for (const reduction of ['mean', 'sum', 'none', 'batchmean'] as const) {
      check(`klDiv ${reduction}`, (x, t) => F.klDiv(x, t, { reduction }), [normal([3, 4]), uniform([3, 4], 0.1, 1)]);
      check(`klDiv logTarget ${reduction}`, (x, t) => F.klDiv(x, t, { reduction, logTarget: true }), [normal([3, 4]), normal([3, 4])]);
    }
    // a target with exact zeros: their terms are 0 (xlogy), so the input's gradient there is 0 too
    const t = mox.tensor(new Float64Array([0, 0.5, 0.2, 0, 0.3, 1]), { shape: [2, 3] });
    check('klDiv zero targets', (x) => F.klDiv(x, t, { reduction: 'sum' }), [normal([2, 3])]);
    check('klDiv default', (x, t) => F.klDiv(x.T, t), [normal([4, 2]), uniform([2, 4], 0.1, 1)]);
  });
});

// ---- attention ----

describe('gradcheck: scaledDotProductAttention', () => {
  it('plain, scale, batched and broadcast', () => {
    mox.seed(43);
    check('sdpa [3,2]', (q, k, v) => F.scaledDotProductAttention(q, k, v), [normal([3, 2]), normal([4, 2]), normal([4, 3])]);
    check('sdpa batched + scale', (q, k, v) => F.scaledDotProductAttention(q, k, v, { scale: 0.7 }), [
      normal([2, 2, 3]),
      normal([2, 3, 3]),
      normal([2, 3, 2]),
    ]);
    check('sdpa broadcast k/v', (q, k, v) => F.scaledDotProductAttention(q, k, v), [
      normal([2, 1, 2, 2]),
      normal([1, 3, 2]),
      normal([3, 2]),
    ]);
    check('sdpa transposed q', (q, k, v) => F.scaledDotProductAttention(q.T, k, v), [normal([2, 3]), normal([3, 2]), normal([3, 2])]);
  });

  it('causal, bool mask, float mask', () => {
    mox.seed(44);
    check('sdpa causal', (q, k, v) => F.scaledDotProductAttention(q, k, v, { isCausal: true }), [
      normal([2, 3, 2]),
      normal([2, 3, 2]),
      normal([2, 3, 2]),
    ]);
    check('sdpa causal Lq < Lk', (q, k, v) => F.scaledDotProductAttention(q, k, v, { isCausal: true }), [
      normal([2, 2]),
      normal([4, 2]),
      normal([4, 2]),
    ]);
    // every query keeps at least one key
    const mask = bools([true, false, true, false, true, true, true, false, false], [3, 3]);
    check('sdpa bool mask', (q, k, v) => F.scaledDotProductAttention(q, k, v, { attnMask: mask }), [
      normal([3, 2]),
      normal([3, 2]),
      normal([3, 2]),
    ]);
    check('sdpa bool mask broadcast', (q, k, v) => F.scaledDotProductAttention(q, k, v, { attnMask: bools([true, false, true], [1, 3]) }), [
      normal([2, 2, 2]),
      normal([2, 3, 2]),
      normal([2, 3, 2]),
    ]);
    const fmask = normal([2, 3], false);
    check('sdpa float mask', (q, k, v) => F.scaledDotProductAttention(q, k, v, { attnMask: fmask }), [
      normal([2, 2]),
      normal([3, 2]),
      normal([3, 2]),
    ]);
    check('sdpa float mask (gradient for the mask too)', (q, k, v, m) => F.scaledDotProductAttention(q, k, v, { attnMask: m }), [
      normal([2, 2]),
      normal([3, 2]),
      normal([3, 2]),
      normal([2, 3]),
    ]);
    const gen = new mox.Generator(0);
    check(
      'sdpa dropout with re-seeded generator',
      (q, k, v) => F.scaledDotProductAttention(q, k, v, { dropoutP: 0.3, generator: gen.seed(3) }),
      [normal([3, 2]), normal([3, 2]), normal([3, 2])],
    );
  });
});
