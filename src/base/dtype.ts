// Element types. float32 is the working type; float64 exists so gradcheck can take finite differences
// without float32 round-off; int32 holds indices and class labels; bool holds masks (one byte each).

import { DTypeError } from '../errors.js';

/** Element type of a tensor: 32- or 64-bit float, 32-bit integer, or bool. */
export type DType = 'float32' | 'float64' | 'int32' | 'bool';
export const DTYPES: readonly DType[] = ['float32', 'float64', 'int32', 'bool'];

/** The typed array that holds a tensor's data, by dtype (bool as Uint8Array). */
export type TypedArray = Float32Array | Float64Array | Int32Array | Uint8Array;

export function bytesPerElement(dtype: DType): number {
  switch (dtype) {
    case 'float64':
      return 8;
    case 'float32':
    case 'int32':
      return 4;
    case 'bool':
      return 1;
  }
}

export function typedArrayFor(dtype: DType, size: number): TypedArray {
  switch (dtype) {
    case 'float32':
      return new Float32Array(size);
    case 'float64':
      return new Float64Array(size);
    case 'int32':
      return new Int32Array(size);
    case 'bool':
      return new Uint8Array(size);
  }
}

export function isFloat(dtype: DType): boolean {
  return dtype === 'float32' || dtype === 'float64';
}

const RANK: Record<DType, number> = { bool: 0, int32: 1, float32: 2, float64: 3 };

/** PyTorch-style type promotion for two tensors: bool < int32 < float32 < float64. */
export function promote(a: DType, b: DType): DType {
  return RANK[a] >= RANK[b] ? a : b;
}

/** The dtype of `tensor op scalar`: a float scalar lifts an integer tensor to float32, as in PyTorch. */
export function promoteScalar(t: DType, scalar: number): DType {
  if (isFloat(t)) return t;
  if (!Number.isInteger(scalar)) return 'float32';
  return t === 'bool' ? 'int32' : t;
}

export function checkDType(op: string, dtype: string): DType {
  if ((DTYPES as readonly string[]).includes(dtype)) return dtype as DType;
  throw new DTypeError(op, `unknown dtype '${dtype}' (expected one of ${DTYPES.join(', ')})`);
}

export function dtypeOfArray(a: TypedArray): DType {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  if (a instanceof Int32Array) return 'int32';
  return 'bool';
}
