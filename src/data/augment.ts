// Seeded augmentation of images [C,H,W] or batches [N,C,H,W]: each image of a batch gets its own
// random draw. Every factory takes a Generator (default: the global one, so mox.seed() fixes them),
// and equal generator states give equal outputs. The pixels are moved with plain loops over typed
// arrays on the host: at CIFAR sizes a batch of 128 takes well under a millisecond per transform.

import '../ops/tensor-methods.js';
import { ShapeError, ValueError, fmtShape } from '../errors.js';
import { isFloat, typedArrayFor, type TypedArray } from '../base/dtype.js';
import { type Generator, globalGenerator } from '../tensor/random.js';
import { Tensor } from '../tensor/tensor.js';
import { tensor } from '../tensor/create.js';
import type { Transform } from './transforms.js';

/** Options every random augmentation takes: where its randomness comes from. */
export interface AugmentOptions {
  /** Where the randomness comes from; default the global generator. */
  generator?: Generator;
}

interface Images {
  src: TypedArray;
  n: number;
  c: number;
  h: number;
  w: number;
}

function images(op: string, x: Tensor): Images {
  if (!(x instanceof Tensor)) throw new ValueError(op, 'expected an image tensor [C,H,W] or a batch [N,C,H,W]');
  if (x.ndim !== 3 && x.ndim !== 4) throw new ShapeError(op, `expected an image [C,H,W] or a batch [N,C,H,W], got ${fmtShape(x.shape)}`);
  const [n, c, h, w] = x.ndim === 4 ? x.shape : [1, ...x.shape];
  return { src: x.dataSync(), n: n!, c: c!, h: h!, w: w! };
}

/** A new tensor of x's shape over `data`, on x's device. */
function like(x: Tensor, data: TypedArray): Tensor {
  return tensor(data, { shape: x.shape, device: x.device });
}

function outArray(x: Tensor, size: number): TypedArray {
  return typedArrayFor(x.dtype, size);
}

/**
 * Pads each image by `padding` (a number, or [left, top, right, bottom]) with `fill`, then cuts a
 * random size x size window (torchvision's RandomCrop; with padding 4 and size 32, the CIFAR recipe).
 */
export function randomCrop(
  size: number | readonly [number, number],
  opts: AugmentOptions & { padding?: number | readonly [number, number, number, number]; fill?: number } = {},
): Transform {
  const [th, tw] = typeof size === 'number' ? [size, size] : size;
  if (!(Number.isInteger(th) && th > 0 && Number.isInteger(tw) && tw > 0))
    throw new ValueError('randomCrop', `size must be positive integers, got ${String(size)}`);
  const p = opts.padding ?? 0;
  const [pl, pt, pr, pb] = typeof p === 'number' ? [p, p, p, p] : p;
  if (![pl, pt, pr, pb].every((v) => Number.isInteger(v) && v! >= 0))
    throw new ValueError('randomCrop', `padding must be non-negative integers, got ${String(p)}`);
  const fill = opts.fill ?? 0;
  const g = opts.generator ?? globalGenerator;
  return (x) => {
    const { src, n, c, h, w } = images('randomCrop', x);
    const ph = h + pt! + pb!;
    const pw = w + pl! + pr!;
    if (th > ph || tw > pw)
      throw new ShapeError(
        'randomCrop',
        `crop ${th}x${tw} is larger than the padded image ${ph}x${pw} (${fmtShape(x.shape)}, padding ${String(p)})`,
      );
    const out = outArray(x, n * c * th * tw);
    for (let b = 0; b < n; b++) {
      const top = g.int(0, ph - th + 1) - pt!;
      const left = g.int(0, pw - tw + 1) - pl!;
      for (let ch = 0; ch < c; ch++) {
        const si = (b * c + ch) * h * w;
        const oi = (b * c + ch) * th * tw;
        for (let y = 0; y < th; y++) {
          const sy = y + top;
          const row = oi + y * tw;
          if (sy < 0 || sy >= h) {
            out.fill(fill, row, row + tw);
            continue;
          }
          for (let xx = 0; xx < tw; xx++) {
            const sx = xx + left;
            out[row + xx] = sx >= 0 && sx < w ? src[si + sy * w + sx]! : fill;
          }
        }
      }
    }
    const shape = x.ndim === 4 ? [n, c, th, tw] : [c, th, tw];
    return tensor(out, { shape, device: x.device });
  };
}

function randomFlip(op: string, axis: 'h' | 'v', prob: number, opts: AugmentOptions): Transform {
  if (!(prob >= 0 && prob <= 1)) throw new ValueError(op, `p must be in [0, 1], got ${prob}`);
  const g = opts.generator ?? globalGenerator;
  return (x) => {
    const { src, n, c, h, w } = images(op, x);
    const out = outArray(x, src.length);
    const per = c * h * w;
    for (let b = 0; b < n; b++) {
      const flip = g.random() < prob;
      const base = b * per;
      if (!flip) {
        out.set(src.subarray(base, base + per), base);
        continue;
      }
      for (let ch = 0; ch < c; ch++) {
        const pi = base + ch * h * w;
        for (let y = 0; y < h; y++) {
          const sy = axis === 'v' ? h - 1 - y : y;
          for (let xx = 0; xx < w; xx++) out[pi + y * w + xx] = src[pi + sy * w + (axis === 'h' ? w - 1 - xx : xx)]!;
        }
      }
    }
    return like(x, out);
  };
}

/** Mirrors each image left-right with probability p. */
export function randomHorizontalFlip(p = 0.5, opts: AugmentOptions = {}): Transform {
  return randomFlip('randomHorizontalFlip', 'h', p, opts);
}

/** Mirrors each image top-bottom with probability p. */
export function randomVerticalFlip(p = 0.5, opts: AugmentOptions = {}): Transform {
  return randomFlip('randomVerticalFlip', 'v', p, opts);
}

/** Options of randomAffine: rotation, shift, scale and shear ranges, plus fill and generator. */
export interface AffineOptions extends AugmentOptions {
  /** Rotation in degrees, counter-clockwise: d draws from [-d, d], [a, b] from [a, b]. Default 0. */
  degrees?: number | readonly [number, number];
  /** Largest shift as fractions of the width and height: [fx, fy]. Default none. */
  translate?: readonly [number, number];
  /** Zoom factor drawn from [min, max] (> 1 enlarges the content). Default 1. */
  scale?: readonly [number, number];
  /** How source pixels are sampled (default 'bilinear'). */
  interpolation?: 'bilinear' | 'nearest';
  /** The value of pixels that come from outside the image (default 0). */
  fill?: number;
}

function range(
  op: string,
  name: string,
  v: number | readonly [number, number] | undefined,
  dflt: [number, number],
  symmetric: boolean,
): [number, number] {
  if (v === undefined) return dflt;
  const r: [number, number] = typeof v === 'number' ? (symmetric ? [-Math.abs(v), Math.abs(v)] : [v, v]) : [v[0], v[1]];
  if (!(Number.isFinite(r[0]) && Number.isFinite(r[1]) && r[0] <= r[1]))
    throw new ValueError(op, `${name} must be a number or a range [min, max] with min <= max, got ${String(v)}`);
  return r;
}

/**
 * A random rotation about the centre, shift and zoom per image (torchvision's RandomAffine without
 * shear); the output keeps the input's size. Each output pixel samples the input at the inverse
 * transform of its position.
 */
export function randomAffine(opts: AffineOptions = {}, op = 'randomAffine'): Transform {
  const deg = range(op, 'degrees', opts.degrees, [0, 0], true);
  const scale = range(op, 'scale', opts.scale, [1, 1], false);
  if (!(scale[0] > 0)) throw new ValueError(op, `scale must be positive, got [${scale.join(', ')}]`);
  const [fx, fy] = opts.translate ?? [0, 0];
  if (!(fx >= 0 && fx <= 1 && fy >= 0 && fy <= 1)) throw new ValueError(op, `translate fractions must be in [0, 1], got [${fx}, ${fy}]`);
  const nearest = (opts.interpolation ?? 'bilinear') === 'nearest';
  if (opts.interpolation !== undefined && opts.interpolation !== 'nearest' && opts.interpolation !== 'bilinear') {
    throw new ValueError(op, `interpolation must be 'bilinear' or 'nearest', got '${String(opts.interpolation)}'`);
  }
  const fill = opts.fill ?? 0;
  const g = opts.generator ?? globalGenerator;
  const uniform = (lo: number, hi: number): number => (lo === hi ? lo : lo + (hi - lo) * g.random());
  return (x) => {
    const { src, n, c, h, w } = images(op, x);
    const out = outArray(x, src.length);
    const round = !isFloat(x.dtype);
    const cx = (w - 1) / 2;
    const cy = (h - 1) / 2;
    const plane = h * w;
    for (let b = 0; b < n; b++) {
      const angle = (uniform(deg[0], deg[1]) * Math.PI) / 180;
      const tx = Math.round(uniform(-fx * w, fx * w));
      const ty = Math.round(uniform(-fy * h, fy * h));
      const s = uniform(scale[0], scale[1]);
      const cos = Math.cos(angle) / s;
      const sin = Math.sin(angle) / s;
      for (let y = 0; y < h; y++) {
        const dy = y - cy - ty;
        for (let xx = 0; xx < w; xx++) {
          const dx = xx - cx - tx;
          const sx = cx + dx * cos - dy * sin;
          const sy = cy + dx * sin + dy * cos;
          const o = b * c * plane + y * w + xx;
          if (nearest) {
            const ix = Math.round(sx);
            const iy = Math.round(sy);
            const inside = ix >= 0 && ix < w && iy >= 0 && iy < h;
            for (let ch = 0; ch < c; ch++) out[o + ch * plane] = inside ? src[b * c * plane + ch * plane + iy * w + ix]! : fill;
            continue;
          }
          const x0 = Math.floor(sx);
          const y0 = Math.floor(sy);
          const ax = sx - x0;
          const ay = sy - y0;
          const in00 = x0 >= 0 && x0 < w && y0 >= 0 && y0 < h;
          const in10 = x0 + 1 >= 0 && x0 + 1 < w && y0 >= 0 && y0 < h;
          const in01 = x0 >= 0 && x0 < w && y0 + 1 >= 0 && y0 + 1 < h;
          const in11 = x0 + 1 >= 0 && x0 + 1 < w && y0 + 1 >= 0 && y0 + 1 < h;
          if (!in00 && !in10 && !in01 && !in11) {
            for (let ch = 0; ch < c; ch++) out[o + ch * plane] = fill;
            continue;
          }
          for (let ch = 0; ch < c; ch++) {
            const pi = b * c * plane + ch * plane;
            const v00 = in00 ? src[pi + y0 * w + x0]! : fill;
            const v10 = in10 ? src[pi + y0 * w + x0 + 1]! : fill;
            const v01 = in01 ? src[pi + (y0 + 1) * w + x0]! : fill;
            const v11 = in11 ? src[pi + (y0 + 1) * w + x0 + 1]! : fill;
            const v = (1 - ay) * ((1 - ax) * v00 + ax * v10) + ay * ((1 - ax) * v01 + ax * v11);
            out[o + ch * plane] = round ? Math.round(v) : v;
          }
        }
      }
    }
    return like(x, out);
  };
}

/** Rotates each image by an angle drawn from [-degrees, degrees] (or [a, b]), counter-clockwise; corners get `fill`. */
export function randomRotation(
  degrees: number | readonly [number, number],
  opts: Omit<AffineOptions, 'degrees' | 'scale' | 'translate'> = {},
): Transform {
  return randomAffine({ ...opts, degrees }, 'randomRotation');
}

/** Zooms each image about its centre by a factor drawn from [min, max]; the size stays the same. */
export function randomScale(
  scale: readonly [number, number],
  opts: Omit<AffineOptions, 'degrees' | 'scale' | 'translate'> = {},
): Transform {
  return randomAffine({ ...opts, scale }, 'randomScale');
}
