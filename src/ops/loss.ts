// Loss functions with PyTorch's semantics and reductions ('mean' | 'sum' | 'none').

import { DTypeError, IndexError, ShapeError, ValueError, fmtShape } from '../errors.js';
import { sameShape } from '../base/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { where } from './binary.js';
import { gather } from './indexing.js';
import { logSoftmax } from './softmax.js';
import { movedim, reshape } from './view.js';
import { isFloat } from '../base/dtype.js';
import { noGrad } from '../autograd/grad-mode.js';
import { needsGrad, record, sameDevice, wrap } from './make.js';
import type { FusedKernel } from '../backend/fused.js';
import { dispatchFused } from './fused.js';

/** How a loss reduces its per-element values: their mean, their sum, or none (the values as they are). */
export type Reduction = 'mean' | 'sum' | 'none';

function reduce(op: string, loss: Tensor, reduction: Reduction): Tensor {
  switch (reduction) {
    case 'mean':
      return loss.mean();
    case 'sum':
      return loss.sum();
    case 'none':
      return loss;
    default:
      throw new ValueError(op, `reduction must be 'mean', 'sum' or 'none', got '${reduction as string}'`);
  }
}

function checkSame(op: string, input: Tensor, target: Tensor): void {
  if (!sameShape(input.shape, target.shape)) {
    throw new ShapeError(op, `input ${fmtShape(input.shape)} and target ${fmtShape(target.shape)} must have the same shape`);
  }
}

/** Mean squared error, like torch.nn.functional.mse_loss. */
export function mseLoss(input: Tensor, target: Tensor, reduction: Reduction = 'mean'): Tensor {
  checkSame('mseLoss', input, target);
  return reduce('mseLoss', input.sub(target).square(), reduction);
}

/** Mean absolute error, like torch.nn.functional.l1_loss. */
export function l1Loss(input: Tensor, target: Tensor, reduction: Reduction = 'mean'): Tensor {
  checkSame('l1Loss', input, target);
  return reduce('l1Loss', input.sub(target).abs(), reduction);
}

/** Options of nllLoss: class weights, an ignored label and the reduction. */
export interface NllOptions {
  /** Per-class weights [C]. */
  weight?: Tensor | null;
  /** Target value whose positions count neither in the loss nor in the mean (default -100). */
  ignoreIndex?: number;
  /** How to reduce the per-example losses (default 'mean'). */
  reduction?: Reduction;
}

/** Options of crossEntropy: nllLoss's options plus label smoothing. */
export interface CrossEntropyOptions extends NllOptions {
  /** Share of probability spread uniformly over all classes in the target (default 0). */
  labelSmoothing?: number;
}

/**
 * Brings (input [N, C, d...] or [C], target [N, d...] or []) to rows: logp [M, C] and ids [M], with the
 * original per-element shape for reduction 'none'.
 */
function rows(op: string, input: Tensor, target: Tensor): { lp: Tensor; ids: Tensor; shape: number[] } {
  if (target.dtype !== 'int32')
    throw new DTypeError(op, `target must hold int32 class indices, got ${target.dtype} ${fmtShape(target.shape)}`);
  if (input.ndim === 1) {
    if (target.ndim !== 0)
      throw new ShapeError(op, `for input ${fmtShape(input.shape)} the target must be a scalar, got ${fmtShape(target.shape)}`);
    return { lp: reshape(input, [1, input.shape[0]!]), ids: reshape(target, [1]), shape: [] };
  }
  const n = input.shape[0]!;
  const c = input.shape[1]!;
  const rest = input.shape.slice(2);
  if (target.ndim !== input.ndim - 1 || target.shape[0] !== n || rest.some((d, i) => target.shape[i + 1] !== d)) {
    throw new ShapeError(
      op,
      `target ${fmtShape(target.shape)} does not match input ${fmtShape(input.shape)} (expected ${fmtShape([n, ...rest])})`,
    );
  }
  const lp = rest.length ? reshape(movedim(input, 1, -1), [-1, c]) : input;
  return { lp, ids: reshape(target, [target.size]), shape: [...target.shape] };
}

/** Negative log-likelihood of log-probabilities `input` at class indices `target`. */
export function nllLoss(input: Tensor, target: Tensor, opts: NllOptions = {}): Tensor {
  return nllCore('nllLoss', input, target, opts, 0);
}

/** log-softmax over the class axis (1, or 0 for unbatched input) followed by NLL, with label smoothing. */
export function crossEntropy(input: Tensor, target: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  const ls = opts.labelSmoothing ?? 0;
  if (!(ls >= 0 && ls <= 1)) throw new ValueError('crossEntropy', `labelSmoothing must be in [0, 1], got ${ls}`);
  if (input.ndim < 1) throw new ShapeError('crossEntropy', `input must have a class dimension, got ${fmtShape(input.shape)}`);
  return dispatchFused('crossEntropy', {
    backend: input.backend,
    eligible: input.ndim === 2 && !opts.weight && isFloat(input.dtype),
    fused: (kernel) => crossEntropyFused(kernel, input, target, opts, ls),
    reference: () => nllCore('crossEntropy', logSoftmax(input, input.ndim === 1 ? 0 : 1), target, opts, ls),
  });
}

/**
 * Logits [N, C] without class weights, as one kernel and one graph node: the composed path above
 * records log-softmax, gather, masks and reductions; this keeps only each row's logsumexp for backward,
 * where dlogits = (softmax - smoothed one-hot) * the row's upstream gradient.
 */
function crossEntropyFused(
  kernel: FusedKernel<'crossEntropy'>,
  input: Tensor,
  target: Tensor,
  opts: CrossEntropyOptions,
  smoothing: number,
): Tensor {
  const op = 'crossEntropy';
  const reduction = opts.reduction ?? 'mean';
  const ignore = opts.ignoreIndex ?? -100;
  const { ids } = rows(op, input, target);
  const n = input.shape[0]!;
  const c = input.shape[1]!;
  const valid = checkTargets(op, ids, ignore, c, input, target);
  if (reduction !== 'mean' && reduction !== 'sum' && reduction !== 'none') {
    throw new ValueError(op, `reduction must be 'mean', 'sum' or 'none', got '${reduction as string}'`);
  }
  const b = sameDevice(op, input, ids);
  const r = kernel.forward(b, input.view_(), ids.view_(), ignore, smoothing);
  const perRow = wrap(b, r.loss, [n], input.dtype);
  const lse = wrap(b, r.lse, [n], input.dtype);
  const out =
    reduction === 'none'
      ? perRow
      : noGrad(() => {
          const s = perRow.sum();
          perRow.dispose();
          return reduction === 'sum' ? s : s.div(valid);
        });
  if (!needsGrad(input)) {
    lse.dispose();
    return out;
  }
  return record(
    out,
    op,
    [input],
    (g) => {
      // one upstream value per row: g itself for 'none', else a scalar read with stride 0 by the kernel
      const gRow = reduction === 'mean' ? g.div(valid) : g;
      const dx = kernel.backward(b, gRow.view_(), input.view_(), ids.view_(), lse.view_(), ignore, smoothing);
      return [wrap(b, dx, input.shape, input.dtype)];
    },
    [lse, ids],
  );
}

/**
 * Throws IndexError for a target outside [0, c) other than `ignore`; returns how many are not ignored.
 * On a device that cannot be read synchronously (the GPU) the targets are not checked on the host (the
 * kernels give NaN for a bad target, as PyTorch's CUDA asserts on the device) and the count is a
 * 0-d tensor on that device, so nothing waits for the GPU.
 */
function checkTargets(op: string, ids: Tensor, ignore: number, c: number, input: Tensor, target: Tensor): number | Tensor {
  if (!ids.backend.capabilities.syncRead) return noGrad(() => ids.ne(ignore).sum().to(input.dtype));
  const vals = ids.dataSync();
  let valid = 0;
  for (let i = 0; i < vals.length; i++) {
    const v = vals[i]!;
    if (v === ignore) continue;
    if (v < 0 || v >= c) {
      throw new IndexError(
        op,
        `target ${v} is out of bounds for ${c} classes (input ${fmtShape(input.shape)}, target ${fmtShape(target.shape)})`,
      );
    }
    valid++;
  }
  return valid;
}

function nllCore(op: string, input: Tensor, target: Tensor, opts: NllOptions, smoothing: number): Tensor {
  const reduction = opts.reduction ?? 'mean';
  const ignore = opts.ignoreIndex ?? -100;
  const { lp, ids, shape } = rows(op, input, target);
  const c = lp.shape[1]!;
  if (opts.weight && (opts.weight.ndim !== 1 || opts.weight.shape[0] !== c)) {
    throw new ShapeError(op, `weight must have shape [${c}], got ${fmtShape(opts.weight.shape)}`);
  }
  const valid = ids.ne(ignore);
  checkTargets(op, ids, ignore, c, input, target);
  const safeIds = where(valid, ids, 0);
  const picked = reshape(gather(lp, 1, reshape(safeIds, [-1, 1])), [-1]);
  // per-row weight: weight[target] (1 without class weights), 0 on ignored rows
  const w = opts.weight ? where(valid, opts.weight.gather(0, safeIds), 0) : valid.to(lp.dtype);
  let loss = picked.mul(w).neg();
  if (smoothing > 0) {
    const smooth = (opts.weight ? lp.mul(opts.weight) : lp).sum(1).neg().mul(valid.to(lp.dtype));
    if (reduction === 'mean') {
      const denom = w.sum();
      return loss
        .sum()
        .div(denom)
        .mul(1 - smoothing)
        .add(
          smooth
            .sum()
            .div(denom)
            .mul(smoothing / c),
        );
    }
    loss = loss.mul(1 - smoothing).add(smooth.mul(smoothing / c));
  }
  if (reduction === 'mean') return loss.sum().div(w.sum());
  if (reduction === 'sum') return loss.sum();
  if (reduction === 'none') return reshape(loss, shape);
  throw new ValueError(op, `reduction must be 'mean', 'sum' or 'none', got '${reduction as string}'`);
}

/** Options of binaryCrossEntropyWithLogits: element weights, positive-class weights, reduction. */
export interface BceOptions {
  /** Weight of each element's loss, broadcast to the input. */
  weight?: Tensor | null;
  /** Weight of the positive examples per class, to trade recall against precision. */
  posWeight?: Tensor | null;
  /** How to reduce the per-element losses (default 'mean'). */
  reduction?: Reduction;
}

/** Sigmoid + binary cross-entropy in one stable expression: max(x,0) - x*y + log(1 + exp(-|x|)). */
export function binaryCrossEntropyWithLogits(input: Tensor, target: Tensor, opts: BceOptions = {}): Tensor {
  checkSame('binaryCrossEntropyWithLogits', input, target);
  const softplusNeg = input.abs().neg().exp().log1p().add(input.neg().relu()); // log(1 + exp(-x))
  let loss: Tensor;
  if (opts.posWeight) {
    const lw = opts.posWeight.sub(1).mul(target).add(1);
    loss = target.neg().add(1).mul(input).add(lw.mul(softplusNeg));
  } else {
    loss = input.relu().sub(input.mul(target)).add(input.abs().neg().exp().log1p());
  }
  if (opts.weight) loss = loss.mul(opts.weight);
  return reduce('binaryCrossEntropyWithLogits', loss, opts.reduction ?? 'mean');
}

/** Options of klDiv: the reduction and whether the target is in log space. */
export interface KlDivOptions {
  /** How to reduce: PyTorch's 'batchmean' (sum / batch size) is the true KL divergence (default 'mean'). */
  reduction?: Reduction | 'batchmean';
  /** The target holds log-probabilities. */
  logTarget?: boolean;
}

/** KL(target || exp(input)) with `input` as log-probabilities, like torch.nn.functional.kl_div. */
export function klDiv(input: Tensor, target: Tensor, opts: KlDivOptions = {}): Tensor {
  checkSame('klDiv', input, target);
  const reduction = opts.reduction ?? 'mean';
  const pointwise = opts.logTarget
    ? target.exp().mul(target.sub(input))
    : where(target.gt(0), target.mul(where(target.gt(0), target, 1).log().sub(input)), 0); // xlogy: 0 where target == 0
  if (reduction === 'batchmean') return pointwise.sum().div(input.ndim ? input.shape[0]! : 1);
  return reduce('klDiv', pointwise, reduction);
}

/** Options of distillationLoss: temperature, the soft/hard mix and the ignored label. */
export interface DistillationLossOptions {
  /** Softens both distributions: softmax(logits / temperature). Must be > 0. Default 1. */
  temperature?: number;
  /** Weight of the soft (teacher) term in [0, 1]; the hard-label term gets 1 - alpha. Default 0.5. */
  alpha?: number;
  /** Label value whose positions the hard-label term skips (as crossEntropy's); default -100. */
  ignoreIndex?: number;
}

/**
 * Knowledge distillation's loss (Hinton, Vinyals & Dean 2015):
 *
 *   alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) * crossEntropy(student, labels)
 *
 * with the KL term averaged over rows as PyTorch's `kl_div(..., reduction='batchmean')` and the
 * cross-entropy a mean over the labels (ignoreIndex skipped). T^2 keeps the soft term's gradients on
 * the scale of the hard term's as T changes. Logits are [N, C] with labels [N], or [..., C] (the class
 * axis last, e.g. a language model's [B, T, V]) with labels [...], taken as rows [-1, C]. No gradient
 * flows into the teacher's logits.
 */
export function distillationLoss(studentLogits: Tensor, teacherLogits: Tensor, labels: Tensor, opts: DistillationLossOptions = {}): Tensor {
  const op = 'distillationLoss';
  const t = opts.temperature ?? 1;
  const alpha = opts.alpha ?? 0.5;
  if (!(t > 0) || !Number.isFinite(t)) throw new ValueError(op, `temperature must be a finite number > 0, got ${t}`);
  if (!(alpha >= 0 && alpha <= 1)) throw new ValueError(op, `alpha must be in [0, 1], got ${alpha}`);
  if (studentLogits.ndim < 2) {
    throw new ShapeError(op, `student logits must be [N, C] or [..., C], got ${fmtShape(studentLogits.shape)}`);
  }
  if (!sameShape(studentLogits.shape, teacherLogits.shape)) {
    throw new ShapeError(
      op,
      `student logits ${fmtShape(studentLogits.shape)} and teacher logits ${fmtShape(teacherLogits.shape)} must have the same shape`,
    );
  }
  const lead = studentLogits.shape.slice(0, -1);
  if (!sameShape(labels.shape, lead)) {
    throw new ShapeError(
      op,
      `labels ${fmtShape(labels.shape)} do not match logits ${fmtShape(studentLogits.shape)} (expected ${fmtShape(lead)})`,
    );
  }
  const c = studentLogits.shape[studentLogits.ndim - 1]!;
  const s = studentLogits.ndim === 2 ? studentLogits : reshape(studentLogits, [-1, c]);
  const te = (teacherLogits.ndim === 2 ? teacherLogits : reshape(teacherLogits, [-1, c])).detach();
  const y = labels.ndim === 1 ? labels : reshape(labels, [-1]);
  const hard = crossEntropy(s, y, { ignoreIndex: opts.ignoreIndex ?? -100 });
  const soft = klDiv(logSoftmax(s.div(t), 1), logSoftmax(te.div(t), 1), { reduction: 'batchmean', logTarget: true });
  return soft.mul(alpha * t * t).add(hard.mul(1 - alpha));
}
