// Indexing kernels in WGSL: gather, scatter-add, index_select, index_add, with the semantics of
// src/backend/cpu/indexing.ts. One thread per element of the index's extent; every view is addressed
// through its strides, the index supplying the coordinate along `dim`.
//
// Out-of-range indices: the CPU reference raises IndexError, and the ops layer (src/ops/indexing.ts)
// does not check ranges before calling the backend. The GPU cannot raise without reading the indices
// back (a sync that would stall every embedding lookup), so here an index outside [0, size) is skipped:
// gather/indexSelect write 0 for it and scatterAdd/indexAdd add nothing. No kernel ever reads or
// writes out of bounds.
//
// scatterAdd and indexAdd may add many sources into one destination (repeated tokens in an embedding
// gradient), so they add atomically: a compare-and-swap loop on the f32 bits (WGSL has no float
// atomics), atomicAdd for int32, atomicOr for bool (whose sum is "any").

import type { View } from '../../backend.js';
import type { DType } from '../../../base/dtype.js';
import { IndexError, ShapeError, fmtShape } from '../../../errors.js';
import { Params, type Engine } from '../engine.js';
import { contiguousStrides, numel } from '../../../base/shape.js';
import { binding, bufOf, convert, elementGroups, elementKernel, stridedIndex, wgslType, type GpuBuffer } from './common.js';
import { allocate, stridedCopy } from './elementwise.js';

function checkDim(op: string, dim: number, rank: number): void {
  if (!Number.isInteger(dim) || dim < 0 || dim >= rank) {
    throw new IndexError(op, `dim ${dim} is out of range for a tensor of rank ${rank}`);
  }
}

function check1d(op: string, idx: View): void {
  if (idx.shape.length !== 1) throw new ShapeError(op, `index must be 1-D, got shape ${fmtShape(idx.shape)}`);
}

const kernel = elementKernel;
const groups = elementGroups;

/**
 * The atomic output Y (declared by hand: binding() cannot declare atomics) and `add_at(t, v)`, adding v
 * (of dtype's WGSL type) to element t.
 */
function atomicOutput(index: number, dtype: DType): string {
  switch (wgslType(dtype)) {
    case 'f32':
      return /* wgsl */ `
@group(0) @binding(${index}) var<storage, read_write> Y: array<atomic<u32>>;
fn add_at(t: u32, v: f32) {
  // Adding 0 changes nothing (up to the sign of a zero), and skipping it spares the contention of the
  // many zero gradients a masked row (an embedding's padding index) sends to one place.
  if (v == 0.0) { return; }
  var old = atomicLoad(&Y[t]);
  loop {
    let r = atomicCompareExchangeWeak(&Y[t], old, bitcast<u32>(bitcast<f32>(old) + v));
    if (r.exchanged) { break; }
    old = r.old_value;
  }
}`;
    case 'i32':
      return /* wgsl */ `
@group(0) @binding(${index}) var<storage, read_write> Y: array<atomic<i32>>;
fn add_at(t: u32, v: i32) { if (v != 0i) { atomicAdd(&Y[t], v); } }`;
    case 'u32':
      return /* wgsl */ `
@group(0) @binding(${index}) var<storage, read_write> Y: array<atomic<u32>>;
fn add_at(t: u32, v: u32) { if (v != 0u) { atomicOr(&Y[t], 1u); } }`;
  }
}

/** WGSL reading the index at IDX[o] as i32 and leaving the thread when it is outside [0, pu(1u)). */
function readIndex(o: string, idx: View, onSkip: string): string {
  return `let v = ${convert(`IDX[${o}]`, idx.dtype, 'int32')};
  if (v < 0i || u32(v) >= pu(1u)) { ${onSkip} return; }`;
}

/**
 * out[pos] = x[pos with its `dim` coordinate replaced by the index], over `shape` (the output's): the
 * shared body of gather and indexSelect. `xView` has stride 0 along dim (the index supplies it) and
 * `idxView` addresses the index for each output position.
 */
function pick(
  engine: Engine,
  op: string,
  x: View,
  dim: number,
  shape: readonly number[],
  xView: { offset: number; strides: readonly number[] },
  idx: View,
  idxView: { offset: number; strides: readonly number[] },
): GpuBuffer {
  const size = numel(shape);
  const out = allocate(engine, x.dtype, size);
  if (size === 0) return out;
  const p = new Params().u(size, x.shape[dim]!, x.strides[dim]!);
  const at = stridedIndex(op, p, shape, [xView, idxView]);
  const code = (): string => {
    const zero = `${wgslType(x.dtype)}(0)`;
    const body = `${at.code}
  ${readIndex('o1', idx, `Y[i] = ${zero};`)}
  Y[i] = X[o0 + u32(v) * pu(2u)];`;
    return kernel([binding(1, 'X', x.dtype, 'read'), binding(2, 'IDX', idx.dtype, 'read'), binding(3, 'Y', x.dtype, 'read_write')], body);
  };
  // gather and indexSelect share the kernel: the WGSL does not depend on `op`.
  engine.dispatch(
    { key: `pick|${x.dtype}|${idx.dtype}|${at.key}`, code },
    [bufOf(x).buffer, bufOf(idx).buffer, out.buffer],
    p,
    groups(size),
  );
  return out;
}

/** out[..., j, ...] = x[..., idx[..., j, ...], ...] along `dim`; out has idx's shape. */
export function gather(engine: Engine, x: View, dim: number, idx: View): GpuBuffer {
  const rank = x.shape.length;
  checkDim('gather', dim, rank);
  if (idx.shape.length !== rank || idx.shape.some((d, i) => i !== dim && d > x.shape[i]!)) {
    throw new ShapeError('gather', `index shape ${fmtShape(idx.shape)} does not fit input ${fmtShape(x.shape)} along dim ${dim}`);
  }
  const xStrides = x.strides.map((s, i) => (i === dim ? 0 : s));
  return pick(engine, 'gather', x, dim, idx.shape, { offset: x.offset, strides: xStrides }, idx, idx);
}

/** Slices of x along `dim` at the positions in 1-D idx. */
export function indexSelect(engine: Engine, x: View, dim: number, idx: View): GpuBuffer {
  checkDim('indexSelect', dim, x.shape.length);
  check1d('indexSelect', idx);
  const shape = x.shape.map((d, i) => (i === dim ? idx.shape[0]! : d));
  const xStrides = x.strides.map((s, i) => (i === dim ? 0 : s));
  // idx seen with the output's shape: it moves along dim only.
  const idxStrides = shape.map((_, i) => (i === dim ? idx.strides[0]! : 0));
  return pick(engine, 'indexSelect', x, dim, shape, { offset: x.offset, strides: xStrides }, idx, {
    offset: idx.offset,
    strides: idxStrides,
  });
}

/**
 * Atomically adds src over `extent` into the contiguous `out` of shape `outShape`, at each position with
 * its `dim` coordinate replaced by the index: the shared body of scatterAdd and indexAdd.
 */
function addInto(
  engine: Engine,
  op: string,
  out: GpuBuffer,
  outShape: readonly number[],
  dim: number,
  extent: readonly number[],
  src: View,
  idx: View,
  idxView: { offset: number; strides: readonly number[] },
): void {
  const n = numel(extent);
  if (n === 0 || out.size === 0) return;
  const outStrides = contiguousStrides(outShape);
  // out walked with the extent's shape, its dim stride 0: the index supplies that coordinate.
  const walk = { offset: 0, strides: outStrides.map((s, i) => (i === dim ? 0 : s)) };
  const p = new Params().u(n, outShape[dim]!, outStrides[dim]!);
  const at = stridedIndex(op, p, extent, [src, idxView, walk]);
  const code = (): string => {
    const body = `${at.code}
  ${readIndex('o1', idx, '')}
  add_at(o2 + u32(v) * pu(2u), ${convert('SRC[o0]', src.dtype, out.dtype)});`;
    return kernel([binding(1, 'SRC', src.dtype, 'read'), binding(2, 'IDX', idx.dtype, 'read')], body, atomicOutput(3, out.dtype));
  };
  // scatterAdd and indexAdd share the kernel: the WGSL does not depend on `op`.
  engine.dispatch(
    { key: `addInto|${src.dtype}|${idx.dtype}|${out.dtype}|${at.key}`, code },
    [bufOf(src).buffer, bufOf(idx).buffer, out.buffer],
    p,
    groups(n),
  );
}

/** base (copied) with src[pos] added at pos with its `dim` coordinate replaced by idx[pos]. */
export function scatterAdd(engine: Engine, base: View, dim: number, idx: View, src: View): GpuBuffer {
  const rank = base.shape.length;
  checkDim('scatterAdd', dim, rank);
  if (
    idx.shape.length !== rank ||
    src.shape.length !== rank ||
    idx.shape.some((d, i) => d > src.shape[i]! || (i !== dim && d > base.shape[i]!))
  ) {
    throw new ShapeError(
      'scatterAdd',
      `index ${fmtShape(idx.shape)} does not fit base ${fmtShape(base.shape)} and src ${fmtShape(src.shape)} along dim ${dim}`,
    );
  }
  const out = allocate(engine, base.dtype, numel(base.shape));
  stridedCopy(engine, base, { buf: out, dtype: base.dtype, shape: base.shape, strides: contiguousStrides(base.shape), offset: 0 });
  // Only idx's extent of src is read, as in torch.
  addInto(engine, 'scatterAdd', out, base.shape, dim, idx.shape, src, idx, idx);
  return out;
}

/** zeros(shape), then out.index_add_(dim, idx, src): slice j of src is added at slice idx[j]. */
export function indexAdd(engine: Engine, shape: readonly number[], dim: number, idx: View, src: View): GpuBuffer {
  const rank = shape.length;
  checkDim('indexAdd', dim, rank);
  check1d('indexAdd', idx);
  const picks = idx.shape[0]!;
  if (src.shape.length !== rank || src.shape.some((d, i) => d !== (i === dim ? picks : shape[i]))) {
    throw new ShapeError(
      'indexAdd',
      `src ${fmtShape(src.shape)} does not match output ${fmtShape(shape)} with ${picks} indices along dim ${dim}`,
    );
  }
  const out = allocate(engine, src.dtype, numel(shape));
  engine.clear(out.buffer, 0, out.size * 4);
  // idx seen with src's shape: it moves along dim only.
  const idxStrides = src.shape.map((_, i) => (i === dim ? idx.strides[0]! : 0));
  addInto(engine, 'indexAdd', out, shape, dim, src.shape, src, idx, { offset: idx.offset, strides: idxStrides });
  return out;
}
