// The IDX format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/): a 4-byte magic
// number (two zero bytes, an element type code, the number of dimensions), one big-endian uint32
// per dimension, then the elements, row-major and big-endian. Labels are 0x00000801 (uint8, 1-D),
// images 0x00000803 (uint8, 3-D). Files may be gzip-compressed; the sizes are checked exactly.

import '../../ops/tensor-methods.js';
import { DataError } from '../../errors.js';
import { numel } from '../../base/shape.js';
import type { Tensor } from '../../tensor/tensor.js';
import { tensor } from '../../tensor/create.js';
import { readBytes } from './file.js';

/** Element type of an IDX file (MNIST's format). */
export type IdxDType = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';
/**
 * The typed array an IDX file decodes to, by its element type.
 * @inline
 */
export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

/** An IDX file decoded: element type, shape and the values. */
export interface IdxArray {
  /** Element type. */
  dtype: IdxDType;
  /** Size of each dim. */
  shape: number[];
  /** The values, row-major. */
  data: IdxData;
}

const TYPES: Record<number, [IdxDType, number]> = {
  8: ['uint8', 1],
  9: ['int8', 1],
  11: ['int16', 2],
  12: ['int32', 4],
  13: ['float32', 4],
  14: ['float64', 8],
};

const hex = (v: number): string => `0x${(v >>> 0).toString(16).padStart(8, '0')}`;

/** The magic number of IDX bytes (0 when there are fewer than 4). */
export function idxMagic(bytes: Uint8Array): number {
  return bytes.length < 4 ? 0 : new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, false);
}

/** Options of readIdx: how many entries to read. */
export interface IdxOptions {
  /** Read only the first `limit` entries along the first dimension. */
  limit?: number;
}

/** Parses IDX bytes (already inflated); `name` (the file) goes into every error message. */
export function parseIdx(bytes: Uint8Array, name = 'IDX data', opts: IdxOptions = {}): IdxArray {
  const fail = (msg: string): never => {
    throw new DataError('idx', `${name}: ${msg}`);
  };
  if (bytes.length < 4) fail(`${bytes.length} bytes is too short for an IDX header`);
  const magic = idxMagic(bytes);
  if (bytes[0] !== 0 || bytes[1] !== 0) fail(`not an IDX file (magic ${hex(magic)} should start with two zero bytes)`);
  const type = TYPES[bytes[2]!];
  if (!type) fail(`unknown IDX element type 0x${bytes[2]!.toString(16).padStart(2, '0')} (magic ${hex(magic)})`);
  const [dtype, size] = type!;
  const ndim = bytes[3]!;
  if (ndim === 0) fail(`the header declares 0 dimensions (magic ${hex(magic)})`);
  const headerBytes = 4 + 4 * ndim;
  if (bytes.length < headerBytes) fail(`truncated header: ${ndim} dimensions need ${headerBytes} bytes, the file has ${bytes.length}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape: number[] = [];
  for (let d = 0; d < ndim; d++) shape.push(view.getUint32(4 + 4 * d, false));
  const count = numel(shape);
  const dataBytes = count * size;
  const have = bytes.length - headerBytes;
  const desc = `${shape.join('x')} ${dtype}`;
  if (have < dataBytes)
    fail(
      `truncated: the header declares ${desc} (${dataBytes} bytes of data) but only ${have} bytes follow the ${headerBytes}-byte header`,
    );
  if (have > dataBytes) fail(`${have - dataBytes} unexpected bytes after the ${dataBytes} bytes of data the header declares (${desc})`);

  let rows = shape[0]!;
  if (opts.limit !== undefined) {
    if (!Number.isInteger(opts.limit) || opts.limit < 0)
      throw new DataError('idx', `${name}: limit must be a non-negative integer, got ${opts.limit}`);
    rows = Math.min(rows, opts.limit);
  }
  const outShape = [rows, ...shape.slice(1)];
  const n = numel(outShape);
  let data: IdxData;
  if (dtype === 'uint8') data = bytes.slice(headerBytes, headerBytes + n);
  else if (dtype === 'int8') data = new Int8Array(bytes.slice(headerBytes, headerBytes + n).buffer);
  else {
    const Ctor = { int16: Int16Array, int32: Int32Array, float32: Float32Array, float64: Float64Array }[dtype];
    const out = new Ctor(n);
    const get = {
      int16: (o: number) => view.getInt16(o, false),
      int32: (o: number) => view.getInt32(o, false),
      float32: (o: number) => view.getFloat32(o, false),
      float64: (o: number) => view.getFloat64(o, false),
    }[dtype];
    for (let i = 0; i < n; i++) out[i] = get(headerBytes + i * size);
    data = out;
  }
  return { dtype, shape: outShape, data };
}

/** Reads an IDX file, gzip or raw. */
export function readIdx(path: string, opts: IdxOptions = {}): IdxArray {
  return parseIdx(readBytes('idx', path), path, opts);
}

/** Options of readMnistImages: a limit and the pixel scaling. */
export interface MnistImageOptions extends IdxOptions {
  /** 'float' (default): float32 in [0, 1]; 'raw': float32 pixel values 0..255. */
  scale?: 'float' | 'raw';
}

/** uint8 pixels to float32, divided by 255 unless raw. */
export function pixelsToFloat(pixels: Uint8Array, scale: 'float' | 'raw' = 'float'): Float32Array {
  const out = new Float32Array(pixels.length);
  const k = scale === 'raw' ? 1 : 255;
  for (let i = 0; i < pixels.length; i++) out[i] = pixels[i]! / k;
  return out;
}

function expectMagic(arr: IdxArray, bytes: Uint8Array, path: string, magic: number, what: string): void {
  const got = idxMagic(bytes);
  if (got !== magic)
    throw new DataError(
      'idx',
      `${path}: expected an IDX ${what} file (magic ${hex(magic)}), got magic ${hex(got)} (${arr.shape.join('x')} ${arr.dtype})`,
    );
}

/** An IDX image file (magic 0x00000803) as a float32 tensor [N, 1, H, W]. */
export function readMnistImages(path: string, opts: MnistImageOptions = {}): Tensor {
  const bytes = readBytes('idx', path);
  const arr = parseIdx(bytes, path, opts);
  expectMagic(arr, bytes, path, 0x00000803, 'image');
  const [n, h, w] = arr.shape as [number, number, number];
  return tensor(pixelsToFloat(arr.data as Uint8Array, opts.scale), { shape: [n, 1, h, w] });
}

/** An IDX label file (magic 0x00000801) as an int32 tensor [N]. */
export function readMnistLabels(path: string, opts: IdxOptions = {}): Tensor {
  const bytes = readBytes('idx', path);
  const arr = parseIdx(bytes, path, opts);
  expectMagic(arr, bytes, path, 0x00000801, 'label');
  return tensor(Int32Array.from(arr.data as Uint8Array), { shape: arr.shape });
}
