// Differential testing of a native kernel against its WebAssembly twin in one process: both read the
// same heap inputs and write their own outputs, which must agree bit for bit (or within a stated
// tolerance). Used by test/native-*.test.ts.

import assert from 'node:assert/strict';
import { wasmRuntime, type WasmRuntime } from '../src/backend/cpu/wasm/runtime.js';

/** The runtime when native kernels are running, else null and why. */
export function nativeRuntime(): { rt: WasmRuntime | null; reason: string } {
  const rt = wasmRuntime();
  if (!rt) return { rt: null, reason: 'no WebAssembly runtime' };
  if (!rt.native) return { rt: null, reason: rt.nativeReason ?? 'unknown' };
  return { rt, reason: '' };
}

type Fn = (...args: number[]) => void;

/** Calls kernel `name` natively and in WebAssembly; `args(tier)` builds each call's arguments. */
export function both(rt: WasmRuntime, name: string, args: (tier: 0 | 1) => number[]): void {
  const native = (rt.exports as unknown as Record<string, Fn>)[name]!;
  const wasm = (rt.wasmExports as unknown as Record<string, Fn>)[name]!;
  assert.notEqual(native, wasm, `${name} has no native kernel in place`);
  native(...args(0));
  wasm(...args(1));
}

/** Blocks on the heap for one test, freed together. */
export class Scratch {
  private ptrs: number[] = [];
  constructor(private readonly rt: WasmRuntime) {}
  /** `n` elements of 4 bytes (float32 view), filled by `fill(i)` (default 0). */
  f32(n: number, fill: (i: number) => number = () => 0): { ptr: number; a: Float32Array } {
    const ptr = this.rt.heap.malloc(Math.max(4, n * 4 + 64), false);
    this.ptrs.push(ptr);
    const a = new Float32Array(this.rt.heap.memory.buffer, ptr, n);
    for (let i = 0; i < n; i++) a[i] = fill(i);
    return { ptr, a };
  }
  i32(n: number, fill: (i: number) => number = () => 0): { ptr: number; a: Int32Array } {
    const { ptr } = this.f32(n);
    const a = new Int32Array(this.rt.heap.memory.buffer, ptr, n);
    for (let i = 0; i < n; i++) a[i] = fill(i);
    return { ptr, a };
  }
  u8(n: number, fill: (i: number) => number = () => 0): { ptr: number; a: Uint8Array } {
    const { ptr } = this.f32(Math.ceil(n / 4));
    const a = new Uint8Array(this.rt.heap.memory.buffer, ptr, n);
    for (let i = 0; i < n; i++) a[i] = fill(i);
    return { ptr, a };
  }
  /** Two outputs of n floats (native, wasm) with the same sentinel contents (a NaN with a payload). */
  pair(n: number): [{ ptr: number; a: Float32Array }, { ptr: number; a: Float32Array }] {
    const guard = (i: number): number => (i % 3 ? 12345.5 : -7.25);
    return [this.f32(n, guard), this.f32(n, guard)];
  }
  free(): void {
    for (const p of this.ptrs) this.rt.heap.free(p);
    this.ptrs = [];
  }
}

const f32bits = new Float32Array(1);
const u32bits = new Uint32Array(f32bits.buffer);
const bitsOf = (x: number): number => {
  f32bits[0] = x;
  return u32bits[0]!;
};

/** Bit-for-bit equality, except that any NaN matches any NaN (payloads are not specified). */
export function sameBits(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: lengths`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!,
      e = expected[i]!;
    if (a !== a && e !== e) continue;
    if (bitsOf(a) !== bitsOf(e)) assert.fail(`${what}: element ${i} of ${actual.length}: native ${a} vs wasm ${e}`);
  }
}

/** A seeded uniform [0, 1) generator: the tests' mulberry32. */
export { mulberry32 as rng } from './fixtures.js';

/** Edge values every float kernel must carry through as its WebAssembly twin does. */
export const EDGES = [NaN, Infinity, -Infinity, -0, 0, 3e38, -3e38, 1e-45, -1e-45, 1.17e-38, 1, -1];
