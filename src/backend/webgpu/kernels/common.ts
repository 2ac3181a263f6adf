// What every WGSL kernel generator shares: how each dtype is stored on the GPU, strided addressing of a
// view from a flat index, and the buffer handle the backend hands out.

import type { View } from '../../backend.js';
import type { DType } from '../../../base/dtype.js';
import { DeviceError } from '../../../errors.js';
import { ENTRY_ARGS, PRELUDE, linearIndex, type PooledBuffer, type Params } from '../engine.js';

/** A tensor's memory on the GPU: a pooled buffer plus what it holds. */
export interface GpuBuffer extends PooledBuffer {
  readonly dtype: DType;
  /** Elements. */
  readonly size: number;
}

/** The WGSL element type of a stored dtype: float32 f32, int32 i32, bool u32 (0 or 1). */
export function wgslType(dtype: DType, op = 'webgpu'): 'f32' | 'i32' | 'u32' {
  switch (dtype) {
    case 'float32':
      return 'f32';
    case 'int32':
      return 'i32';
    case 'bool':
      return 'u32';
    default:
      throw new DeviceError(op, `${dtype} is not supported on the GPU (WebGPU has no 64-bit floats); use float32`);
  }
}

/** WGSL converting an expression of `from`'s stored type to `to`'s (bool: != 0). */
export function convert(expr: string, from: DType, to: DType): string {
  const f = wgslType(from);
  const t = wgslType(to);
  if (to === 'bool') return from === 'bool' ? expr : `select(0u, 1u, ${expr} != ${f}(0))`;
  if (f === t) return expr;
  return `${t}(${expr})`;
}

/** The storage binding declaration of buffer `name` at `binding`. */
export function binding(index: number, name: string, dtype: DType, access: 'read' | 'read_write'): string {
  return `@group(0) @binding(${index}) var<storage, ${access}> ${name}: array<${wgslType(dtype)}>;`;
}

export const bufOf = (v: View): GpuBuffer => v.buf as GpuBuffer;

// The kernels take these from here with the rest of their toolkit; the one definition is in base/shape.ts.

/**
 * Merges neighbouring axes that are contiguous with each other in every operand and drops size-1 axes,
 * so most views reach the kernel with rank 1 or 2. Returns at least one axis.
 */
export function coalesce(shape: readonly number[], strides: readonly (readonly number[])[]): { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    const n = shape[d]!;
    if (n === 1) continue;
    const last = outShape.length - 1;
    if (last >= 0 && strides.every((s, k) => outStrides[k]![last] === s[d]! * n)) {
      outShape[last] = outShape[last]! * n;
      strides.forEach((s, k) => (outStrides[k]![last] = s[d]!));
      continue;
    }
    outShape.push(n);
    strides.forEach((s, k) => outStrides[k]!.push(s[d]!));
  }
  if (outShape.length === 0) return { shape: [1], strides: strides.map(() => [0]) };
  return { shape: outShape, strides: outStrides };
}

/** The most axes a strided kernel addresses after coalescing. */
export const MAX_RANK = 8;

/** The strided-addressing WGSL of a layout (rank, where its words start, operand count), made once. */
const stridedCode = new Map<string, string>();

/**
 * Strided addressing for several operands over one shape: writes [shape..., then per operand its
 * offset and strides...] into params. `code` is WGSL that declares `o0, o1, ...` (each operand's
 * element index) from the flat index `i`; it depends only on `key`, so a kernel that puts `key` in its
 * own cache key builds the text only once.
 */
export function stridedIndex(
  op: string,
  params: Params,
  shape: readonly number[],
  views: readonly { offset: number; strides: readonly number[] }[],
): { readonly code: string; rank: number; key: string } {
  const c = coalesce(
    shape,
    views.map((v) => v.strides),
  );
  const rank = c.shape.length;
  if (rank > MAX_RANK) throw new DeviceError(op, `a view of rank ${rank} after merging axes exceeds the WebGPU kernels' ${MAX_RANK}`);
  const shapeAt = params.length;
  params.u(...c.shape);
  views.forEach((v, k) => params.u(v.offset, ...c.strides[k]!));
  const key = `${rank}.${views.length}@${shapeAt}`;
  return {
    rank,
    key,
    get code(): string {
      let text = stridedCode.get(key);
      if (text === undefined) stridedCode.set(key, (text = stridedWgsl(rank, views.length, shapeAt)));
      return text;
    },
  };
}

function stridedWgsl(rank: number, count: number, shapeAt: number): string {
  const operandAt = (k: number): number => shapeAt + rank + k * (rank + 1);
  const lines = [`var rem = i;`];
  for (let k = 0; k < count; k++) lines.push(`var o${k} = pu(${operandAt(k)}u);`);
  for (let d = rank - 1; d >= 0; d--) {
    lines.push(`{ let n = pu(${shapeAt + d}u); let c = rem % n; rem = rem / n;`);
    for (let k = 0; k < count; k++) lines.push(`  o${k} = o${k} + c * pu(${operandAt(k) + 1 + d}u);`);
    lines.push('}');
  }
  return lines.join('\n    ');
}

/** Threads per workgroup of the one-thread-per-element kernels. */
export const ELEMENT_WG = 256;

/**
 * A one-thread-per-element kernel: `body` runs for each flat index `i` below pu(0u) (the element count,
 * the first parameter); `extra` is WGSL placed before the bindings (helper functions).
 */
export function elementKernel(bindings: string[], body: string, extra = ''): string {
  return `${PRELUDE}${extra}
${bindings.join('\n')}
@compute @workgroup_size(${ELEMENT_WG}) fn main(${ENTRY_ARGS}) {
  let i = ${linearIndex(ELEMENT_WG)};
  if (i >= pu(0u)) { return; }
  ${body}
}`;
}

/** Workgroups for n elements of an elementKernel. */
export const elementGroups = (n: number): number => Math.ceil(n / ELEMENT_WG);
