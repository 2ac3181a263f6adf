// Half-precision (IEEE binary16), bfloat16 and 8-bit float conversions. mox computes in float32, so these
// only matter at the file boundary: safetensors checkpoints from PyTorch / Hugging Face are often F16/BF16.

// float16 -> float32 goes through a 65536-entry table (256 KiB, built on first use): one load per element
// is the fastest way to widen large weight files, and the table is exact for every bit pattern.
let halfTable: Float32Array | undefined;

function buildHalfTable(): Float32Array {
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) t[h] = halfBitsToNumber(h);
  return t;
}

/** The value of one binary16 bit pattern (0..65535), exact: subnormals, ±0, ±Infinity and NaN included. */
export function halfBitsToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** Widens binary16 bit patterns to float32 values. */
export function halfToFloat32(src: Uint16Array): Float32Array {
  const table = (halfTable ??= buildHalfTable());
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = table[src[i]!]!;
  return out;
}

/** Widens bfloat16 bit patterns to float32: bfloat16 is the top half of a float32, so this is exact. */
export function bfloat16ToFloat32(src: Uint16Array): Float32Array {
  const bits = new Uint32Array(src.length);
  for (let i = 0; i < src.length; i++) bits[i] = src[i]! << 16;
  return new Float32Array(bits.buffer);
}

/** float8 e5m2 is binary16 with the low byte cut off. */
export function float8e5m2ToFloat32(src: Uint8Array): Float32Array {
  const table = (halfTable ??= buildHalfTable());
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = table[src[i]! << 8]!;
  return out;
}

/** float8 e4m3fn (the variant PyTorch calls float8_e4m3fn): bias 7, no infinities, S.1111.111 is NaN. */
export function float8e4m3ToFloat32(src: Uint8Array): Float32Array {
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const b = src[i]!;
    const sign = b & 0x80 ? -1 : 1;
    const exp = (b >>> 3) & 0xf;
    const mant = b & 0x7;
    if (exp === 15 && mant === 7) out[i] = NaN;
    else if (exp === 0) out[i] = sign * mant * 2 ** -9;
    else out[i] = sign * (1 + mant / 8) * 2 ** (exp - 7);
  }
  return out;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The binary16 bit pattern nearest to `x` (rounded to float32 first), ties to even; overflow gives ±Infinity. */
export function float32ToHalfBits(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 255) return sign | 0x7c00 | (mant !== 0 ? 0x200 | (mant >>> 13) : 0);
  const he = exp - 127 + 15;
  if (he >= 31) return sign | 0x7c00;
  if (he <= 0) {
    // Subnormal half (or zero). Values below 2^-25 round to zero; a carry out of the mantissa
    // correctly produces the smallest normal number.
    if (he < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - he;
    let hm = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (hm & 1) !== 0)) hm++;
    return sign | hm;
  }
  let r = sign | (he << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry here may ripple into the exponent, which is the right answer (up to Infinity).
  if (rem > 0x1000 || (rem === 0x1000 && (r & 1) !== 0)) r++;
  return r;
}

/** The bfloat16 bit pattern nearest to `x` (rounded to float32 first), ties to even; NaN stays NaN. */
export function float32ToBfloat16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  if ((b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0) return (b >>> 16) | 0x40;
  return (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
}
