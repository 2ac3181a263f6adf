// The native quantized kernels (native/quant.c) against their WebAssembly twins (assembly/quant.ts),
// in one process on the same heap inputs: odd sizes, strided rows and outputs, NaN / infinities / -0 /
// huge and denormal activations, calls split into bands of weight rows as the thread pool splits
// them, and the public op at one and two threads.
//
// Tolerances: the quantizers and the dynamic-int8 and int4 products must be bit-identical (their dot
// products are exact integer sums, then the same float steps in the same order with no fused
// multiply-add), NaN included. q8MatmulF32 sums floats in another order (vector accumulators of the
// level's width): each side's float sum of K products is within (K/4 + 30) u sum|x w| of the exact one
// (recursive summation, u = 2^-24, K/4 the longest chain of adds on either side, 30 for the lane and
// tail adds), so the two may differ by twice that, scaled by the row's scale, plus the bias add.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as mox from '../src/index.js';
import { cpuBackend } from '../src/backend/cpu/cpu-backend.js';
import type { WasmRuntime } from '../src/backend/cpu/wasm/runtime.js';
import { quantMatmulReference, type QuantScheme } from '../src/backend/quant-format.js';
import { QuantizedWeight, quantizedLinear } from '../src/ops/quant.js';

const rt = cpuBackend.rt as WasmRuntime | null;
const skipReason = !rt ? 'no WebAssembly runtime (MOX_CPU_KERNELS=typescript)' : !rt.native ? rt.nativeReason : null;

/** Skips the test, saying why, where the native kernels do not run. */
function needNative(t: { skip: (msg: string) => void }): WasmRuntime | null {
  if (skipReason !== null || !rt) {
    t.skip(`native kernels not running: ${skipReason}`);
    return null;
  }
  return rt;
}

let seed = 12345;
function rnd(): number {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed / 2 ** 32;
}

/** Regions of the heap, each with fresh typed views (the memory may grow between calls). */
class Heap {
  private readonly ptrs: number[] = [];
  constructor(private readonly r: WasmRuntime) {}
  alloc(bytes: number): number {
    const p = this.r.heap.malloc(Math.max(64, bytes), true);
    this.ptrs.push(p);
    return p;
  }
  f32(p: number, n: number): Float32Array {
    return new Float32Array(this.r.heap.memory.buffer, p, n);
  }
  i32(p: number, n: number): Int32Array {
    return new Int32Array(this.r.heap.memory.buffer, p, n);
  }
  u8(p: number, n: number): Uint8Array {
    return new Uint8Array(this.r.heap.memory.buffer, p, n);
  }
  free(): void {
    for (const p of this.ptrs) this.r.heap.free(p);
  }
}

/** Bit-identical (any NaN equals any NaN; -0 and 0 differ), with the first difference in the message. */
function assertSame(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  assert.equal(a.length, b.length, `${what}: lengths`);
  for (let i = 0; i < a.length; i++) {
    if (!Object.is(a[i], b[i])) assert.fail(`${what}: element ${i}: native ${a[i]}, WebAssembly ${b[i]}`);
  }
}

// [M, N, K]: sizes 1, 3, 17, 33, 65, 1000+, K past and short of every vector width and int4 group
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [1, 3, 17],
  [3, 17, 33],
  [17, 65, 65],
  [2, 33, 1000],
  [1, 7, 1030],
  [5, 66, 3072],
  [33, 5, 100],
  [4, 9, 48],
];

/** Activation rows: random, or one of the edge rows (NaN, infinities, -0, huge, denormal, zeros). */
function fillX(x: Float32Array, M: number, K: number, ldx: number, edges: boolean): void {
  for (let m = 0; m < M; m++) {
    for (let k = 0; k < ldx; k++) x[m * ldx + k] = k < K ? (rnd() - 0.5) * 6 : Number.NaN; // NaN past K: never read
  }
  if (!edges) return;
  const special = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, 3e38, -3e38, 1e-40, -1e-45, 5e9];
  for (let m = 0; m < M; m++) {
    const kind = m % 6;
    for (let k = 0; k < K; k++) {
      const at = m * ldx + k;
      if (kind === 0) x[at] = special[(k + m) % special.length]! * (rnd() < 0.5 ? 1 : -1);
      else if (kind === 1) x[at] = rnd() < 0.1 ? special[Math.floor(rnd() * special.length)]! : x[at]!;
      else if (kind === 2) x[at] = -0;
      else if (kind === 3)
        x[at] = (rnd() - 0.5) * 1e-39; // denormal: a block scale of 0 or an infinite 1 / scale
      else if (kind === 4) x[at] = (rnd() - 0.5) * 6e38;
    }
  }
}

/** Runs both sides of a kernel on copies of the same inputs; `outs` are the regions compared. */
function both(r: WasmRuntime, call: (e: WasmRuntime['exports'], side: 0 | 1) => void): void {
  call(r.wasmExports, 1);
  call(r.exports, 0);
}

test('quantizeRowsU7 and quantizeRowsQ8: bit-identical to WebAssembly, edge values and strided rows included', (t) => {
  const r = needNative(t);
  if (!r) return;
  for (const [M, , K] of SHAPES) {
    for (const edges of [false, true]) {
      for (const pad of [0, 3]) {
        const h = new Heap(r);
        const ldx = K + pad;
        const Kp16 = Math.ceil(K / 16) * 16;
        const G = Math.ceil(K / 32);
        const x = h.alloc(M * ldx * 4);
        fillX(h.f32(x, M * ldx), M, K, ldx, edges);
        const q = [h.alloc(M * G * 32), h.alloc(M * G * 32)];
        const p = [h.alloc(M * (G + 2) * 4), h.alloc(M * (G + 2) * 4)]; // U7 params are 8 bytes a row
        const s = [h.alloc(M * G * 4), h.alloc(M * G * 4)];
        const what = `${M}x${K} ldx=${ldx} edges=${edges}`;
        both(r, (e, i) => e.quantizeRowsU7(M, K, Kp16, x, ldx, q[i]!, p[i]!));
        assertSame(h.u8(q[0]!, M * Kp16), h.u8(q[1]!, M * Kp16), `quantizeRowsU7 q ${what}`);
        assertSame(h.i32(p[0]!, 2 * M), h.i32(p[1]!, 2 * M), `quantizeRowsU7 scale, zero ${what}`);
        both(r, (e, i) => e.quantizeRowsQ8(M, K, G * 32, x, ldx, q[i]!, p[i]!, s[i]!));
        assertSame(h.u8(q[0]!, M * G * 32), h.u8(q[1]!, M * G * 32), `quantizeRowsQ8 q ${what}`);
        // as floats: a NaN scale's bits are the engine's (WebAssembly leaves NaN payloads open)
        assertSame(h.f32(p[0]!, M * G), h.f32(p[1]!, M * G), `quantizeRowsQ8 d ${what}`);
        assertSame(h.i32(s[0]!, M * G), h.i32(s[1]!, M * G), `quantizeRowsQ8 sums ${what}`);
        h.free();
      }
    }
  }
});

test('q8DynMatmul and q4MatmulQ8: bit-identical to WebAssembly (strided outputs, with and without bias, edge rows)', (t) => {
  const r = needNative(t);
  if (!r) return;
  for (const [M, N, K] of SHAPES) {
    for (const edges of [false, true]) {
      const h = new Heap(r);
      const Kp16 = Math.ceil(K / 16) * 16;
      const G = Math.ceil(K / 32);
      const x = h.alloc(M * K * 4);
      fillX(h.f32(x, M * K), M, K, K, edges);
      // any bytes: int8 weights over their whole range, int4 nibbles all 16 values
      const w = h.alloc(N * Kp16);
      h.u8(w, N * Kp16).forEach((_, i, a) => {
        a[i] = Math.floor(rnd() * 256);
      });
      const scale = h.alloc(N * G * 4);
      h.f32(scale, N * G).forEach((_, i, a) => {
        a[i] = (rnd() - 0.5) * 0.1;
      });
      const rowSum = h.alloc(N * 4);
      h.i32(rowSum, N).forEach((_, i, a) => {
        a[i] = Math.floor((rnd() - 0.5) * 4000);
      });
      const bias = h.alloc(N * 4);
      h.f32(bias, N).forEach((_, i, a) => {
        a[i] = rnd() - 0.5;
      });
      const q = h.alloc(M * G * 32);
      const params = h.alloc(M * (G + 2) * 4);
      const sums = h.alloc(M * G * 4);
      const ldo = N + 2; // outputs strided: the columns between must stay as they were
      const out = [h.alloc(M * ldo * 4), h.alloc(M * ldo * 4)];
      for (const withBias of [false, true]) {
        const what = `${M}x${N}x${K} bias=${withBias} edges=${edges}`;
        const b = withBias ? bias : 0;
        r.wasmExports.quantizeRowsU7(M, K, Kp16, x, K, q, params);
        h.f32(out[0]!, M * ldo).fill(7);
        h.f32(out[1]!, M * ldo).fill(7);
        both(r, (e, i) => e.q8DynMatmul(M, N, Kp16, q, params, w, scale, rowSum, b, out[i]!, ldo));
        assertSame(h.f32(out[0]!, M * ldo), h.f32(out[1]!, M * ldo), `q8DynMatmul ${what}`);
        r.wasmExports.quantizeRowsQ8(M, K, G * 32, x, K, q, params, sums);
        both(r, (e, i) => e.q4MatmulQ8(M, N, G * 32, q, params, sums, w, scale, b, out[i]!, ldo));
        assertSame(h.f32(out[0]!, M * ldo), h.f32(out[1]!, M * ldo), `q4MatmulQ8 ${what}`);
      }
      h.free();
    }
  }
});

test('q8MatmulF32: within float rounding of WebAssembly (strided rows and outputs, NaN and infinities alike)', (t) => {
  const r = needNative(t);
  if (!r) return;
  const u = 2 ** -24;
  for (const [M, N, K] of SHAPES) {
    for (const edges of [false, true]) {
      const h = new Heap(r);
      const ldx = K + 5;
      const ldw = Math.ceil(K / 16) * 16 + 16; // rows further apart than their padded length
      const x = h.alloc(M * ldx * 4);
      const xs = h.f32(x, M * ldx);
      fillX(xs, M, K, ldx, false);
      if (edges) {
        // NaN, infinities, -0 and denormals; no huge finite values, whose overflow to infinity
        // would depend on the order of the sum
        const special = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, 1e-40];
        for (let m = 0; m < M; m += 2) xs[m * ldx + ((m * 7) % K)] = special[m % special.length]!;
      }
      const w = h.alloc(N * ldw);
      h.u8(w, N * ldw).forEach((_, i, a) => {
        a[i] = Math.floor(rnd() * 256);
      });
      const scale = h.alloc(N * 4);
      h.f32(scale, N).forEach((_, i, a) => {
        a[i] = rnd() * 0.05;
      });
      const bias = h.alloc(N * 4);
      h.f32(bias, N).forEach((_, i, a) => {
        a[i] = rnd() - 0.5;
      });
      const ldo = N + 1;
      const out = [h.alloc(M * ldo * 4), h.alloc(M * ldo * 4)];
      h.f32(out[0]!, M * ldo).fill(7);
      h.f32(out[1]!, M * ldo).fill(7);
      both(r, (e, i) => e.q8MatmulF32(M, N, K, x, ldx, w, ldw, scale, bias, out[i]!, ldo));
      const a = h.f32(out[0]!, M * ldo);
      const b = h.f32(out[1]!, M * ldo);
      const wb = new Int8Array(r.heap.memory.buffer, w, N * ldw);
      const sc = h.f32(scale, N);
      const bi = h.f32(bias, N);
      for (let m = 0; m < M; m++) {
        for (let j = 0; j < ldo; j++) {
          const i = m * ldo + j;
          const what = `${M}x${N}x${K} edges=${edges} at [${m}, ${j}]: native ${a[i]}, WebAssembly ${b[i]}`;
          if (j === N || !Number.isFinite(b[i]!)) {
            assert.ok(Object.is(a[i], b[i]), what);
            continue;
          }
          let mag = 0;
          for (let k = 0; k < K; k++) mag += Math.abs(xs[m * ldx + k]! * wb[j * ldw + k]!);
          const tol = 2 * (K / 4 + 30) * u * sc[j]! * mag + 2 * u * Math.abs(bi[j]!) + 1e-37;
          assert.ok(Math.abs(a[i]! - b[i]!) <= tol, `${what}, tolerance ${tol}`);
        }
      }
      h.free();
    }
  }
});

test('the native products do not depend on how the weight rows are split into bands', (t) => {
  const r = needNative(t);
  if (!r) return;
  const [M, N, K] = [3, 70, 200];
  const h = new Heap(r);
  const Kp16 = Math.ceil(K / 16) * 16;
  const G = Math.ceil(K / 32);
  const x = h.alloc(M * K * 4);
  fillX(h.f32(x, M * K), M, K, K, false);
  const w = h.alloc(N * Kp16);
  h.u8(w, N * Kp16).forEach((_, i, a) => {
    a[i] = Math.floor(rnd() * 256);
  });
  const scale = h.alloc(N * G * 4);
  h.f32(scale, N * G).fill(0.01);
  const rowSum = h.alloc(N * 4);
  const q = h.alloc(M * Kp16);
  const params = h.alloc(M * 8);
  const q4 = h.alloc(M * G * 32);
  const d = h.alloc(M * G * 4);
  const sums = h.alloc(M * G * 4);
  const e = r.exports;
  e.quantizeRowsU7(M, K, Kp16, x, K, q, params);
  e.quantizeRowsQ8(M, K, G * 32, x, K, q4, d, sums);
  const run = (bands: number[], out: number): void => {
    for (let i = 0; i + 1 < bands.length; i++) {
      const [n0, n1] = [bands[i]!, bands[i + 1]!];
      const nb = n1 - n0;
      const o = out + n0 * 4;
      if (out === outs[0]) e.q8MatmulF32(M, nb, K, x, K, w + n0 * Kp16, Kp16, scale + n0 * 4, 0, o, N);
      if (out === outs[1]) e.q8DynMatmul(M, nb, Kp16, q, params, w + n0 * Kp16, scale + n0 * 4, rowSum + n0 * 4, 0, o, N);
      if (out === outs[2]) e.q4MatmulQ8(M, nb, G * 32, q4, d, sums, w + n0 * (G * 16), scale + n0 * G * 4, 0, o, N);
    }
  };
  const outs = [h.alloc(M * N * 4), h.alloc(M * N * 4), h.alloc(M * N * 4)];
  const whole = outs.map((o) => {
    run([0, N], o);
    return Float32Array.from(h.f32(o, M * N));
  });
  for (const bands of [
    [0, 4, 12, 70],
    [0, 1, 2, 3, 37, 70],
    [0, 68, 70],
  ]) {
    outs.forEach((o, i) => {
      h.f32(o, M * N).fill(0);
      run(bands, o);
      assertSame(h.f32(o, M * N), whole[i]!, `kernel ${i} in bands ${bands.join(',')}`);
    });
  }
  h.free();
});

test('quantizedLinear on the native kernels: 1 and 2 threads agree exactly, and with the reference', (t) => {
  if (!needNative(t)) return;
  const g = new mox.Generator(11);
  try {
    for (const scheme of ['int8', 'dynamic-int8', 'int4'] as QuantScheme[]) {
      // big enough that the weight rows split across two threads (odd N, K past the vector widths)
      for (const [M, N, K] of [
        [4, 301, 777],
        [1, 1001, 768],
        [17, 65, 1000],
      ] as [number, number, number][]) {
        mox.scope(() => {
          const w = mox.randn([N, K], { generator: g });
          const x = mox.randn([M, K + 3], { generator: g }).narrow(1, 0, K);
          const b = mox.randn([N], { generator: g });
          const qw = QuantizedWeight.quantize(w, scheme);
          const y: Float32Array[] = [];
          for (const threads of [1, 2]) {
            mox.setNumThreads(threads);
            y.push(Float32Array.from(mox.noGrad(() => quantizedLinear(x, qw, b)).dataSync() as Float32Array));
          }
          assertSame(y[1]!, y[0]!, `${scheme} ${M}x${N}x${K}: 2 threads vs 1`);
          const ref = new Float64Array(M * N);
          quantMatmulReference(x.contiguous().dataSync(), M, qw.packed(), b.dataSync(), ref);
          let err = 0;
          let mag = 0;
          for (let i = 0; i < ref.length; i++) {
            err = Math.max(err, Math.abs(y[0]![i]! - ref[i]!));
            mag = Math.max(mag, Math.abs(ref[i]!));
          }
          // as test/quant.test.ts: float32 rounding of sums of up to 1000 terms against float64
          assert.ok(err / mag < 2e-6, `${scheme} ${M}x${N}x${K}: relative error ${err / mag}`);
          qw.dispose();
        });
      }
    }
  } finally {
    mox.setNumThreads(2);
  }
});
