// The native GEMM (native/matmul.c) against float64 sums and against its WebAssembly twin, called
// directly on the same heap inputs: odd sizes around every tile edge (MR x NR = 12 x 32 at AVX-512,
// 6 x 16 at AVX2, 6 x 8 at the baseline), K across the 256-deep blocks, every stride layout the
// packing special-cases (row-major, transposed, neither), the accumulate / bias / relu flags, and
// batches. The other levels run this file too (scripts/run-tests.mjs, MOX_CPU_KERNELS=native-*).
//
// Tolerance: a float32 dot product of K terms errs by at most ~K * 2^-24 * sum|a_ik b_kj| (any order of
// summation, FMA or not); the bound below is 4 * sqrt(K) * 2^-24 * sum|a b| + 1e-6, which random signs
// keep well inside while a wrong element (a missed term, a wrong stride) is off by ~|a b| ~ 0.1-1.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as mox from '../src/index.js';
import { wasmRuntime } from '../src/backend/cpu/wasm/runtime.js';

const rt = wasmRuntime();
const notRunning = `native kernels not running: ${rt?.nativeReason ?? 'no WebAssembly runtime'}`;
const gen = new mox.Generator(77);

interface Case {
  M: number;
  N: number;
  K: number;
  layoutA: 'row' | 'col' | 'spaced';
  layoutB: 'row' | 'col' | 'spaced';
  flags: number;
  nb: number;
}

/** A [rows, cols] operand in the heap with the given layout; returns its address, strides and values. */
function operand(rows: number, cols: number, layout: Case['layoutA'], batch: number) {
  const [rs, cs] = layout === 'row' ? [cols, 1] : layout === 'col' ? [1, rows] : [2 * cols + 3, 2];
  const span = layout === 'spaced' ? rows * rs : rows * cols;
  const heap = rt!.heap;
  const total = span * batch + 8;
  const ptr = heap.malloc(total * 4);
  const f = new Float32Array(heap.memory.buffer, ptr, total);
  for (let i = 0; i < total; i++) f[i] = gen.random() * 2 - 1;
  const at = (b: number, i: number, j: number): number => f[b * span + i * rs + j * cs]!;
  return { ptr, rs, cs, span, at };
}

function runCase(c: Case, which: 'native' | 'wasm'): { out: Float32Array; check: (out: Float32Array) => string | null } {
  const { M, N, K, nb, flags } = c;
  const a = operand(M, K, c.layoutA, nb);
  const b = operand(K, N, c.layoutB, nb);
  const heap = rt!.heap;
  const cPtr = heap.malloc(Math.max(1, M * N * nb) * 4);
  const out = new Float32Array(heap.memory.buffer, cPtr, M * N * nb);
  for (let i = 0; i < out.length; i++) out[i] = gen.random() - 0.5;
  const before = out.slice();
  const biasPtr = heap.malloc(Math.max(1, N) * 4);
  const bias = new Float32Array(heap.memory.buffer, biasPtr, N);
  for (let j = 0; j < N; j++) bias[j] = gen.random() - 0.5;
  const k = which === 'native' ? rt!.exports : rt!.wasmExports;
  k.sgemmBatched(nb, a.span, b.span, M * N, M, N, K, a.ptr, a.rs, a.cs, b.ptr, b.rs, b.cs, cPtr, N, biasPtr, flags, rt!.scratchFor(0));
  const check = (got: Float32Array): string | null => {
    for (let t = 0; t < nb; t++) {
      for (let i = 0; i < M; i++) {
        for (let j = 0; j < N; j++) {
          let s = 0;
          let mag = 0;
          for (let q = 0; q < K; q++) {
            s += a.at(t, i, q) * b.at(t, q, j);
            mag += Math.abs(a.at(t, i, q) * b.at(t, q, j));
          }
          const o = t * M * N + i * N + j;
          if (flags & 1) s += before[o]!;
          if (flags & 2) s += bias[j]!;
          if (flags & 4) s = Math.max(s, 0);
          const tol = 4 * Math.sqrt(Math.max(K, 1)) * 2 ** -24 * (mag + Math.abs(before[o]!)) + 1e-6;
          if (!(Math.abs(got[o]! - s) <= tol)) return `[${t}, ${i}, ${j}]: got ${got[o]}, expected ${s} (tolerance ${tol})`;
        }
      }
    }
    return null;
  };
  return { out: out.slice(), check };
}

const SIZES = [1, 3, 5, 6, 7, 11, 12, 13, 17, 31, 32, 33, 63, 65, 100];
const pick = <T>(xs: readonly T[]): T => xs[gen.int(0, xs.length)]!;
const LAYOUTS = ['row', 'col', 'spaced'] as const;

test('the native GEMM equals float64 sums on odd shapes, every layout and flag', (t) => {
  if (!rt?.native) return t.skip(notRunning);
  const cases: Case[] = [];
  for (const layoutA of LAYOUTS) {
    for (const layoutB of LAYOUTS) {
      for (let r = 0; r < 6; r++) {
        cases.push({
          M: pick(SIZES),
          N: pick(SIZES),
          K: pick([0, 1, 2, 9, 64, 255, 256, 257, 300]),
          layoutA,
          layoutB,
          flags: gen.int(0, 8),
          nb: pick([1, 1, 2, 3]),
        });
      }
    }
  }
  // a tile-aligned case and one across the 2048-column block of B
  cases.push({ M: 24, N: 64, K: 512, layoutA: 'row', layoutB: 'row', flags: 2, nb: 1 });
  cases.push({ M: 7, N: 2100, K: 20, layoutA: 'row', layoutB: 'col', flags: 7, nb: 1 });
  for (const c of cases) {
    const { out, check } = runCase(c, 'native');
    const bad = check(out);
    assert.equal(bad, null, `${JSON.stringify(c)}: ${bad}`);
  }
});

test('the native GEMM agrees with the WebAssembly GEMM on the same inputs', (t) => {
  if (!rt?.native) return t.skip(notRunning);
  for (let r = 0; r < 12; r++) {
    const c: Case = {
      M: pick(SIZES),
      N: pick(SIZES),
      K: pick([1, 33, 257]),
      layoutA: pick(LAYOUTS),
      layoutB: pick(LAYOUTS),
      flags: gen.int(0, 8),
      nb: 1,
    };
    // the same inputs for both: the generator is rewound between the runs
    const state = gen.getState();
    const nat = runCase(c, 'native').out;
    gen.setState(state);
    const was = runCase(c, 'wasm').out;
    let worst = 0;
    for (let i = 0; i < nat.length; i++) worst = Math.max(worst, Math.abs(nat[i]! - was[i]!));
    assert.ok(worst < 1e-4, `${JSON.stringify(c)}: native and WebAssembly differ by ${worst}`);
  }
});

test('matmul through the backend: native on 1 and 2 threads, batched, transposed operands', (t) => {
  if (!rt?.native) return t.skip(notRunning);
  for (const threads of [1, 2]) {
    mox.setNumThreads(threads);
    const a = mox.randn([3, 130, 257], { generator: gen });
    const b = mox.randn([3, 301, 257], { generator: gen }).transpose(1, 2);
    const got = a.matmul(b).to('float64');
    const exact = a.to('float64').matmul(b.to('float64'));
    const err = got.sub(exact).abs().max().item() as number;
    assert.ok(err < 2e-4, `threads ${threads}: error ${err}`);
  }
  mox.setNumThreads(2);
});
