// The layout of quantized weights, and the host-side arithmetic every device's kernels must reproduce.
//
// A quantized weight [N, K] (a Linear's [out, in], an Embedding's [num, dim]) is N rows of rowBytes
// bytes each, held in an int32 tensor [N, rowBytes / 4] (GPU buffers and the WASM heap are word
// arrays; GPTQ packs its int4 weights in int32 words too), plus float32 scales [N, groups]:
//
// - int8, dynamic-int8: one signed byte per weight, symmetric per output channel (row): scale =
//   max|w| / 127, q = round(w / scale) in [-127, 127]. Rows padded with zeros to a multiple of 16
//   bytes. groups = 1. dynamic-int8 also keeps each row's sum of q (rowSums), for the zero point of
//   the activations.
// - int4: llama.cpp's Q4_0. Groups of 32 weights along the row, each with its own scale d = m / -8
//   where m is the group's value of largest magnitude (rounded to float16, as the file stores it), and
//   q = min(15, trunc(w / d + 8.5)) in [0, 15], so w ~ d * (q - 8). A group is 16 bytes: byte j holds
//   weight j in its low nibble and weight j + 16 in its high nibble. Rows padded to whole groups.
//
// What the kernels compute, for x [M, K] float32 (round = to nearest, ties to even, in float32):
// - int8: out[m, n] = scale[n] * sum_k x[m, k] q[n, k] (+ bias): weights only, x stays float.
// - dynamic-int8 (torch.ao.quantization.quantize_dynamic, fbgemm's reduce_range): each row of x is
//   quantized at run time to 7 unsigned bits: lo = min(0, min x), hi = max(0, max x), s = (hi - lo) /
//   127 (1 where that is 0), z = clamp(round(-lo / s), 0, 127), xq = clamp(round(x * (1/s)) + z, 0,
//   127); out = s * scale[n] * (sum_k q xq - z * rowSum[n]). Seven bits because the integer dot
//   products of x86 (pmaddubsw, VNNI) and of WebAssembly's relaxed SIMD take one operand unsigned
//   7-bit; the result is then the same on every engine.
// - int4: as llama.cpp dots Q4_0 with Q8_0, each block of 32 values of x is quantized to int8:
//   dx = max|x| / 127, xq = round(x * (1/dx)); out = sum_blocks dx * d[n, b] * (sum xq q - 8 sum xq).
// The integer sums are exact, so kernels differ from the reference only in the float rounding.

import { ValueError } from '../errors.js';
import type { View } from './backend.js';
import { float32ToHalfBits, halfBitsToNumber } from '../base/float16.js';

/** How weights are quantized: int8 per row, int4 in groups of 32 (llama.cpp's Q4_0), or int8 with int8 activations. */
export type QuantScheme = 'int8' | 'int4' | 'dynamic-int8';
/** Every quantization scheme. */
export const QUANT_SCHEMES: readonly QuantScheme[] = ['int8', 'int4', 'dynamic-int8'];

/** Weights per int4 group (and per block of quantized activations). */
export const INT4_GROUP = 32;

/** How a quantized weight is laid out: scheme, rows, columns, padded row bytes and scale groups. */
export interface QuantLayout {
  /** The quantization scheme. */
  readonly scheme: QuantScheme;
  /** Rows (a Linear's out features, an Embedding's entries). */
  readonly rows: number;
  /** Values per row (a Linear's in features, an Embedding's dimension). */
  readonly cols: number;
  /** Bytes per stored row, padded: a multiple of 16. */
  readonly rowBytes: number;
  /** Scales per row: 1 (int8, dynamic-int8) or the number of int4 groups. */
  readonly groups: number;
}

/**
 * A quantized weight on a device, as kernels receive it: data int32 [rows, rowBytes / 4] (the packed
 * bytes), scales float32 [rows, groups], rowSums int32 [rows] (dynamic-int8; null otherwise), all
 * contiguous.
 * @inline
 */
export interface QuantWeightViews {
  /** How the weight is packed. */
  readonly layout: QuantLayout;
  /** Packed bytes as int32 words [rows, rowBytes / 4]. */
  readonly data: View;
  /** Scale of each group of each row, float32 [rows, groups]. */
  readonly scales: View;
  /** Each row's sum of its int8 values, int32 [rows] (dynamic-int8; null otherwise). */
  readonly rowSums: View | null;
}

/** A weight quantized on the host: packed rows, scales, and (dynamic-int8) the rows' sums of q. */
export interface PackedWeight {
  /** How the weight is packed. */
  readonly layout: QuantLayout;
  /** rows * rowBytes bytes. */
  readonly bytes: Uint8Array;
  /** rows * groups scales. */
  readonly scales: Float32Array;
  /** dynamic-int8: each row's sum of its int8 values; null otherwise. */
  readonly rowSums: Int32Array | null;
}

const roundUp = (n: number, m: number): number => Math.ceil(n / m) * m;

export function isQuantScheme(s: unknown): s is QuantScheme {
  return typeof s === 'string' && (QUANT_SCHEMES as readonly string[]).includes(s);
}

/** The layout of a weight [rows, cols] under a scheme (padded row bytes, number of groups). */
export function quantLayout(scheme: QuantScheme, rows: number, cols: number): QuantLayout {
  if (!isQuantScheme(scheme)) throw new ValueError('quantize', `unknown scheme '${String(scheme)}' (expected ${QUANT_SCHEMES.join(', ')})`);
  if (!Number.isInteger(rows) || rows < 1 || !Number.isInteger(cols) || cols < 1)
    throw new ValueError('quantize', `a quantized weight needs positive integer rows and columns, got [${rows}, ${cols}]`);
  if (scheme === 'int4') {
    const groups = Math.ceil(cols / INT4_GROUP);
    return { scheme, rows, cols, rowBytes: groups * (INT4_GROUP / 2), groups };
  }
  return { scheme, rows, cols, rowBytes: roundUp(cols, 16), groups: 1 };
}

/** Round to nearest, ties to even (WebAssembly's f32.nearest, WGSL's round). */
export function roundEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

const f32 = Math.fround;

/** float32 -> the nearest float16, back as a number (what a float16 scale in the file holds). */
export function toHalfPrecision(v: number): number {
  return halfBitsToNumber(float32ToHalfBits(v));
}

/** Quantizes a float32 weight [rows, cols] (row-major) by the scheme's rule (see the file's head). */
export function quantizeWeight(scheme: QuantScheme, w: Float32Array, rows: number, cols: number): PackedWeight {
  const layout = quantLayout(scheme, rows, cols);
  if (w.length !== rows * cols)
    throw new ValueError('quantize', `a [${rows}, ${cols}] weight needs ${rows * cols} values, got ${w.length}`);
  for (let i = 0; i < w.length; i++) {
    if (!Number.isFinite(w[i]!)) {
      throw new ValueError('quantize', `the weight has a non-finite value (${w[i]}) at row ${Math.floor(i / cols)}, column ${i % cols}`);
    }
  }
  const bytes = new Uint8Array(rows * layout.rowBytes);
  const scales = new Float32Array(rows * layout.groups);
  if (scheme === 'int4') {
    for (let r = 0; r < rows; r++) {
      for (let g = 0; g < layout.groups; g++) {
        const k0 = g * INT4_GROUP;
        const k1 = Math.min(cols, k0 + INT4_GROUP);
        let m = 0;
        for (let k = k0; k < k1; k++) {
          const v = w[r * cols + k]!;
          if (Math.abs(v) > Math.abs(m)) m = v;
        }
        const d = f32(m / -8);
        const id = d !== 0 ? f32(1 / d) : 0;
        scales[r * layout.groups + g] = toHalfPrecision(d);
        const base = r * layout.rowBytes + g * (INT4_GROUP / 2);
        for (let j = 0; j < INT4_GROUP; j++) {
          const k = k0 + j;
          const v = k < k1 ? w[r * cols + k]! : 0;
          const q = Math.min(15, Math.trunc(f32(f32(v * id) + 8.5)));
          const at = base + (j & 15);
          bytes[at] = j < 16 ? (bytes[at]! & 0xf0) | q : (bytes[at]! & 0x0f) | (q << 4);
        }
      }
    }
    return { layout, bytes, scales, rowSums: null };
  }
  const signed = new Int8Array(bytes.buffer);
  const rowSums = scheme === 'dynamic-int8' ? new Int32Array(rows) : null;
  for (let r = 0; r < rows; r++) {
    let amax = 0;
    for (let k = 0; k < cols; k++) amax = Math.max(amax, Math.abs(w[r * cols + k]!));
    const s = f32(amax / 127);
    const inv = s !== 0 ? f32(1 / s) : 0;
    scales[r] = s;
    let sum = 0;
    for (let k = 0; k < cols; k++) {
      const q = Math.max(-127, Math.min(127, roundEven(f32(w[r * cols + k]! * inv))));
      signed[r * layout.rowBytes + k] = q;
      sum += q;
    }
    if (rowSums) rowSums[r] = sum;
  }
  return { layout, bytes, scales, rowSums };
}

/** The sums of each row's int8 values (dynamic-int8's rowSums), from packed rows. */
export function int8RowSums(layout: QuantLayout, bytes: Uint8Array): Int32Array {
  const signed = new Int8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  const out = new Int32Array(layout.rows);
  for (let r = 0; r < layout.rows; r++) {
    let s = 0;
    for (let k = 0; k < layout.cols; k++) s += signed[r * layout.rowBytes + k]!;
    out[r] = s;
  }
  return out;
}

/** The float value of weight (r, k) of a packed weight. */
export function dequantValue(layout: QuantLayout, bytes: Uint8Array, scales: Float32Array, r: number, k: number): number {
  if (layout.scheme === 'int4') {
    const g = Math.floor(k / INT4_GROUP);
    const j = k % INT4_GROUP;
    const byte = bytes[r * layout.rowBytes + g * (INT4_GROUP / 2) + (j & 15)]!;
    const q = j < 16 ? byte & 15 : byte >> 4;
    return scales[r * layout.groups + g]! * (q - 8);
  }
  const b = bytes[r * layout.rowBytes + k]!;
  return scales[r]! * (b > 127 ? b - 256 : b);
}

/** The float weight [rows, cols] a packed weight stands for (reports, tests, and the reference). */
export function dequantizeWeight(p: Pick<PackedWeight, 'layout' | 'bytes' | 'scales'>, rowIds?: ArrayLike<number>): Float32Array {
  const { layout } = p;
  const ids = rowIds ?? Array.from({ length: layout.rows }, (_, i) => i);
  const out = new Float32Array(ids.length * layout.cols);
  for (let i = 0; i < ids.length; i++) {
    const r = ids[i]!;
    for (let k = 0; k < layout.cols; k++) out[i * layout.cols + k] = dequantValue(layout, p.bytes, p.scales, r, k);
  }
  return out;
}

/** dynamic-int8's quantization of one activation row (see the file's head): q [cols] in [0, 127], scale, zero point. */
export function quantizeRowU7(x: ArrayLike<number>, x0: number, cols: number, q: Uint8Array): { scale: number; zero: number } {
  let lo = 0;
  let hi = 0;
  for (let k = 0; k < cols; k++) {
    const v = x[x0 + k]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  let s = f32(f32(hi - lo) / 127);
  if (!(s > 0) || !Number.isFinite(s)) s = 1;
  const inv = f32(1 / s);
  const z = Math.max(0, Math.min(127, roundEven(f32(-lo * inv))));
  for (let k = 0; k < cols; k++) q[k] = Math.max(0, Math.min(127, roundEven(f32(x[x0 + k]! * inv)) + z));
  return { scale: s, zero: z };
}

/** int4's quantization of one activation row to int8 blocks of 32 (llama.cpp's Q8_0): q, per-block scales and sums. */
export function quantizeRowQ8(x: ArrayLike<number>, x0: number, cols: number, q: Int8Array, d: Float32Array, sums: Int32Array): void {
  const blocks = Math.ceil(cols / INT4_GROUP);
  for (let b = 0; b < blocks; b++) {
    const k0 = b * INT4_GROUP;
    const k1 = Math.min(cols, k0 + INT4_GROUP);
    let amax = 0;
    for (let k = k0; k < k1; k++) amax = Math.max(amax, Math.abs(x[x0 + k]!));
    const s = f32(amax / 127);
    const inv = s !== 0 ? f32(1 / s) : 0;
    d[b] = s;
    let sum = 0;
    for (let k = k0; k < k0 + INT4_GROUP; k++) {
      const v = k < k1 ? roundEven(f32(x[x0 + k]! * inv)) : 0;
      q[k] = v;
      sum += v;
    }
    sums[b] = sum;
  }
}

/**
 * The reference quantized product: x [M, cols] (row-major, from x0) with the packed weight, plus bias,
 * into out [M, rows], in float64 over the exact integer sums. Every device's kernel is tested against it.
 */
export function quantMatmulReference(
  x: ArrayLike<number>,
  M: number,
  p: Pick<PackedWeight, 'layout' | 'bytes' | 'scales' | 'rowSums'>,
  bias: ArrayLike<number> | null,
  out: Float32Array | Float64Array,
): void {
  const { layout, bytes, scales } = p;
  const { rows: N, cols: K, rowBytes, groups } = layout;
  const signed = new Int8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  if (layout.scheme === 'int8') {
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let acc = 0;
        for (let k = 0; k < K; k++) acc += x[m * K + k]! * signed[n * rowBytes + k]!;
        out[m * N + n] = scales[n]! * acc + (bias ? bias[n]! : 0);
      }
    }
    return;
  }
  if (layout.scheme === 'dynamic-int8') {
    const sums = p.rowSums ?? int8RowSums(layout, bytes);
    const q = new Uint8Array(K);
    for (let m = 0; m < M; m++) {
      const { scale, zero } = quantizeRowU7(x, m * K, K, q);
      for (let n = 0; n < N; n++) {
        let dot = 0;
        for (let k = 0; k < K; k++) dot += q[k]! * signed[n * rowBytes + k]!;
        out[m * N + n] = scale * scales[n]! * (dot - zero * sums[n]!) + (bias ? bias[n]! : 0);
      }
    }
    return;
  }
  const q = new Int8Array(groups * INT4_GROUP);
  const d = new Float32Array(groups);
  const s = new Int32Array(groups);
  for (let m = 0; m < M; m++) {
    quantizeRowQ8(x, m * K, K, q, d, s);
    for (let n = 0; n < N; n++) {
      let acc = 0;
      for (let g = 0; g < groups; g++) {
        let dot = 0;
        const base = n * rowBytes + g * (INT4_GROUP / 2);
        for (let j = 0; j < 16; j++) {
          const byte = bytes[base + j]!;
          dot += q[g * INT4_GROUP + j]! * (byte & 15) + q[g * INT4_GROUP + 16 + j]! * (byte >> 4);
        }
        acc += d[g]! * scales[n * groups + g]! * (dot - 8 * s[g]!);
      }
      out[m * N + n] = acc + (bias ? bias[n]! : 0);
    }
  }
}
