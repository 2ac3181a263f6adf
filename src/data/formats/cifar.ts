// The CIFAR-10 binary format (https://www.cs.toronto.edu/~kriz/cifar.html): records of one label
// byte (0-9) and 3072 pixel bytes, the 1024 red values of a 32x32 image, then green, then blue, so a
// record's pixels are already [3, 32, 32] in PyTorch's channel-first order.

import '../../ops/tensor-methods.js';
import { DataError } from '../../errors.js';
import type { Tensor } from '../../tensor/tensor.js';
import { tensor } from '../../tensor/create.js';
import { readBytes } from './file.js';
import { pixelsToFloat } from './idx.js';

/** Bytes of one CIFAR-10 record: a label byte and 32x32x3 pixels. */
export const CIFAR10_RECORD_BYTES = 3073;
/** CIFAR-10's class names, by label. */
export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'] as const;

/**
 * CIFAR-10 records split apart: the pixels of every image and their class labels.
 * @inline
 */
export interface CifarRecords {
  /** Pixels of every record, [N, 3, 32, 32] row-major. */
  pixels: Uint8Array;
  /** Class label of every record [N]. */
  labels: Int32Array;
}

/** Splits CIFAR-10 binary bytes into pixels and labels; `name` (the file) goes into every error. */
export function parseCifar10(bytes: Uint8Array, name = 'CIFAR-10 data'): CifarRecords {
  const R = CIFAR10_RECORD_BYTES;
  if (bytes.length === 0) throw new DataError('cifar10', `${name}: the file is empty`);
  if (bytes.length % R !== 0) {
    throw new DataError(
      'cifar10',
      `${name}: ${bytes.length} bytes is not a whole number of ${R}-byte records (1 label + 3072 pixels): ${Math.floor(bytes.length / R)} records and ${bytes.length % R} byte${bytes.length % R === 1 ? '' : 's'} over`,
    );
  }
  const n = bytes.length / R;
  const pixels = new Uint8Array(n * 3072);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const label = bytes[i * R]!;
    if (label > 9)
      throw new DataError('cifar10', `${name}: record ${i} has label ${label}, expected 0-9 (is this CIFAR-100 or not a CIFAR-10 file?)`);
    labels[i] = label;
    pixels.set(bytes.subarray(i * R + 1, (i + 1) * R), i * 3072);
  }
  return { pixels, labels };
}

/** Options of readCifar10: scaling and a record limit. */
export interface Cifar10Options {
  /** 'float' (default): float32 in [0, 1]; 'raw': float32 pixel values 0..255. */
  scale?: 'float' | 'raw';
  /** Keep only the first `limit` records (over all files, in order). */
  limit?: number;
}

/** Reads one or more CIFAR-10 binary files (gzip or raw) into images [N, 3, 32, 32] float32 and labels [N] int32. */
export function readCifar10(
  paths: string | readonly string[],
  opts: Cifar10Options = {},
): {
  /** Images [N, 3, 32, 32] float32. */
  images: Tensor;
  /** Labels [N] int32. */
  labels: Tensor;
} {
  const list = typeof paths === 'string' ? [paths] : [...paths];
  if (list.length === 0) throw new DataError('cifar10', 'no files given');
  const limit = opts.limit ?? Infinity;
  if (!(limit >= 0)) throw new DataError('cifar10', `limit must be a non-negative integer, got ${opts.limit}`);
  const parts: CifarRecords[] = [];
  let total = 0;
  for (const p of list) {
    if (total >= limit) break;
    const recs = parseCifar10(readBytes('cifar10', p), p);
    const keep = Math.min(recs.labels.length, limit - total);
    parts.push(
      keep === recs.labels.length ? recs : { pixels: recs.pixels.subarray(0, keep * 3072), labels: recs.labels.subarray(0, keep) },
    );
    total += keep;
  }
  const pixels = new Uint8Array(total * 3072);
  const labels = new Int32Array(total);
  let at = 0;
  for (const part of parts) {
    pixels.set(part.pixels, at * 3072);
    labels.set(part.labels, at);
    at += part.labels.length;
  }
  return {
    images: tensor(pixelsToFloat(pixels, opts.scale), { shape: [total, 3, 32, 32] }),
    labels: tensor(labels, { shape: [total] }),
  };
}
