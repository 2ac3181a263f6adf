// Deterministic transforms, torchvision-style: each factory returns a function from a tensor to a
// tensor, and compose() chains them. Images are [C,H,W] or batches [N,C,H,W] (PyTorch's layout).

import '../ops/tensor-methods.js';
import { IndexError, ShapeError, ValueError, fmtShape } from '../errors.js';
import { Tensor } from '../tensor/tensor.js';
import { tensor } from '../tensor/create.js';
import { permute, reshape } from '../ops/view.js';
import { div, sub } from '../ops/binary.js';

/** A function from one example (or batch) to another, as torchvision's transforms. */
export type Transform<I = Tensor, O = Tensor> = (x: I) => O;

/** Applies the transforms left to right. */
export function compose<T>(...fns: Transform<T, T>[]): Transform<T, T>;
// biome-ignore lint/suspicious/noExplicitAny: the overload for a chain whose types change at each step
export function compose(...fns: Transform<any, any>[]): Transform<any, any>;
export function compose(...fns: Transform<unknown, unknown>[]): Transform<unknown, unknown> {
  for (const f of fns) if (typeof f !== 'function') throw new ValueError('compose', 'every transform must be a function');
  return (x) => fns.reduce((acc, f) => f(acc), x);
}

/** Options of normalize: the channel axis. */
export interface NormalizeOptions {
  /** The axis the per-channel values run along; default the channel axis of [C,H,W] / [N,C,H,W] (ndim-3), else the last. */
  axis?: number;
}

/** (x - mean) / std, with one value or one per channel. */
export function normalize(mean: number | readonly number[], std: number | readonly number[], opts: NormalizeOptions = {}): Transform {
  const means = typeof mean === 'number' ? [mean] : [...mean];
  const stds = typeof std === 'number' ? [std] : [...std];
  if (means.length === 0 || stds.length === 0) throw new ValueError('normalize', 'mean and std must not be empty');
  if (stds.some((s) => s === 0 || !Number.isFinite(s)))
    throw new ValueError('normalize', `std must be finite and non-zero, got [${stds.join(', ')}]`);
  const c = Math.max(means.length, stds.length);
  if ((means.length !== 1 && means.length !== c) || (stds.length !== 1 && stds.length !== c)) {
    throw new ValueError('normalize', `mean has ${means.length} values and std ${stds.length}: they must agree (or be single values)`);
  }
  return (x: Tensor): Tensor => {
    if (c === 1) return div(sub(x, means[0]!), stds[0]!);
    const n = x.ndim;
    let axis = opts.axis ?? (n >= 3 ? n - 3 : n - 1);
    if (axis < 0) axis += n;
    if (!(axis >= 0 && axis < n)) throw new IndexError('normalize', `axis ${opts.axis} is out of range for ${fmtShape(x.shape)}`);
    if (x.shape[axis] !== c) {
      throw new ShapeError('normalize', `${c} channel values but dimension ${axis} of ${fmtShape(x.shape)} has size ${x.shape[axis]}`);
    }
    const shape = [c, ...new Array<number>(n - axis - 1).fill(1)];
    const fill = (v: number[]): Tensor =>
      reshape(tensor(Float32Array.from(v.length === 1 ? new Array<number>(c).fill(v[0]!) : v), { device: x.device }), shape);
    return div(sub(x, fill(means)), fill(stds));
  };
}

/** Integer labels [...] -> float32 one-hot [..., numClasses] (Keras's to_categorical). */
export function toOneHot(labels: Tensor | readonly number[] | number, numClasses: number): Tensor {
  if (!Number.isInteger(numClasses) || numClasses < 1)
    throw new ValueError('oneHot', `numClasses must be a positive integer, got ${numClasses}`);
  const t = labels instanceof Tensor ? labels : null;
  const values = t ? t.dataSync() : typeof labels === 'number' ? [labels] : (labels as readonly number[]);
  const shape = t ? [...t.shape] : typeof labels === 'number' ? [] : [values.length];
  const out = new Float32Array(values.length * numClasses);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isInteger(v) || v < 0 || v >= numClasses) {
      throw new IndexError('oneHot', `label ${v} at position ${i} is not a class index in [0, ${numClasses})`);
    }
    out[i * numClasses + v] = 1;
  }
  return tensor(out, { shape: [...shape, numClasses], device: t?.device });
}

/** A transform from integer labels to one-hot rows; see toOneHot. */
export function oneHot(numClasses: number): Transform<Tensor | readonly number[] | number, Tensor> {
  if (!Number.isInteger(numClasses) || numClasses < 1)
    throw new ValueError('oneHot', `numClasses must be a positive integer, got ${numClasses}`);
  return (labels) => toOneHot(labels, numClasses);
}

/** Pixels as they come from a decoder or a canvas: row-major height x width x channels bytes. */
export interface RawImage {
  /** The bytes, row-major height x width x channels. */
  data: Uint8Array | Uint8ClampedArray | readonly number[];
  /** Height in pixels. */
  height: number;
  /** Width in pixels. */
  width: number;
  /** Defaults to data.length / (height * width); a canvas ImageData has 4 (RGBA). */
  channels?: number;
}

/** Options of toTensor: whether to divide by 255. */
export interface ToTensorOptions {
  /** Divide by 255 (default true), as torchvision's ToTensor does for uint8 images. */
  scale?: boolean;
}

/**
 * HWC images to CHW float32 tensors: a RawImage, a tensor [H,W,C] or a batch [N,H,W,C] becomes
 * [C,H,W] / [N,C,H,W] with values divided by 255. A tensor [H,W] becomes [1,H,W].
 */
export function toTensor(opts: ToTensorOptions = {}): Transform<Tensor | RawImage, Tensor> {
  const k = opts.scale === false ? 1 : 255;
  return (img) => {
    if (img instanceof Tensor) {
      if (img.ndim === 2) return reshape(img.float().div(k), [1, ...img.shape]);
      if (img.ndim === 3) return permute(img.float(), [2, 0, 1]).div(k).contiguous();
      if (img.ndim === 4) return permute(img.float(), [0, 3, 1, 2]).div(k).contiguous();
      throw new ShapeError('toTensor', `expected an image [H,W], [H,W,C] or a batch [N,H,W,C], got ${fmtShape(img.shape)}`);
    }
    const { data, height: h, width: w } = img;
    if (!data || !(Number.isInteger(h) && h > 0 && Number.isInteger(w) && w > 0)) {
      throw new ValueError('toTensor', 'expected a tensor or an image { data, height, width }');
    }
    const c = img.channels ?? data.length / (h * w);
    if (!Number.isInteger(c) || c < 1 || data.length !== h * w * c) {
      throw new ShapeError('toTensor', `image data has ${data.length} values, which is not ${h} x ${w} x ${img.channels ?? 'channels'}`);
    }
    const out = new Float32Array(c * h * w);
    const plane = h * w;
    for (let p = 0; p < plane; p++) for (let ch = 0; ch < c; ch++) out[ch * plane + p] = data[p * c + ch]! / k;
    return tensor(out, { shape: [c, h, w] });
  };
}
