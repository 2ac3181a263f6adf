// Typed errors: every bad input raises a subclass of mox.MoxError whose message starts with the op and
// names the shapes, dtypes or indices at fault, e.g. `matmul: inner dimensions differ: [32,784] @ [128,10]`.
// Never a TypeError from deep inside a kernel, a hang, or a silently wrong number.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as mox from '../src/index.js';
import type { Tensor } from '../src/index.js';

const F = mox.nn.functional;
type ErrorClass = new (op: string, message: string) => mox.MoxError;

/** fn throws an instance of cls (and so of MoxError) with exactly this message (or one matching it). */
function throwsTyped(fn: () => unknown, cls: ErrorClass, message: string | RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof mox.MoxError, `expected a MoxError, got ${String(e)}`);
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${e.name}: ${e.message}`);
    assert.ok(e instanceof Error);
    assert.equal(e.name, cls.name);
    if (typeof message === 'string') assert.equal(e.message, message);
    else assert.match(e.message, message);
    assert.ok(e.message.startsWith(`${e.op}: `), `message '${e.message}' must start with the op '${e.op}'`);
    return true;
  });
}

const i32 = (data: number[], shape?: number[]): Tensor => mox.tensor(Int32Array.from(data), { shape: shape ?? [data.length] });

describe('errors: shapes', () => {
  it('matmul inner dimensions', () => {
    const a = mox.zeros([32, 784]);
    const b = mox.zeros([128, 10]);
    assert.throws(() => a.matmul(b), { name: 'ShapeError', message: 'matmul: inner dimensions differ: [32,784] @ [128,10]' });
    throwsTyped(() => a.matmul(b), mox.ShapeError, 'matmul: inner dimensions differ: [32,784] @ [128,10]');
    throwsTyped(() => mox.matmul(mox.zeros([3]), mox.zeros([4])), mox.ShapeError, 'matmul: inner dimensions differ: [3] @ [4]');
    throwsTyped(() => mox.matmul(mox.zeros([2, 3]), mox.zeros([4])), mox.ShapeError, 'matmul: inner dimensions differ: [2,3] @ [4,1]');
    throwsTyped(
      () => mox.matmul(mox.zeros([]), mox.zeros([4])),
      mox.ShapeError,
      'matmul: both arguments need at least 1 dimension, got [] @ [4]',
    );
    throwsTyped(
      () => mox.matmul(mox.zeros([2, 3, 4]), mox.zeros([3, 4, 5])),
      mox.ShapeError,
      'matmul: shapes [2] and [3] cannot be broadcast together',
    );
  });

  it('broadcasting failure', () => {
    throwsTyped(() => mox.zeros([2, 3]).add(mox.zeros([4])), mox.ShapeError, 'add: shapes [2,3] and [4] cannot be broadcast together');
    throwsTyped(
      () => mox.mul(mox.zeros([3, 1, 4]), mox.zeros([2, 3])),
      mox.ShapeError,
      'mul: shapes [3,1,4] and [2,3] cannot be broadcast together',
    );
    throwsTyped(() => mox.zeros([2]).maximum(mox.zeros([3])), mox.ShapeError, 'maximum: shapes [2] and [3] cannot be broadcast together');
    throwsTyped(() => mox.zeros([2]).lt(mox.zeros([3])), mox.ShapeError, 'lt: shapes [2] and [3] cannot be broadcast together');
    throwsTyped(
      () => mox.where(mox.ones([2, 3], { dtype: 'bool' }), mox.zeros([2, 3]), mox.zeros([3, 2])),
      mox.ShapeError,
      'where: shapes [2,3] and [3,2] cannot be broadcast together',
    );
    throwsTyped(
      () => mox.zeros([2, 3]).expand(4, 3),
      mox.ShapeError,
      'expand: cannot expand [2,3] to [4,3]: size 2 at dimension 0 is not 1',
    );
    throwsTyped(
      () => mox.zeros([2]).maskedFill(mox.ones([2, 2], { dtype: 'bool' }), 0),
      mox.ValueError,
      'maskedFill: mask [2,2] must broadcast to the input [2]',
    );
  });

  it('reshape size mismatch', () => {
    throwsTyped(() => mox.zeros([2, 3]).reshape(4), mox.ShapeError, 'reshape: cannot reshape [2,3] (6 elements) into [4] (4 elements)');
    throwsTyped(() => mox.zeros([2, 3]).view(-1, 4), mox.ShapeError, 'reshape: cannot reshape [2,3] into [-1,4]');
    throwsTyped(() => mox.reshape(mox.zeros([2, 3]), [-1, -1]), mox.ShapeError, 'reshape: only one dimension can be -1 in [-1,-1]');
    throwsTyped(() => mox.zeros([2, 3]).T.reshape(5), mox.ShapeError, 'reshape: cannot reshape [3,2] (6 elements) into [5] (5 elements)');
  });

  it('concat / stack / split shape mismatch', () => {
    throwsTyped(
      () => mox.concat([mox.zeros([2, 3]), mox.zeros([2, 4])], 0),
      mox.ShapeError,
      'concat: shapes must match except in dimension 0: [2,3], [2,4]',
    );
    throwsTyped(
      () => mox.cat([mox.zeros([2, 3]), mox.zeros([3])], 1),
      mox.ShapeError,
      'concat: shapes must match except in dimension 1: [2,3], [3]',
    );
    throwsTyped(() => mox.concat([]), mox.ValueError, 'concat: needs at least one tensor');
    throwsTyped(
      () => mox.stack([mox.zeros([2, 3]), mox.zeros([2, 4])]),
      mox.ShapeError,
      'stack: all tensors must have the same shape: [2,3], [2,4]',
    );
    throwsTyped(
      () => mox.zeros([5]).split([2, 2]),
      mox.ShapeError,
      'split: sizes [2,2] do not add up to 5, the size of dimension 0 of [5]',
    );
  });

  it('conv2d / convTranspose2d channel mismatch', () => {
    throwsTyped(
      () => F.conv2d(mox.zeros([1, 3, 5, 5]), mox.zeros([4, 2, 3, 3])),
      mox.ShapeError,
      'conv2d: input [1,3,5,5] has 3 channels but weight [4,2,3,3] expects 2 (groups=1)',
    );
    throwsTyped(
      () => F.conv2d(mox.zeros([1, 4, 5, 5]), mox.zeros([4, 1, 3, 3]), null, { groups: 2 }),
      mox.ShapeError,
      'conv2d: input [1,4,5,5] has 4 channels but weight [4,1,3,3] expects 2 (groups=2)',
    );
    throwsTyped(
      () => F.conv2d(mox.zeros([1, 3, 5, 5]), mox.zeros([4, 1, 3, 3]), null, { groups: 2 }),
      mox.ValueError,
      'conv2d: groups=2 must divide both input channels 3 and output channels 4',
    );
    throwsTyped(
      () => F.conv2d(mox.zeros([1, 1, 5, 5]), mox.zeros([2, 1, 3, 3]), mox.zeros([3])),
      mox.ShapeError,
      'conv2d: bias must have shape [2] (the output channels), got [3]',
    );
    throwsTyped(
      () => F.conv2d(mox.zeros([1, 1, 2, 2]), mox.zeros([1, 1, 3, 3])),
      mox.ShapeError,
      'conv2d: kernel 3x3 (dilation 1x1) is larger than the padded input [1,1,2,2]',
    );
    throwsTyped(
      () => F.conv2d(mox.zeros([5, 5]), mox.zeros([1, 1, 3, 3])),
      mox.ShapeError,
      'conv2d: expected input [N, C, H, W], got [5,5]',
    );
    throwsTyped(
      () => F.convTranspose2d(mox.zeros([1, 3, 5, 5]), mox.zeros([2, 2, 3, 3])),
      mox.ShapeError,
      'convTranspose2d: input [1,3,5,5] has 3 channels but weight [2,2,3,3] expects 2',
    );
    throwsTyped(
      () => F.convTranspose2d(mox.zeros([1, 2, 3, 3]), mox.zeros([2, 2, 3, 3]), mox.zeros([3])),
      mox.ShapeError,
      'convTranspose2d: bias must have shape [2] (the output channels), got [3]',
    );
  });

  it('linear feature mismatch', () => {
    throwsTyped(
      () => F.linear(mox.zeros([2, 5]), mox.zeros([3, 4])),
      mox.ShapeError,
      'linear: input features 5 do not match weight [3,4] (input [2,5])',
    );
    throwsTyped(
      () => mox.linear(mox.zeros([2, 4]), mox.zeros([3, 4]), mox.zeros([5])),
      mox.ShapeError,
      'linear: bias must have shape [3] to match weight [3,4], got [5]',
    );
    throwsTyped(() => F.linear(mox.zeros([2, 4]), mox.zeros([4])), mox.ShapeError, 'linear: weight must be 2-D [out, in], got [4]');
  });

  it('other layers name their shapes', () => {
    throwsTyped(
      () => F.layerNorm(mox.zeros([2, 3]), 4),
      mox.ShapeError,
      'layerNorm: normalizedShape [4] does not match the trailing dimensions of input [2,3]',
    );
    throwsTyped(
      () => F.batchNorm(mox.zeros([2, 3]), mox.zeros([4]), mox.zeros([3])),
      mox.ShapeError,
      'batchNorm: runningMean must have shape [3], got [4]',
    );
    throwsTyped(
      () => F.maxPool2d(mox.zeros([1, 1, 2, 2]), 3),
      mox.ShapeError,
      'maxPool2d: kernel 3x3 is larger than the padded input [1,1,2,2]',
    );
    throwsTyped(
      () => F.scaledDotProductAttention(mox.zeros([2, 3]), mox.zeros([2, 4]), mox.zeros([2, 3])),
      mox.ShapeError,
      'scaledDotProductAttention: q [2,3], k [2,4] and v [2,3] do not fit together',
    );
    throwsTyped(
      () => F.mseLoss(mox.zeros([2, 3]), mox.zeros([3, 2])),
      mox.ShapeError,
      'mseLoss: input [2,3] and target [3,2] must have the same shape',
    );
  });
});

describe('errors: axes and indices', () => {
  it('bad axis is an IndexError', () => {
    const x = mox.zeros([2, 3]);
    throwsTyped(() => x.sum(2), mox.IndexError, 'sum: axis 2 is out of range for a tensor with 2 dimensions');
    throwsTyped(() => x.mean(-3), mox.IndexError, 'mean: axis -3 is out of range for a tensor with 2 dimensions');
    throwsTyped(() => x.max([0, 0]), mox.IndexError, 'max: repeated axis in [0,0]');
    throwsTyped(() => x.softmax(5), mox.IndexError, 'softmax: axis 5 is out of range for a tensor with 2 dimensions');
    throwsTyped(() => x.transpose(0, 2), mox.IndexError, 'transpose: axis 2 is out of range for a tensor with 2 dimensions');
    throwsTyped(() => x.permute(0, 0), mox.IndexError, 'permute: repeated axis in [0,0]');
    throwsTyped(() => x.unsqueeze(4), mox.IndexError, 'unsqueeze: axis 4 is out of range for a tensor with 3 dimensions');
    throwsTyped(() => mox.concat([x], 3), mox.IndexError, 'concat: axis 3 is out of range for a tensor with 2 dimensions');
    throwsTyped(() => x.flatten(1, 0), mox.IndexError, 'flatten: startDim 1 comes after endDim 0');
    throwsTyped(() => x.sum(0.5), mox.IndexError, 'sum: axis 0.5 is not an integer');
  });

  it('slice / narrow index out of range', () => {
    const x = mox.zeros([3, 4]);
    throwsTyped(() => x.slice(5), mox.IndexError, 'slice: index 5 is out of range for dimension 0 of size 3 (shape [3,4])');
    throwsTyped(() => x.slice(null, -5), mox.IndexError, 'slice: index -5 is out of range for dimension 1 of size 4 (shape [3,4])');
    throwsTyped(() => x.slice(1, 1, 1), mox.IndexError, 'slice: too many indices (3) for a tensor of shape [3,4]');
    throwsTyped(() => x.slice([0, 3, 0]), mox.ValueError, 'slice: step must be a positive integer, got 0');
    throwsTyped(() => x.narrow(1, 2, 3), mox.IndexError, 'narrow: range [2, 2+3) is out of bounds for dimension 1 of size 4');
  });

  it('gather / indexSelect / scatterAdd / embedding index out of range', () => {
    const x = mox.zeros([2, 3]);
    throwsTyped(() => x.gather(1, i32([0, 5], [1, 2])), mox.IndexError, 'gather: index 5 is out of range for dim 1 of size 3');
    throwsTyped(() => x.gather(1, i32([0, -1], [1, 2])), mox.IndexError, 'gather: index -1 is out of range for dim 1 of size 3');
    throwsTyped(
      () => x.gather(1, i32([0, 1])),
      mox.ShapeError,
      "gather: index [2] must have the input's rank and no larger size outside dimension 1 (input [2,3])",
    );
    throwsTyped(() => x.indexSelect(0, i32([0, 2])), mox.IndexError, 'indexSelect: index 2 is out of range for dim 0 of size 2');
    throwsTyped(() => x.indexSelect(0, i32([0, 1], [1, 2])), mox.ShapeError, 'indexSelect: index must be 1-D, got [1,2]');
    throwsTyped(
      () => x.scatterAdd(0, i32([2, 0, 0], [1, 3]), mox.ones([1, 3])),
      mox.IndexError,
      'scatterAdd: index 2 is out of range for dim 0 of size 2',
    );
    throwsTyped(() => F.embedding(i32([5]), mox.zeros([3, 4])), mox.IndexError, /index 5 is out of range for dim 0 of size 3/);
  });

  it('a non-int32 index is a DTypeError', () => {
    const x = mox.zeros([2, 3]);
    throwsTyped(
      () => x.indexSelect(0, mox.tensor([0, 1], { dtype: 'float32' })),
      mox.DTypeError,
      'indexSelect: index must be int32, got float32 [2]',
    );
    throwsTyped(() => x.gather(0, mox.zeros([1, 3])), mox.DTypeError, 'gather: index must be int32, got float32 [1,3]');
    throwsTyped(
      () => x.scatterAdd(0, mox.zeros([1, 3], { dtype: 'bool' }), mox.ones([1, 3])),
      mox.DTypeError,
      'scatterAdd: index must be int32, got bool [1,3]',
    );
    throwsTyped(
      () => F.embedding(mox.zeros([2], { dtype: 'float64' }), mox.zeros([3, 4])),
      mox.DTypeError,
      'embedding: index must be int32, got float64 [2]',
    );
  });
});

describe('errors: losses', () => {
  it('crossEntropy / nllLoss target out of range', () => {
    const logits = mox.zeros([2, 3]);
    throwsTyped(
      () => F.crossEntropy(logits, i32([0, 3])),
      mox.IndexError,
      'crossEntropy: target 3 is out of bounds for 3 classes (input [2,3], target [2])',
    );
    throwsTyped(
      () => F.crossEntropy(logits, i32([-2, 0])),
      mox.IndexError,
      'crossEntropy: target -2 is out of bounds for 3 classes (input [2,3], target [2])',
    );
    throwsTyped(
      () => F.crossEntropy(mox.zeros([1, 2, 2]), i32([0, 4], [1, 2])),
      mox.IndexError,
      'crossEntropy: target 4 is out of bounds for 2 classes (input [1,2,2], target [1,2])',
    );
    throwsTyped(
      () => F.nllLoss(logits, i32([1, 7])),
      mox.IndexError,
      'nllLoss: target 7 is out of bounds for 3 classes (input [2,3], target [2])',
    );
    // the ignored index is not out of range
    assert.ok(Math.abs(F.crossEntropy(logits, i32([0, -100]), { reduction: 'sum' }).item() - Math.log(3)) < 1e-6);
  });

  it('crossEntropy target of the wrong dtype or shape', () => {
    const logits = mox.zeros([2, 3]);
    throwsTyped(
      () => F.crossEntropy(logits, mox.tensor([0, 1], { dtype: 'float32' })),
      mox.DTypeError,
      'crossEntropy: target must hold int32 class indices, got float32 [2]',
    );
    throwsTyped(
      () => F.nllLoss(logits, mox.zeros([2], { dtype: 'bool' })),
      mox.DTypeError,
      'nllLoss: target must hold int32 class indices, got bool [2]',
    );
    throwsTyped(
      () => F.crossEntropy(logits, i32([0, 1, 2])),
      mox.ShapeError,
      'crossEntropy: target [3] does not match input [2,3] (expected [2])',
    );
    throwsTyped(
      () => F.crossEntropy(logits, i32([0, 1]), { weight: mox.ones([2]) }),
      mox.ShapeError,
      'crossEntropy: weight must have shape [3], got [2]',
    );
    throwsTyped(
      () => F.crossEntropy(logits, i32([0, 1]), { labelSmoothing: 1.5 }),
      mox.ValueError,
      'crossEntropy: labelSmoothing must be in [0, 1], got 1.5',
    );
  });
});

describe('errors: autograd', () => {
  it('backward on a non-scalar without a gradient', () => {
    const x = mox.zeros([2, 3], { requiresGrad: true });
    throwsTyped(
      () => x.mul(2).backward(),
      mox.AutogradError,
      'backward: grad can be implicitly created only for one-element outputs; got shape [2,3]: pass a gradient',
    );
    throwsTyped(() => x.mul(2).backward(mox.ones([3])), mox.ShapeError, 'backward: gradient shape [3] does not match output shape [2,3]');
    throwsTyped(() => mox.zeros([2, 3]).sum().backward(), mox.AutogradError, 'backward: tensor [] does not require grad and has no graph');
  });

  it('a second backward without retainGraph', () => {
    const x = mox.ones([2], { requiresGrad: true });
    const y = x.mul(x).sum();
    y.backward();
    throwsTyped(
      () => y.backward(),
      mox.AutogradError,
      "backward: trying to backward through the graph a second time (node 'sum'); pass retainGraph: true to the first backward()",
    );
    // through a shared intermediate whose graph was freed
    const h = x.exp();
    h.sum().backward();
    throwsTyped(() => h.mul(2).sum().backward(), mox.AutogradError, /second time \(node 'exp'\)/);
    // retainGraph keeps it usable
    const z = mox.ones([2], { requiresGrad: true });
    const w = z.square().sum();
    w.backward(undefined, { retainGraph: true });
    w.backward();
    assert.deepEqual(z.grad!.tolist(), [4, 4]);
  });

  it('requiresGrad on an int or bool tensor', () => {
    const x = mox.zeros([2], { dtype: 'int32' });
    throwsTyped(
      () => {
        x.requiresGrad = true;
      },
      mox.DTypeError,
      'requiresGrad: only floating-point tensors can require gradients, got int32',
    );
    throwsTyped(
      () => mox.tensor([1, 2], { requiresGrad: true }),
      mox.DTypeError,
      'requiresGrad: only floating-point tensors can require gradients, got int32',
    );
    throwsTyped(
      () => mox.zeros([2], { dtype: 'bool' }).requiresGrad_(),
      mox.DTypeError,
      'requiresGrad: only floating-point tensors can require gradients, got bool',
    );
    throwsTyped(
      () => {
        mox.ones([1], { requiresGrad: true }).mul(2).requiresGrad = false;
      },
      mox.ValueError,
      'requiresGrad: cannot turn off requiresGrad on a non-leaf tensor; use detach()',
    );
  });

  it('gradcheck reports a wrong gradient as an AutogradError', () => {
    const x = mox.tensor(new Float64Array([1, 2]), { requiresGrad: true });
    throwsTyped(
      () => mox.gradcheck((t) => t.mul(t.detach()), [x]),
      mox.AutogradError,
      /^gradcheck: gradients differ:\n {2}input 0 \[2\] element 0/,
    );
  });
});

describe('errors: memory and creation', () => {
  it('use after dispose', () => {
    const x = mox.ones([2, 3]);
    x.dispose();
    x.dispose(); // a second dispose does nothing
    const msg = 'tensor: tensor [2,3] float32 was used after dispose()';
    throwsTyped(() => x.add(1), mox.DisposedError, msg);
    throwsTyped(() => x.dataSync(), mox.DisposedError, msg);
    throwsTyped(() => x.item(), mox.ValueError, /item: only one-element tensors/);
    throwsTyped(() => x.reshape(6), mox.DisposedError, msg);
    throwsTyped(() => x.detach(), mox.DisposedError, msg);
    throwsTyped(() => mox.matmul(mox.ones([3, 2]), x), mox.DisposedError, msg);
    assert.equal(x.isDisposed, true);
    // a view keeps the storage alive
    const y = mox.ones([2]);
    const v = y.reshape(2, 1);
    y.dispose();
    assert.deepEqual(v.add(1).tolist(), [[2], [2]]);
  });

  it('tensor() from a ragged array', () => {
    throwsTyped(
      () => mox.tensor([[1, 2], [3]]),
      mox.ShapeError,
      'tensor: ragged nested array: expected 2 elements at depth 1, shape [2,2]',
    );
    throwsTyped(() => mox.tensor([[1, 2], 3]), mox.ShapeError, 'tensor: ragged nested array: expected 2 elements at depth 1, shape [2,2]');
    throwsTyped(() => mox.tensor([1, [2]]), mox.ShapeError, 'tensor: ragged nested array: expected a number at depth 1, shape [2]');
    throwsTyped(() => mox.tensor([1, 2, 3], { shape: [2, 2] }), mox.ShapeError, 'tensor: shape [2,2] needs 4 elements but the data has 3');
    throwsTyped(() => mox.tensor(['a'] as never), mox.ValueError, 'tensor: unsupported element a (expected numbers or booleans)');
  });

  it('item() on a multi-element tensor', () => {
    throwsTyped(
      () => mox.zeros([2, 3]).item(),
      mox.ValueError,
      'item: only one-element tensors can be converted to a number, got shape [2,3]',
    );
    throwsTyped(() => mox.zeros([0]).item(), mox.ValueError, 'item: only one-element tensors can be converted to a number, got shape [0]');
    assert.equal(mox.full([1, 1], 7).item(), 7);
  });

  it('unknown dtype', () => {
    const expected = (op: string, d: string): string => `${op}: unknown dtype '${d}' (expected one of float32, float64, int32, bool)`;
    const bad = (d: string): mox.DType => d as mox.DType;
    throwsTyped(() => mox.tensor([1], { dtype: bad('float16') }), mox.DTypeError, expected('tensor', 'float16'));
    throwsTyped(() => mox.zeros([2], { dtype: bad('float16') }), mox.DTypeError, expected('full', 'float16'));
    throwsTyped(() => mox.full([2], 1, { dtype: bad('int64') }), mox.DTypeError, expected('full', 'int64'));
    throwsTyped(() => mox.ones([2]).to(bad('uint8')), mox.DTypeError, expected('to', 'uint8'));
    throwsTyped(() => mox.randn([2], { dtype: bad('half') }), mox.DTypeError, expected('randn', 'half'));
    throwsTyped(() => mox.rand([2], { dtype: bad('half') }), mox.DTypeError, expected('rand', 'half'));
    throwsTyped(() => mox.randint(0, 3, [2], { dtype: bad('int8') }), mox.DTypeError, expected('randint', 'int8'));
    throwsTyped(() => mox.arange(3, undefined, 1, { dtype: bad('int64') }), mox.DTypeError, expected('arange', 'int64'));
    throwsTyped(() => mox.linspace(0, 1, 3, { dtype: bad('x') }), mox.DTypeError, expected('linspace', 'x'));
    throwsTyped(() => mox.eye(2, 2, { dtype: bad('x') }), mox.DTypeError, expected('eye', 'x'));
  });

  it('other dtype errors', () => {
    throwsTyped(() => mox.zeros([2]).maskedFill(mox.zeros([2]), 1), mox.DTypeError, 'maskedFill: mask must be bool, got float32 [2]');
    throwsTyped(
      () => mox.zeros([2, 2], { dtype: 'bool' }).matmul(mox.zeros([2, 2])),
      mox.DTypeError,
      'matmul: bool tensors are not supported, got bool @ float32',
    );
    throwsTyped(() => mox.zeros([2], { dtype: 'bool' }).clamp(0, 1), mox.DTypeError, 'clamp: bool tensors cannot be clamped');
    throwsTyped(
      () => mox.zeros([2]).scatterAdd(0, i32([0]), mox.ones([1], { dtype: 'float64' })),
      mox.DTypeError,
      "scatterAdd: src dtype float64 differs from the input's float32",
    );
  });

  it('bad values are ValueErrors', () => {
    throwsTyped(() => mox.zeros([-1]), mox.ValueError, 'full: invalid shape [-1]: sizes must be non-negative integers');
    throwsTyped(() => mox.zeros([2]).clamp(), mox.ValueError, 'clamp: at least one of min and max must be given');
    throwsTyped(() => F.dropout(mox.zeros([2]), 1.5), mox.ValueError, 'dropout: probability must be in [0, 1], got 1.5');
    throwsTyped(() => mox.zeros([0]).max(), mox.ValueError, 'max: cannot reduce an empty tensor [0]');
    throwsTyped(
      () => F.pad(mox.zeros([2]), [1]),
      mox.ValueError,
      'pad: padding [1] must hold (before, after) pairs for at most 1 dimensions',
    );
    throwsTyped(() => mox.zeros([2]).gelu('fast' as never), mox.ValueError, "gelu: approximate must be 'none' or 'tanh', got 'fast'");
    throwsTyped(() => mox.zeros([2], { device: 'gpu9' }), mox.ValueError, /^backend: unknown device 'gpu9'/);
  });
});
