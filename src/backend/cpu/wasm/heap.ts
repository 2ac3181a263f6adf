// Tensor storage inside one WebAssembly.Memory, so WASM kernels read and write tensors in place and,
// when the memory is shared, worker threads running the same module see the same bytes.
//
// Allocation: sizes are rounded up to a size class (64-byte multiples below 4 KiB, then four classes
// per power of two, so at most 25% is wasted) and freed blocks go on a free list per class. Training
// loops allocate the same sizes every step, so after the first step nearly every allocation is a
// free-list pop. Memory is never returned to the system (a WebAssembly.Memory cannot shrink); it grows
// in 16 MiB steps, up to wasm32's 4 GiB.
//
// A buffer handed to the rest of the backend is a typed array viewing its block. With a *shared*
// memory, growing does not detach older views (they keep pointing at the same bytes), so buffers stay
// valid for their whole life. A non-shared memory would detach them, which is why the heap is only
// used when SharedArrayBuffer is available (always in Node; in browsers with cross-origin isolation).

import { ValueError } from '../../../errors.js';
import type { DType, TypedArray } from '../../../base/dtype.js';
import { bytesPerElement } from '../../../base/dtype.js';

const PAGE = 65536;
const GROW_PAGES = 256; // 16 MiB
const MAX_PAGES = 65536; // 4 GiB
const ALIGN = 64;

/** Bytes below this belong to the WASM module's static data (kept clear of tensors). */
export const HEAP_BASE = 1 << 20;

export function sizeClass(bytes: number): number {
  if (bytes <= 4096) return Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
  const p = 2 ** Math.floor(Math.log2(bytes));
  const step = p / 4;
  return Math.ceil(bytes / step) * step;
}

export class WasmHeap {
  readonly memory: WebAssembly.Memory;
  private top = HEAP_BASE;
  private readonly freeLists = new Map<number, number[]>();
  private readonly blockSize = new Map<number, number>();
  private buffer: ArrayBufferLike;
  /** Every buffer object the memory has had: views made before a grow keep the older ones. */
  private readonly buffers = new WeakSet<ArrayBufferLike>();
  /** Bytes handed out and not yet freed (by size class), and bytes the memory holds. */
  inUse = 0;
  /**
   * Zeroes a recycled block. The runtime installs the kernels' bulk-memory fill once its instance
   * exists: TypedArray.fill on a shared buffer is ~10x slower in V8 than on a plain one.
   */
  zeroFill: (ptr: number, bytes: number) => void = (ptr, bytes) => {
    new Float64Array(this.buffer, ptr, bytes / 8).fill(0); // blocks are 64-byte multiples
  };

  constructor(initialPages = 512) {
    this.memory = new WebAssembly.Memory({ initial: initialPages, maximum: MAX_PAGES, shared: true });
    this.buffer = this.memory.buffer;
    this.buffers.add(this.buffer);
  }

  get capacity(): number {
    return this.memory.buffer.byteLength;
  }

  /** A zero-filled block of at least `bytes` bytes, 64-byte aligned; returns its address. */
  malloc(bytes: number, zero = true): number {
    const cls = sizeClass(Math.max(bytes, 1));
    const list = this.freeLists.get(cls);
    let ptr = list?.pop();
    if (ptr === undefined) {
      ptr = this.top;
      const end = ptr + cls;
      if (end > this.buffer.byteLength) this.grow(end);
      this.top = end;
    } else if (zero) {
      this.zeroFill(ptr, cls);
    }
    this.blockSize.set(ptr, cls);
    this.inUse += cls;
    return ptr;
  }

  free(ptr: number): void {
    const cls = this.blockSize.get(ptr);
    if (cls === undefined) return; // not ours (or freed twice): nothing to do
    this.blockSize.delete(ptr);
    this.inUse -= cls;
    let list = this.freeLists.get(cls);
    if (!list) this.freeLists.set(cls, (list = []));
    list.push(ptr);
  }

  private grow(end: number): void {
    const have = this.memory.buffer.byteLength / PAGE;
    const need = Math.ceil(end / PAGE) - have;
    const pages = Math.max(need, GROW_PAGES);
    if (have + pages > MAX_PAGES) {
      if (have + need > MAX_PAGES) {
        throw new ValueError('alloc', `out of memory: ${end} bytes exceed the 4 GiB a wasm32 memory can hold (in use ${this.inUse} bytes)`);
      }
      this.memory.grow(need);
    } else {
      this.memory.grow(pages);
    }
    this.buffer = this.memory.buffer;
    this.buffers.add(this.buffer);
  }

  /** A typed array of `dtype` over a new block of `size` elements. */
  allocArray(dtype: DType, size: number, zero = true): TypedArray {
    const ptr = this.malloc(size * bytesPerElement(dtype), zero);
    return this.view(dtype, ptr, size);
  }

  view(dtype: DType, ptr: number, size: number): TypedArray {
    const b = this.buffer;
    switch (dtype) {
      case 'float32':
        return new Float32Array(b, ptr, size);
      case 'float64':
        return new Float64Array(b, ptr, size);
      case 'int32':
        return new Int32Array(b, ptr, size);
      case 'bool':
        return new Uint8Array(b, ptr, size);
    }
  }

  /** Whether a typed array lives in this heap (views of any of the memory's buffers). */
  owns(a: TypedArray): boolean {
    return this.buffers.has(a.buffer) && this.blockSize.has(a.byteOffset);
  }

  freeArray(a: TypedArray): void {
    if (this.owns(a)) this.free(a.byteOffset);
  }
}
