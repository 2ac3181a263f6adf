// Matrix products. matmul follows torch.matmul: 1-D operands are promoted and the added axis removed,
// batch axes broadcast. The kernel reads transposed and broadcast operands through strides, no copies.

import { DTypeError, ShapeError, fmtShape } from '../errors.js';
import { promote } from '../base/dtype.js';
import { broadcastShapes } from '../base/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { broadcastView, record, sameDevice, wrap } from './make.js';
import { noGrad } from '../autograd/grad-mode.js';
import { reshape, sumTo, transpose, unsqueeze } from './view.js';

/** Matrix product with broadcasting batch dims, like torch.matmul (1-D operands as vectors). */
export function matmul(a: Tensor, b: Tensor): Tensor {
  const backend = sameDevice('matmul', a, b);
  if (a.ndim === 0 || b.ndim === 0) {
    throw new ShapeError('matmul', `both arguments need at least 1 dimension, got ${fmtShape(a.shape)} @ ${fmtShape(b.shape)}`);
  }
  if (a.dtype === 'bool' || b.dtype === 'bool')
    throw new DTypeError('matmul', `bool tensors are not supported, got ${a.dtype} @ ${b.dtype}`);
  if (a.ndim === 1 && b.ndim === 1) {
    if (a.shape[0] !== b.shape[0]) throw new ShapeError('matmul', `inner dimensions differ: ${fmtShape(a.shape)} @ ${fmtShape(b.shape)}`);
    return reshape(matmul(reshape(a, [1, a.shape[0]!]), reshape(b, [b.shape[0]!, 1])), []);
  }
  if (a.ndim === 1) return squeezeAxis(matmul(unsqueeze(a, 0), b), -2);
  if (b.ndim === 1) return squeezeAxis(matmul(a, unsqueeze(b, 1)), -1);

  const [m, k] = [a.shape[a.ndim - 2]!, a.shape[a.ndim - 1]!];
  const [k2, n] = [b.shape[b.ndim - 2]!, b.shape[b.ndim - 1]!];
  if (k !== k2) throw new ShapeError('matmul', `inner dimensions differ: ${fmtShape(a.shape)} @ ${fmtShape(b.shape)}`);
  const batch = broadcastShapes('matmul', a.shape.slice(0, -2), b.shape.slice(0, -2));
  const dtype = promote(a.dtype, b.dtype);
  const av = broadcastView(a, [...batch, m, k]);
  const bv = broadcastView(b, [...batch, k, n]);
  const out = wrap(backend, backend.matmul(av, bv, dtype), [...batch, m, n], dtype);
  return record(out, 'matmul', [a, b], (g) => [
    a.requiresGrad ? sumTo(matmul(g, transpose(b, -2, -1)), a.shape) : null,
    b.requiresGrad ? sumTo(matmul(transpose(a, -2, -1), g), b.shape) : null,
  ]);
}

function squeezeAxis(t: Tensor, axis: number): Tensor {
  const shape = [...t.shape];
  shape.splice(axis < 0 ? shape.length + axis : axis, 1);
  return reshape(t, shape);
}

/** x @ weight^T + bias, with weight in PyTorch's [out_features, in_features] layout. */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  if (weight.ndim !== 2) throw new ShapeError('linear', `weight must be 2-D [out, in], got ${fmtShape(weight.shape)}`);
  if (x.shape[x.ndim - 1] !== weight.shape[1]) {
    throw new ShapeError(
      'linear',
      `input features ${x.shape[x.ndim - 1]} do not match weight ${fmtShape(weight.shape)} (input ${fmtShape(x.shape)})`,
    );
  }
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== weight.shape[0])) {
    throw new ShapeError(
      'linear',
      `bias must have shape [${weight.shape[0]}] to match weight ${fmtShape(weight.shape)}, got ${fmtShape(bias.shape)}`,
    );
  }
  if (!bias || x.ndim < 2 || x.dtype !== weight.dtype || bias.dtype !== weight.dtype) {
    const y = matmul(x, transpose(weight, 0, 1));
    return bias ? y.add(bias) : y;
  }
  // One GEMM with the bias added in its epilogue and one autograd node, instead of matmul + add
  // (two kernels, two nodes, and a broadcast sum in backward): this is every dense layer's hot path.
  const backend = sameDevice('linear', x, weight, bias);
  const [inF, outF] = [weight.shape[1]!, weight.shape[0]!];
  const x2 = noGrad(() => reshape(x, [-1, inF]));
  const wT = weight.view_();
  const b = { ...wT, shape: [inF, outF], strides: [wT.strides[1]!, wT.strides[0]!] };
  const buf = backend.matmul(x2.view_(), b, weight.dtype, { bias: bias.view_() });
  const out = wrap(backend, buf, [...x.shape.slice(0, -1), outF], weight.dtype);
  return record(
    out,
    'linear',
    [x, weight, bias],
    (g) => {
      const g2 = reshape(g, [-1, outF]);
      return [
        x.requiresGrad ? matmul(g, weight) : null,
        weight.requiresGrad ? matmul(transpose(g2, 0, 1), x2) : null,
        bias.requiresGrad ? g2.sum(0) : null,
      ];
    },
    [x2],
  );
}
