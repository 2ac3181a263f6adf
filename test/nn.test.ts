// Tests for mox.nn: parameter discovery and PyTorch key names, stateDict round trips, train/eval,
// batch norm's running statistics, default and explicit initialisation, summary(), the layers against
// PyTorch's golden cases (and nn.TransformerBlock on the gpt_block cases), a short training loop, and scopes.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as mox from '../src/index.js';
import type { Tensor } from '../src/index.js';
import { loadSafetensorsSync } from '../src/io/safetensors.js';
import { assertClose as assertAllClose } from '../test-support/assert.js';

const { nn } = mox;
const F = nn.functional;
const {
  Module,
  Parameter,
  Sequential,
  ModuleList,
  Linear,
  Conv2d,
  ConvTranspose2d,
  MaxPool2d,
  AvgPool2d,
  AdaptiveAvgPool2d,
  Flatten,
  Dropout,
  BatchNorm1d,
  BatchNorm2d,
  LayerNorm,
  Embedding,
  ReLU,
  LeakyReLU,
  GELU,
  SiLU,
  Sigmoid,
  Tanh,
  Softmax,
} = nn;
type Module = InstanceType<typeof Module>;

const silent = { printFn: null };

function stats(t: Tensor): { min: number; max: number; mean: number; std: number } {
  const a = t.dataSync();
  let min = Infinity,
    max = -Infinity,
    s = 0;
  for (const v of a) {
    min = Math.min(min, v);
    max = Math.max(max, v);
    s += v;
  }
  const mean = s / a.length;
  let v2 = 0;
  for (const v of a) v2 += (v - mean) ** 2;
  return { min, max, mean, std: Math.sqrt(v2 / a.length) };
}

const assertClose = (actual: Tensor, expected: Tensor | number[], rtol = 1e-5, atol = 1e-6, what = 'tensor'): void =>
  assertAllClose(actual, expected, { rtol, atol, msg: what });

/** The MNIST CNN of the issue: Conv(32)-Pool-Conv(64)-Pool-Conv(64)-Dense(64)-Dense(10). */
function mnistCnn(): InstanceType<typeof Sequential> {
  return new Sequential(
    new Conv2d(1, 32, 3),
    new ReLU(),
    new MaxPool2d(2),
    new Conv2d(32, 64, 3),
    new ReLU(),
    new MaxPool2d(2),
    new Conv2d(64, 64, 3),
    new ReLU(),
    new Flatten(),
    new Linear(576, 64),
    new ReLU(),
    new Linear(64, 10),
  );
}

class Block extends Module {
  fc: InstanceType<typeof Linear>;
  norm: InstanceType<typeof LayerNorm>;
  scale: InstanceType<typeof Parameter>;
  constructor(d: number) {
    super();
    this.fc = new Linear(d, d);
    this.norm = new LayerNorm(d);
    this.scale = new Parameter(mox.ones([1]));
  }
  forward(x: Tensor): Tensor {
    return this.norm.forward(this.fc.forward(x)).mul(this.scale);
  }
}

class Net extends Module {
  stem = new Sequential(new Linear(4, 8), new ReLU());
  blocks = [new Block(8), new Block(8)];
  head = new Sequential(new Sequential(new Linear(8, 8)), new Linear(8, 3, false));
  forward(x: Tensor): Tensor {
    let h = this.stem.forward(x);
    for (const b of this.blocks) h = b.forward(h);
    return this.head.forward(h);
  }
}

describe('nn: parameter discovery', () => {
  it('finds parameters of nested Sequential and custom modules with dotted names', () => {
    const net = new Net();
    assert.deepEqual(
      net.namedParameters().map(([k]) => k),
      [
        'stem.0.weight',
        'stem.0.bias',
        'blocks.0.scale',
        'blocks.0.fc.weight',
        'blocks.0.fc.bias',
        'blocks.0.norm.weight',
        'blocks.0.norm.bias',
        'blocks.1.scale',
        'blocks.1.fc.weight',
        'blocks.1.fc.bias',
        'blocks.1.norm.weight',
        'blocks.1.norm.bias',
        'head.0.0.weight',
        'head.0.0.bias',
        'head.1.weight',
      ],
    );
    assert.equal(net.parameters().length, 15);
    assert.equal(net.numParameters(), 40 + 2 * (1 + 72 + 16) + 72 + 24);
    assert.deepEqual(
      net.namedChildren().map(([k]) => k),
      ['stem', 'blocks.0', 'blocks.1', 'head'],
    );
    assert.deepEqual(
      net
        .namedModules()
        .map(([k]) => k)
        .slice(0, 4),
      ['', 'stem', 'stem.0', 'stem.1'],
    );
    assert.deepEqual(net.forward(mox.randn([5, 4])).shape, [5, 3]);
  });

  it('Sequential: positional, array and named forms; add(); at(); iteration', () => {
    const a = new Sequential(new Linear(2, 3), new ReLU());
    const b = new Sequential([new Linear(2, 3), new ReLU()]);
    const c = new Sequential({ fc: new Linear(2, 3), act: new ReLU() });
    assert.deepEqual(Object.keys(a.stateDict()), ['0.weight', '0.bias']);
    assert.deepEqual(Object.keys(b.stateDict()), ['0.weight', '0.bias']);
    assert.deepEqual(Object.keys(c.stateDict()), ['fc.weight', 'fc.bias']);
    a.add(new Linear(3, 1));
    assert.equal(a.length, 3);
    assert.ok(a.at(-1) instanceof Linear);
    assert.deepEqual(
      [...a].map((m) => m.name),
      ['Linear', 'ReLU', 'Linear'],
    );
    assert.deepEqual(a.forward(mox.randn([4, 2])).shape, [4, 1]);
    assert.deepEqual(Object.keys(a.stateDict()), ['0.weight', '0.bias', '2.weight', '2.bias']);
    assert.throws(() => a.add(new ReLU(), '0'), /already exists/);
    assert.throws(() => new Sequential(42 as unknown as Module), mox.ValueError);
    assert.throws(() => a.at(7), mox.IndexError);
    const empty = new Sequential();
    const x = mox.ones([2]);
    assert.equal(empty.forward(x), x);
  });

  it('ModuleList registers items as 0, 1, ...', () => {
    class M extends Module {
      layers = new ModuleList([new Linear(2, 2), new Linear(2, 2)]);
      forward(x: Tensor): Tensor {
        for (const l of this.layers) x = l.forward(x);
        return x;
      }
    }
    assert.deepEqual(Object.keys(new M().stateDict()), ['layers.0.weight', 'layers.0.bias', 'layers.1.weight', 'layers.1.bias']);
  });

  it('a parameter shared by two modules is listed once', () => {
    const emb = new Embedding(10, 4);
    const out = new Linear(4, 10, false);
    out.weight = emb.weight;
    const m = new Sequential(emb, out);
    assert.deepEqual(
      m.namedParameters().map(([k]) => k),
      ['0.weight'],
    );
  });
});

describe('nn: state dicts', () => {
  const convNet = () =>
    new Sequential(
      new Conv2d(1, 4, 3, { padding: 1 }),
      new BatchNorm2d(4),
      new ReLU(),
      new MaxPool2d(2),
      new Flatten(),
      new Linear(4 * 4 * 4, 10),
    );

  it("keys and order match PyTorch's for a small conv net", () => {
    const sd = convNet().stateDict();
    assert.deepEqual(Object.keys(sd), [
      '0.weight',
      '0.bias',
      '1.weight',
      '1.bias',
      '1.running_mean',
      '1.running_var',
      '1.num_batches_tracked',
      '5.weight',
      '5.bias',
    ]);
    assert.deepEqual(sd['0.weight']!.shape, [4, 1, 3, 3]);
    assert.deepEqual(sd['1.num_batches_tracked']!.shape, []);
    assert.equal(sd['1.num_batches_tracked']!.dtype, 'int32');
    assert.deepEqual(sd['5.weight']!.shape, [10, 64]);
  });

  it('loadStateDict round trip reproduces the outputs; strict mode reports missing and unexpected keys', () => {
    mox.seed(1);
    const a = convNet();
    const x = mox.randn([2, 1, 8, 8]);
    a.forward(x); // one training step moves the running statistics
    a.eval();
    mox.seed(2);
    const b = convNet().eval();
    assert.notDeepEqual(Array.from(b.forward(x).dataSync()), Array.from(a.forward(x).dataSync()));
    const params = b.parameters();
    b.loadStateDict(a.stateDict());
    assert.deepEqual(Array.from(b.forward(x).dataSync()), Array.from(a.forward(x).dataSync()));
    assert.equal(b.stateDict()['1.num_batches_tracked']!.item(), 1);
    // in place: the same Parameter objects (an optimizer built before loading keeps working)
    assert.ok(b.parameters().every((p, i) => p === params[i]));

    const sd = { ...a.stateDict() };
    delete sd['5.bias'];
    sd['extra.weight'] = mox.zeros([1]);
    assert.throws(() => b.loadStateDict(sd), /missing keys \[5\.bias\], unexpected keys \[extra\.weight\]/);
    const r = b.loadStateDict(sd, false);
    assert.deepEqual(r, { missingKeys: ['5.bias'], unexpectedKeys: ['extra.weight'] });
    assert.throws(() => b.loadStateDict({ ...a.stateDict(), '5.weight': mox.zeros([10, 3]) }), /size mismatch for 5\.weight/);
  });

  it('round-trips through safetensors', () => {
    mox.seed(3);
    const a = convNet();
    const file = path.join(process.env.TMPDIR ?? '/tmp', `mox-nn-${process.pid}.safetensors`);
    mox.saveSafetensorsSync(file, a.stateDict());
    const { tensors } = mox.loadSafetensorsSync(file);
    const b = convNet();
    b.loadStateDict(tensors);
    for (const [k, t] of Object.entries(a.stateDict()))
      assert.deepEqual(Array.from(b.stateDict()[k]!.dataSync()), Array.from(t.dataSync()), k);
  });
});

describe('nn: train() and eval()', () => {
  it('Dropout is active in training mode only', () => {
    const d = new Dropout(0.5);
    const x = mox.ones([4000]);
    const y = d.forward(x).dataSync();
    const zeros = y.filter((v) => v === 0).length;
    assert.ok(zeros > 1700 && zeros < 2300, `zeroed ${zeros} of 4000`);
    assert.ok(y.every((v) => v === 0 || v === 2));
    const m = new Sequential(d).eval();
    assert.equal(d.training, false);
    assert.deepEqual(Array.from(m.forward(x).dataSync()), Array.from(x.dataSync()));
    m.train();
    assert.equal(d.training, true);
    assert.throws(() => new Dropout(1.5), mox.ValueError);
  });

  it('BatchNorm uses and updates batch statistics in training, running statistics in evaluation', () => {
    mox.seed(4);
    const bn = new BatchNorm1d(3);
    const x = mox.randn([16, 3]).mul(2).add(1);
    const y = bn.forward(x);
    // normalised per channel with the biased batch variance
    const ys = y.mean(0).dataSync();
    for (const v of ys) assert.ok(Math.abs(v) < 1e-5);
    assertClose(y.var(0, { unbiased: false }), [1, 1, 1], 1e-3, 1e-3, 'batch variance');
    const mean = x.mean(0);
    const varU = x.var(0);
    assertClose(bn.runningMean!, mean.mul(0.1), 1e-5, 1e-6, 'running_mean');
    assertClose(bn.runningVar!, varU.mul(0.1).add(0.9), 1e-5, 1e-6, 'running_var');
    assert.equal(bn.numBatchesTracked!.item(), 1);

    bn.eval();
    const before = Array.from(bn.runningMean!.dataSync());
    const ye = bn.forward(x);
    assertClose(ye, x.sub(bn.runningMean!).div(bn.runningVar!.add(1e-5).sqrt()), 1e-5, 1e-5, 'eval output');
    assert.deepEqual(Array.from(bn.runningMean!.dataSync()), before);
    assert.equal(bn.numBatchesTracked!.item(), 1);
  });

  it('BatchNorm with momentum null keeps a cumulative average; without running stats it always uses the batch', () => {
    mox.seed(5);
    const bn = new BatchNorm2d(2, { momentum: null });
    const a = mox.randn([4, 2, 3, 3]);
    const b = mox.randn([4, 2, 3, 3]).add(3);
    bn.forward(a);
    bn.forward(b);
    assertClose(
      bn.runningMean!,
      a
        .mean([0, 2, 3])
        .add(b.mean([0, 2, 3]))
        .div(2),
      1e-5,
      1e-5,
      'cumulative mean',
    );
    assert.equal(bn.numBatchesTracked!.item(), 2);

    const free = new BatchNorm2d(2, { trackRunningStats: false, affine: false }).eval();
    assert.equal(free.runningMean, null);
    assert.deepEqual(Object.keys(free.stateDict()), []);
    const y = free.forward(b);
    assertClose(y.mean([0, 2, 3]), [0, 0], 0, 1e-5, 'batch-normalised in eval');
    assert.throws(() => new BatchNorm2d(2).forward(mox.randn([4, 2])), /expected 4D input/);
    assert.throws(() => new BatchNorm1d(3).forward(mox.randn([4, 2])), /expected 3 channels/);
  });
});

const goldenDir = process.env.MOX_GOLDEN_DIR ?? path.resolve(process.cwd(), '../shared/golden');
const haveGolden = existsSync(path.join(goldenDir, 'manifest.json'));

interface GoldenCase {
  file: string;
  op: string;
  args: Record<string, any>;
  rtol: number;
  atol: number;
  grads: string[];
}

/** A layer built from a golden case's arguments and parameter shapes, or null when no layer maps to it. */
function layerFor(c: GoldenCase, t: Record<string, Tensor>): Module | null {
  const a = c.args;
  const w = t['param.weight'];
  const hasBias = 'param.bias' in t;
  switch (c.op) {
    case 'linear':
      return new Linear(w!.shape[1]!, w!.shape[0]!, a.bias);
    case 'conv2d':
      return new Conv2d(t['in.0']!.shape[1]!, w!.shape[0]!, [w!.shape[2]!, w!.shape[3]!], {
        stride: a.stride,
        padding: a.padding,
        dilation: a.dilation,
        groups: a.groups,
        bias: hasBias,
      });
    case 'conv_transpose2d':
      return new ConvTranspose2d(w!.shape[0]!, w!.shape[1]! * a.groups, [w!.shape[2]!, w!.shape[3]!], {
        stride: a.stride,
        padding: a.padding,
        outputPadding: a.output_padding,
        dilation: a.dilation,
        groups: a.groups,
        bias: hasBias,
      });
    case 'max_pool2d':
      return new MaxPool2d(a.kernel_size, { stride: a.stride, padding: a.padding });
    case 'avg_pool2d':
      return new AvgPool2d(a.kernel_size, { stride: a.stride, padding: a.padding, countIncludePad: a.count_include_pad });
    case 'adaptive_avg_pool2d':
      return new AdaptiveAvgPool2d(a.output_size);
    case 'layer_norm':
      return new LayerNorm(a.normalized_shape, { eps: a.eps });
    case 'embedding':
      return new Embedding(w!.shape[0]!, w!.shape[1]!, { paddingIdx: a.padding_idx });
    case 'batch_norm': {
      const opts = { eps: a.eps, momentum: a.momentum };
      const bn = t['in.0']!.ndim === 4 ? new BatchNorm2d(w!.shape[0]!, opts) : new BatchNorm1d(w!.shape[0]!, opts);
      bn.runningMean!.copy_(t['in.1']!);
      bn.runningVar!.copy_(t['in.2']!);
      return a.training ? bn : bn.eval();
    }
    case 'relu':
      return new ReLU();
    case 'gelu':
      return new GELU(a.approximate);
    case 'gelu_tanh':
      return new GELU('tanh');
    case 'silu':
      return new SiLU();
    case 'sigmoid':
      return new Sigmoid();
    case 'tanh':
      return new Tanh();
    case 'softmax':
      return new Softmax(a.dim);
    case 'gpt_block':
      return new nn.TransformerBlock(a.n_embd, a.n_head, { lnEps: a.ln_eps });
    default:
      return null;
  }
}

describe('nn: layers against the golden PyTorch cases', { skip: haveGolden ? false : `no golden data at ${goldenDir}` }, () => {
  const cases = haveGolden ? (JSON.parse(readFileSync(path.join(goldenDir, 'manifest.json'), 'utf8')).cases as GoldenCase[]) : [];
  for (const c of cases) {
    if (c.args.transpose_in0) continue;
    const probe = [
      'linear',
      'conv2d',
      'conv_transpose2d',
      'max_pool2d',
      'avg_pool2d',
      'adaptive_avg_pool2d',
      'layer_norm',
      'embedding',
      'batch_norm',
      'relu',
      'gelu',
      'gelu_tanh',
      'silu',
      'sigmoid',
      'tanh',
      'softmax',
      'gpt_block',
    ];
    if (!probe.includes(c.op)) continue;
    it(`${c.file.replace('.safetensors', '')} as a layer`, () => {
      mox.scope(() => {
        const { tensors: t } = loadSafetensorsSync(path.join(goldenDir, c.file));
        const layer = layerFor(c, t)!;
        // parameters by PyTorch name: a strict load checks the layer's key names too
        const sd: Record<string, Tensor> = {};
        for (const [k, v] of Object.entries(t)) if (k.startsWith('param.')) sd[k.slice(6)] = v;
        for (const [k, v] of Object.entries(layer.stateDict())) if (!(k in sd)) sd[k] = v;
        layer.loadStateDict(sd);
        const x = t['in.0']!;
        if (c.grads.includes('grad.in.0')) x.requiresGrad = true;
        const out = layer.forward(x) as Tensor;
        assertClose(out, t['out']!, c.rtol, c.atol, `${c.file} out`);
        if (c.op === 'batch_norm' && c.args.training) {
          const bn = layer as InstanceType<typeof BatchNorm1d>;
          assertClose(bn.runningMean!, t['out.running_mean']!, c.rtol, c.atol, 'running_mean');
          assertClose(bn.runningVar!, t['out.running_var']!, c.rtol, c.atol, 'running_var');
        }
        out.mul(t['gout']!).sum().backward();
        const params = Object.fromEntries(layer.namedParameters());
        for (const g of c.grads) {
          const leaf = g === 'grad.in.0' ? x : params[g.slice('grad.param.'.length)];
          assert.ok(leaf?.grad, `${g}: no gradient`);
          assertClose(leaf.grad, t[g]!, c.rtol, c.atol, `${c.file} ${g}`);
        }
        layer.zeroGrad();
      });
    });
  }
});

describe('nn: default initialisation', () => {
  it('Linear(784, 128): weight and bias uniform within 1/sqrt(784)', () => {
    mox.seed(0);
    const l = new Linear(784, 128);
    const b = 1 / 28;
    const w = stats(l.weight);
    assert.ok(w.min >= -b && w.max <= b, `weights in [${w.min}, ${w.max}]`);
    assert.ok(w.min < -0.99 * b && w.max > 0.99 * b, 'weights fill the range');
    assert.ok(Math.abs(w.mean) < 2e-4, `mean ${w.mean}`);
    assert.ok(Math.abs(w.std - b / Math.sqrt(3)) < 2e-4, `std ${w.std} vs uniform's ${b / Math.sqrt(3)}`);
    // roughly uniform: each tenth of the range holds ~10% of the weights
    const bins = new Array(10).fill(0);
    for (const v of l.weight.dataSync()) bins[Math.min(9, Math.floor(((v + b) / (2 * b)) * 10))]++;
    for (const n of bins) assert.ok(Math.abs(n / l.weight.size - 0.1) < 0.005, `bins ${bins}`);
    const bs = stats(l.bias!);
    assert.ok(bs.min >= -b && bs.max <= b);
    assert.ok(l.weight.requiresGrad && l.bias!.requiresGrad);
  });

  it('Conv2d and ConvTranspose2d use fan-in from dim 1 of the weight', () => {
    const c = new Conv2d(32, 64, 3);
    const bc = 1 / Math.sqrt(32 * 9);
    assert.ok(stats(c.weight).max <= bc && stats(c.weight).max > 0.95 * bc);
    assert.ok(stats(c.bias!).max <= bc);
    const t = new ConvTranspose2d(8, 4, 3, { groups: 2 });
    assert.deepEqual(t.weight.shape, [8, 2, 3, 3]);
    const bt = 1 / Math.sqrt(2 * 9);
    assert.ok(stats(t.weight).max <= bt && stats(t.weight).max > 0.8 * bt);
  });

  it('Embedding is N(0, 1) with the padding row zeroed; norms start at ones and zeros', () => {
    const e = new Embedding(1000, 64, { paddingIdx: -1 });
    assert.equal(e.paddingIdx, 999);
    const s = stats(e.weight);
    assert.ok(Math.abs(s.mean) < 0.02 && Math.abs(s.std - 1) < 0.02, `mean ${s.mean} std ${s.std}`);
    assert.ok(
      e.weight
        .narrow(0, 999, 1)
        .dataSync()
        .every((v) => v === 0),
    );
    const bn = new BatchNorm2d(5);
    assert.deepEqual(Array.from(bn.weight!.dataSync()), [1, 1, 1, 1, 1]);
    assert.deepEqual(Array.from(bn.bias!.dataSync()), [0, 0, 0, 0, 0]);
    assert.deepEqual(Array.from(bn.runningVar!.dataSync()), [1, 1, 1, 1, 1]);
    const ln = new LayerNorm([2, 3], { elementwiseAffine: false });
    assert.equal(ln.weight, null);
    assert.equal(ln.parameters().length, 0);
  });

  it('mox.seed makes models reproducible', () => {
    mox.seed(42);
    const a = mnistCnn();
    mox.seed(42);
    const b = mnistCnn();
    for (const [k, t] of Object.entries(a.stateDict()))
      assert.deepEqual(Array.from(t.dataSync()), Array.from(b.stateDict()[k]!.dataSync()), k);
  });
});

describe('nn.init', () => {
  const { init } = nn;

  it('calculateGain and fan computation follow torch.nn.init', () => {
    assert.equal(init.calculateGain('linear'), 1);
    assert.equal(init.calculateGain('sigmoid'), 1);
    assert.equal(init.calculateGain('conv2d'), 1);
    assert.equal(init.calculateGain('tanh'), 5 / 3);
    assert.equal(init.calculateGain('relu'), Math.SQRT2);
    assert.ok(Math.abs(init.calculateGain('leaky_relu') - Math.sqrt(2 / (1 + 1e-4))) < 1e-12);
    assert.ok(Math.abs(init.calculateGain('leaky_relu', Math.sqrt(5)) - Math.sqrt(1 / 3)) < 1e-12);
    assert.throws(() => init.calculateGain('swish' as 'relu'), mox.ValueError);
    assert.deepEqual(init.calculateFanInAndFanOut(mox.zeros([64, 32, 3, 3])), [288, 576]);
    assert.deepEqual(init.calculateFanInAndFanOut(mox.zeros([10, 784])), [784, 10]);
    assert.throws(() => init.calculateFanInAndFanOut(mox.zeros([5])), mox.ShapeError);
  });

  it('xavier and kaiming: bounds and standard deviations', () => {
    mox.seed(7);
    const w = mox.zeros([256, 512]);
    const xb = Math.sqrt(6 / (256 + 512));
    let s = stats(init.xavierUniform_(w));
    assert.ok(s.min >= -xb && s.max <= xb && s.max > 0.99 * xb);
    s = stats(init.xavierUniform_(w, 2));
    assert.ok(s.max <= 2 * xb && s.max > 1.98 * xb);
    s = stats(init.xavierNormal_(w));
    assert.ok(Math.abs(s.std / Math.sqrt(2 / 768) - 1) < 0.01, `xavier normal std ${s.std}`);
    s = stats(init.kaimingNormal_(w, { nonlinearity: 'relu' }));
    assert.ok(Math.abs(s.std / Math.sqrt(2 / 512) - 1) < 0.01, `kaiming normal std ${s.std}`);
    s = stats(init.kaimingNormal_(w, { mode: 'fanOut', nonlinearity: 'relu' }));
    assert.ok(Math.abs(s.std / Math.sqrt(2 / 256) - 1) < 0.01, `kaiming normal fan-out std ${s.std}`);
    s = stats(init.kaimingUniform_(w));
    const kb = Math.sqrt(6 / 512);
    assert.ok(s.min >= -kb && s.max <= kb && s.max > 0.99 * kb);
    s = stats(init.kaimingUniform_(w, { a: Math.sqrt(5) }));
    assert.ok(s.max <= 1 / Math.sqrt(512) && s.max > 0.99 / Math.sqrt(512));
    s = stats(init.kaimingUniform_(w, { mode: 'fan_out', nonlinearity: 'linear' }));
    assert.ok(s.max <= Math.sqrt(3 / 256));
    assert.throws(() => init.kaimingUniform_(w, { mode: 'fanSideways' as 'fanIn' }), mox.ValueError);
  });

  it('normal_, uniform_, truncNormal_, constant_, zeros_, ones_ work in place', () => {
    const t = mox.zeros([100_000]);
    const same = init.normal_(t, 3, 0.5);
    assert.equal(same, t);
    let s = stats(t);
    assert.ok(Math.abs(s.mean - 3) < 0.01 && Math.abs(s.std - 0.5) < 0.01);
    s = stats(init.uniform_(t, -2, 5));
    assert.ok(s.min >= -2 && s.max <= 5 && Math.abs(s.mean - 1.5) < 0.03);
    s = stats(init.truncNormal_(t, 0, 1, -1, 1));
    assert.ok(s.min >= -1 && s.max <= 1);
    assert.ok(
      init
        .constant_(t, 0.25)
        .dataSync()
        .every((v) => v === 0.25),
    );
    assert.ok(
      init
        .zeros_(t)
        .dataSync()
        .every((v) => v === 0),
    );
    assert.ok(
      init
        .ones_(t)
        .dataSync()
        .every((v) => v === 1),
    );
    assert.throws(() => init.uniform_(t, 1, 0), mox.ValueError);
    assert.throws(() => init.normal_(mox.zeros([3], { dtype: 'int32' })), mox.ValueError);
  });

  it('takes an optional Generator, and does not record on parameters', () => {
    const a = mox.zeros([50]);
    const b = mox.zeros([50]);
    init.normal_(a, 0, 1, new mox.Generator(9));
    init.normal_(b, 0, 1, new mox.Generator(9));
    assert.deepEqual(Array.from(a.dataSync()), Array.from(b.dataSync()));
    init.kaimingUniform_(mox.zeros([4, 4]), { generator: new mox.Generator(1) });
    const l = new Linear(3, 2);
    init.xavierUniform_(l.weight);
    assert.ok(l.weight.isLeaf && l.weight.requiresGrad);
  });
});

describe('nn: summary', () => {
  it('MLP 784-128-10: Keras-like table with 101,770 parameters', () => {
    const mlp = new Sequential(new Flatten(), new Linear(784, 128), new ReLU(), new Dropout(0.2), new Linear(128, 10));
    const before = mox.memory().numTensors;
    const lines: string[] = [];
    const text = nn.summary(mlp, [28, 28], { printFn: (l) => lines.push(l) });
    assert.equal(mox.memory().numTensors, before, 'summary leaves no tensors behind');
    assert.equal(lines.join('\n'), text);
    assert.equal(
      text,
      [
        'Model: "Sequential"',
        '_________________________________________________________________',
        ' Layer (type)                Output Shape              Param #',
        '=================================================================',
        ' 0 (Flatten)                 (None, 784)               0',
        ' 1 (Linear)                  (None, 128)               100,480',
        ' 2 (ReLU)                    (None, 128)               0',
        ' 3 (Dropout)                 (None, 128)               0',
        ' 4 (Linear)                  (None, 10)                1,290',
        '=================================================================',
        'Total params: 101,770 (397.54 KB)',
        'Trainable params: 101,770 (397.54 KB)',
        'Non-trainable params: 0 (0 B)',
        '_________________________________________________________________',
      ].join('\n'),
    );
    assert.ok(mlp.training, 'training mode restored');
    assert.ok(!Object.hasOwn(mlp.at(1), 'forward'), 'forward hooks removed');
  });

  it('the MNIST CNN: output shapes and 93,322 parameters', () => {
    const cnn = mnistCnn();
    const text = cnn.summary([1, 28, 28], silent);
    for (const row of [
      ' 0 (Conv2d)                  (None, 32, 26, 26)        320',
      ' 2 (MaxPool2d)               (None, 32, 13, 13)        0',
      ' 3 (Conv2d)                  (None, 64, 11, 11)        18,496',
      ' 5 (MaxPool2d)               (None, 64, 5, 5)          0',
      ' 6 (Conv2d)                  (None, 64, 3, 3)          36,928',
      ' 8 (Flatten)                 (None, 576)               0',
      ' 9 (Linear)                  (None, 64)                36,928',
      ' 11 (Linear)                 (None, 10)                650',
    ])
      assert.ok(text.includes(row), `missing row: ${row}\n${text}`);
    assert.match(text, /Total params: 93,322 /);
    assert.equal(cnn.numParameters(), 93_322);
  });

  it('nested and custom modules, frozen parameters, no input shape, a batch size, integer inputs', () => {
    const net = new Net();
    net.head
      .at(1)
      .parameters()
      .forEach((p) => (p.requiresGrad = false));
    net.blocks[1]!.eval();
    const text = net.summary([4], { printFn: null, batchSize: 3 });
    assert.match(text, / blocks\.0 \(Block\) +\(None, 8\) +1\n/);
    assert.match(text, / blocks\.0\.fc \(Linear\) +\(None, 8\) +72\n/);
    assert.match(text, / head\.0\.0 \(Linear\) +\(None, 8\) +72\n/);
    assert.match(text, /Total params: 314 .*\nTrainable params: 290 .*\nNon-trainable params: 24 /);
    assert.equal(net.blocks[1]!.training, false, "each module's mode restored");
    assert.equal(net.blocks[0]!.training, true);
    const listed = nn.summary(net, null, silent);
    assert.match(listed, / stem\.0 \(Linear\) +\? +40\n/);
    const lm = new Sequential(new Embedding(100, 16), new Flatten(), new Linear(16 * 5, 2));
    assert.match(lm.summary([5], { dtype: 'int32', printFn: null }), / 0 \(Embedding\) +\(None, 5, 16\) +1,600\n/);
    assert.match(nn.summary(new Linear(3, 2), [3], silent), / Linear +\(None, 2\) +8\n/);
    assert.throws(() => net.summary([5], silent), mox.ShapeError);
    assert.ok(!Object.hasOwn(net.stem, 'forward'), 'hooks removed after an error');
  });
});

describe('nn: layers', () => {
  it('extraRepr and the printed tree follow PyTorch', () => {
    const m = new Sequential(
      new Conv2d(3, 8, 3, { padding: 'same', bias: false }),
      new BatchNorm2d(8),
      new LeakyReLU(0.2),
      new MaxPool2d(2),
      new Conv2d(8, 8, [3, 1], { stride: 2, padding: [1, 0], dilation: 2, groups: 4 }),
      new AdaptiveAvgPool2d(1),
      new Flatten(),
      new Dropout(0.1),
      new Linear(8, 4),
      new GELU(),
      new LayerNorm(4, { eps: 1e-6 }),
      new Softmax(1),
    );
    assert.equal(
      String(m),
      [
        'Sequential(',
        '  (0): Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=same, bias=False)',
        '  (1): BatchNorm2d(8, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)',
        '  (2): LeakyReLU(negative_slope=0.2)',
        '  (3): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)',
        '  (4): Conv2d(8, 8, kernel_size=(3, 1), stride=(2, 2), padding=(1, 0), dilation=(2, 2), groups=4)',
        '  (5): AdaptiveAvgPool2d(output_size=1)',
        '  (6): Flatten(start_dim=1, end_dim=-1)',
        '  (7): Dropout(p=0.1, inplace=False)',
        '  (8): Linear(in_features=8, out_features=4, bias=True)',
        "  (9): GELU(approximate='none')",
        '  (10): LayerNorm((4,), eps=1e-06, elementwise_affine=True)',
        '  (11): Softmax(dim=1)',
        ')',
      ].join('\n'),
    );
    assert.equal(new Embedding(10, 3, { paddingIdx: 0 }).extraRepr(), '10, 3, padding_idx=0');
    assert.equal(
      new ConvTranspose2d(4, 2, 3, { stride: 2, padding: 1, outputPadding: 1 }).extraRepr(),
      '4, 2, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), output_padding=(1, 1)',
    );
    assert.equal(new AvgPool2d(3, { stride: 2, padding: 1 }).extraRepr(), 'kernel_size=3, stride=2, padding=1');
    assert.equal(
      new BatchNorm1d(4, { momentum: null, affine: false }).extraRepr(),
      '4, eps=1e-05, momentum=None, affine=False, track_running_stats=True',
    );
    const y = m.forward(mox.randn([2, 3, 12, 12])) as Tensor;
    assert.deepEqual(y.shape, [2, 4]);
  });

  it('output shapes: same/valid padding, transposed conv, pooling, flatten ranges, activations', () => {
    const x = mox.randn([2, 3, 9, 9]);
    assert.deepEqual(new Conv2d(3, 5, 4, { padding: 'same' }).forward(x).shape, [2, 5, 9, 9]);
    assert.deepEqual(new Conv2d(3, 5, 3, { padding: 'valid' }).forward(x).shape, [2, 5, 7, 7]);
    assert.deepEqual(new Conv2d(3, 5, 3).forward(mox.randn([3, 9, 9])).shape, [5, 7, 7]);
    assert.deepEqual(new ConvTranspose2d(3, 2, 3, { stride: 2, padding: 1, outputPadding: 1 }).forward(x).shape, [2, 2, 18, 18]);
    assert.deepEqual(new MaxPool2d(2, { ceilMode: true }).forward(x).shape, [2, 3, 5, 5]);
    assert.deepEqual(new AvgPool2d(3, { stride: 1 }).forward(x).shape, [2, 3, 7, 7]);
    assert.deepEqual(new AdaptiveAvgPool2d([3, null]).forward(x).shape, [2, 3, 3, 9]);
    assert.deepEqual(new Flatten().forward(x).shape, [2, 243]);
    assert.deepEqual(new Flatten(0, 1).forward(x).shape, [6, 9, 9]);
    assert.deepEqual(new nn.Unflatten(1, [3, 81]).forward(new Flatten().forward(x)).shape, [2, 3, 81]);
    const v = mox.tensor([-2, -0.5, 0, 1.5]);
    assertClose(new ReLU().forward(v), [0, 0, 0, 1.5]);
    assertClose(new LeakyReLU(0.1).forward(v), [-0.2, -0.05, 0, 1.5]);
    assertClose(
      new Sigmoid().forward(v),
      [-2, -0.5, 0, 1.5].map((a) => 1 / (1 + Math.exp(-a))),
    );
    assertClose(new Tanh().forward(v), [-2, -0.5, 0, 1.5].map(Math.tanh));
    assertClose(
      new SiLU().forward(v),
      [-2, -0.5, 0, 1.5].map((a) => a / (1 + Math.exp(-a))),
    );
    assertClose(new Softmax().forward(mox.tensor([[0, Math.log(3)]])), [0.25, 0.75]);
    assert.deepEqual(new Embedding(10, 4).forward(mox.tensor([[1, 2, 3]])).shape, [1, 3, 4]);
    assert.deepEqual(new nn.Identity().forward(v), v);
  });

  it('bad configurations get typed errors naming the layer', () => {
    assert.throws(() => new Linear(0, 3), /Linear: inFeatures must be a positive integer/);
    assert.throws(() => new Conv2d(3, 4, 3, { groups: 2 }), /Conv2d: groups=2 must divide/);
    assert.throws(() => new Conv2d(3, 4, 3, { padding: 'same', stride: 2 }), mox.ValueError);
    assert.throws(() => new Embedding(5, 2, { paddingIdx: 5 }), /Embedding: paddingIdx/);
    assert.throws(() => new BatchNorm1d(3, { momentum: 2 }), mox.ValueError);
    assert.throws(() => new LayerNorm([2, 0]), mox.ValueError);
    assert.throws(() => new GELU('fast' as 'tanh'), mox.ValueError);
    assert.throws(() => new Linear(4, 2).forward(mox.randn([3, 5])), mox.ShapeError);
  });
});

describe('nn: training', () => {
  it('Adam on a Sequential lowers the loss', () => {
    mox.seed(11);
    const n = 128;
    const x = mox.randn([n, 2]);
    const xs = x.dataSync();
    const labels = Array.from({ length: n }, (_, i) => (xs[2 * i]! * xs[2 * i + 1]! > 0 ? 1 : 0));
    const y = mox.tensor(labels, { dtype: 'int32' });
    const model = new Sequential(new Linear(2, 32), new Tanh(), new Linear(32, 32), new ReLU(), new Linear(32, 2));
    const opt = new mox.optim.Adam(model.parameters(), { lr: 0.02 });
    const lossAt = () => mox.noGrad(() => F.crossEntropy(model.forward(x), y).item());
    const first = lossAt();
    const step = () =>
      mox.scope(() => {
        const loss = F.crossEntropy(model.forward(x), y);
        opt.zeroGrad();
        loss.backward();
        opt.step();
      });
    for (let i = 0; i < 10; i++) step();
    const live = mox.memory().numTensors; // gradients and optimizer state exist from here on
    for (let i = 0; i < 140; i++) step();
    assert.equal(mox.memory().numTensors, live, 'memory holds steady');
    const last = lossAt();
    assert.ok(last < 0.3 * first, `loss ${first} -> ${last}`);
  });

  it('a model created inside mox.scope keeps its parameters and buffers after the scope', () => {
    const model = mox.scope(() => {
      const m = new Sequential(new Conv2d(1, 2, 3), new BatchNorm2d(2), new Flatten(), new Linear(2 * 4 * 4, 3));
      m.forward(mox.randn([2, 1, 6, 6]));
      return m;
    });
    for (const [k, t] of Object.entries(model.stateDict())) assert.ok(!t.isDisposed, `${k} disposed`);
    assert.deepEqual(model.forward(mox.randn([2, 1, 6, 6])).shape, [2, 3]);
    assert.equal((model.at(1) as InstanceType<typeof BatchNorm2d>).numBatchesTracked!.item(), 2);
  });

  it('module zeroGrad frees the gradients', () => {
    const l = new Linear(3, 2);
    l.forward(mox.randn([4, 3]))
      .sum()
      .backward();
    assert.ok(l.weight.grad && l.bias!.grad);
    l.zeroGrad();
    assert.equal(l.weight.grad, null);
  });
});
