// The native window kernels (native/window.c) against their WebAssembly twins (assembly/window.ts) in
// one process: the same heap inputs through both, on random geometry with odd sizes, padding,
// stride, dilation, strided and transposed inputs, ties, NaN, infinities and -0; and the public ops
// with two threads on MNIST-sized tensors, which must equal one thread bit for bit.
//
// Tolerance: none. Every kernel here moves values or sums them in the same order in float32 as its
// twin (col2im and the pooling gradients add window by window, average pooling tap by tap), so the
// outputs must be identical; only NaN payloads may differ (WebAssembly leaves them unspecified).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as mox from '../src/index.js';
import { windowOut } from '../src/ops/conv.js';
import { EDGES, Scratch, both, nativeRuntime, rng, sameBits } from '../test-support/native-diff.js';

const { rt, reason } = nativeRuntime();
const F = mox.nn.functional;
const SIZES = [1, 3, 17, 33, 65];

interface Geo {
  N: number;
  C: number;
  H: number;
  W: number;
  k: [number, number, number, number, number, number, number, number]; // kh kw sh sw ph pw dh dw
  outH: number;
  outW: number;
}

function randGeo(r: () => number): Geo {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  for (;;) {
    const kh = pick([1, 2, 3, 5]),
      kw = pick([1, 2, 3, 4, 5]);
    const sh = pick([1, 2, 3]),
      sw = pick([1, 2, 2, 3]);
    const dh = pick([1, 1, 2]),
      dw = pick([1, 1, 2]);
    const ph = Math.floor(r() * (Math.floor(kh / 2) + 1)),
      pw = Math.floor(r() * (Math.floor(kw / 2) + 1));
    const H = pick(SIZES),
      W = pick(SIZES);
    const ceil = r() < 0.3;
    const outH = windowOut(H, kh, sh, ph, dh, ceil),
      outW = windowOut(W, kw, sw, pw, dw, ceil);
    if (outH > 0 && outW > 0) return { N: pick([1, 2, 3]), C: pick([1, 2, 3]), H, W, k: [kh, kw, sh, sw, ph, pw, dh, dw], outH, outW };
  }
}

// the MNIST CNN's layers (conv 3x3 on 28x28 and on 13x13 after pooling, 2x2 max pools) and GPT-ish none
const MNIST: Geo[] = [
  { N: 4, C: 1, H: 28, W: 28, k: [3, 3, 1, 1, 0, 0, 1, 1], outH: 26, outW: 26 },
  { N: 2, C: 32, H: 13, W: 13, k: [3, 3, 1, 1, 0, 0, 1, 1], outH: 11, outW: 11 },
  { N: 2, C: 32, H: 26, W: 26, k: [2, 2, 2, 2, 0, 0, 1, 1], outH: 13, outW: 13 },
  { N: 2, C: 64, H: 11, W: 11, k: [2, 2, 2, 2, 0, 0, 1, 1], outH: 5, outW: 5 },
  { N: 1, C: 2, H: 33, W: 65, k: [3, 3, 1, 2, 1, 1, 1, 1], outH: 33, outW: 33 },
];

/** Input layouts: contiguous, H and W stored transposed, every other element, channels last. */
function strides(g: Geo, kind: number): { sN: number; sC: number; sH: number; sW: number; len: number } {
  const { N, C, H, W } = g;
  if (kind === 1) return { sN: C * H * W, sC: H * W, sH: 1, sW: H, len: N * C * H * W };
  if (kind === 2) return { sN: 2 * C * H * W, sC: 2 * H * W, sH: 2 * W, sW: 2, len: 2 * N * C * H * W };
  if (kind === 3) return { sN: H * W * C, sC: 1, sH: W * C, sW: C, len: N * C * H * W };
  return { sN: C * H * W, sC: H * W, sH: W, sW: 1, len: N * C * H * W };
}

/** Values with ties (coarse), and in some cases NaN, infinities, -0, huge and tiny ones. */
function values(r: () => number, t: number): (i: number) => number {
  if (t % 3 === 2) return () => (r() < 0.15 ? EDGES[Math.floor(r() * EDGES.length)]! : Math.round(r() * 8) / 4 - 1);
  if (t % 3 === 1) return () => Math.round(r() * 4) - 2;
  return () => r() * 2 - 1;
}

describe('native window kernels vs WebAssembly', () => {
  it('im2col, col2im, max / avg pooling and their gradients agree bit for bit', (t) => {
    if (!rt) return t.skip(`native kernels not running: ${reason}`);
    const r = rng(7);
    const geos = [...MNIST, ...Array.from({ length: 60 }, () => randGeo(r))];
    geos.forEach((g, gi) => {
      const s = new Scratch(rt);
      try {
        const kind = gi % 4;
        const { sN, sC, sH, sW, len } = strides(g, kind);
        const { N, C, H, W, k, outH, outW } = g;
        const [kh, kw] = k;
        const what = `[${N},${C},${H},${W}] layout ${kind} k/s/p/d ${k} -> ${outH}x${outW}`;
        const x = s.f32(len, values(r, gi));
        const Q = N * C,
          P = outH * outW,
          rows = C * kh * kw;
        // a split of the planes, as two threads would take them
        const q1 = Math.max(1, Math.floor(Q / 2));
        const ranges =
          Q > 1
            ? [
                [0, q1],
                [q1, Q],
              ]
            : [[0, 1]];

        for (const [pad, byBatch] of [
          [0, false],
          [-Infinity, true],
          [1.5, false],
        ] as const) {
          const out = s.pair(N * rows * P);
          const [rowStride, imageStride] = byBatch ? [N * P, P] : [P, rows * P];
          for (const [a, b] of ranges)
            both(rt, 'im2colF32', (i) => [
              x.ptr,
              sN,
              sC,
              sH,
              sW,
              C,
              H,
              W,
              a!,
              b!,
              ...k,
              outH,
              outW,
              pad,
              rowStride,
              imageStride,
              out[i].ptr,
            ]);
          sameBits(out[0].a, out[1].a, `im2col pad ${pad} ${what}`);
        }

        // col2im of a [N, rows, P] buffer, contiguous and with every other column (sP = 2)
        for (const sP of [1, 2]) {
          const cols = s.f32(N * rows * P * sP, values(r, gi));
          const out = s.pair(Q * H * W);
          for (const [a, b] of ranges)
            both(rt, 'col2imF32', (i) => [cols.ptr, rows * P * sP, P * sP, sP, C, H, W, a!, b!, ...k, outH, outW, out[i].ptr]);
          sameBits(out[0].a, out[1].a, `col2im sP ${sP} ${what}`);
        }

        const mo = s.pair(Q * P),
          ma = s.pair(Q * P);
        for (const [a, b] of ranges)
          both(rt, 'maxPool2dF32', (i) => [x.ptr, sN, sC, sH, sW, C, H, W, a!, b!, ...k, outH, outW, mo[i].ptr, ma[i].ptr]);
        sameBits(mo[0].a, mo[1].a, `maxPool2d ${what}`);
        assert.deepEqual(
          new Int32Array(rt.heap.memory.buffer, ma[0].ptr, Q * P),
          new Int32Array(rt.heap.memory.buffer, ma[1].ptr, Q * P),
          `argmax ${what}`,
        );

        // the gradient through the argmax just found (some indices spoiled: out of the plane is skipped),
        // g and argmax contiguous, then read through strides (every other element)
        const idx = s.i32(2 * Q * P, (i) => (i % 2 ? -1 : new Int32Array(rt.heap.memory.buffer, ma[0].ptr, Q * P)[i / 2]!));
        const idxA = new Int32Array(rt.heap.memory.buffer, idx.ptr, 2 * Q * P);
        if (Q * P > 5) {
          idxA[2] = -1;
          idxA[4] = H * W;
        }
        const gy = s.f32(2 * Q * P, values(r, 0));
        for (const step of [1, 2]) {
          const out = s.pair(Q * H * W);
          const gs = [C * P * step, P * step, outW * step, step];
          for (const [a, b] of ranges)
            both(rt, 'maxPool2dBackwardF32', (i) => [gy.ptr, ...gs, idx.ptr, ...gs, C, H, W, a!, b!, outH, outW, out[i].ptr]);
          sameBits(out[0].a, out[1].a, `maxPool2dBackward step ${step} ${what}`);
        }

        for (const [flags, divisor] of [
          [0, 0],
          [1, 0],
          [0, 3],
        ]) {
          const ao = s.pair(Q * P);
          for (const [a, b] of ranges)
            both(rt, 'avgPool2dF32', (i) => [x.ptr, sN, sC, sH, sW, C, H, W, a!, b!, ...k, outH, outW, flags!, divisor!, ao[i].ptr]);
          sameBits(ao[0].a, ao[1].a, `avgPool2d flags ${flags} divisor ${divisor} ${what}`);
          const out = s.pair(Q * H * W);
          const gs = [2 * C * P, 2 * P, 2 * outW, 2];
          for (const [a, b] of ranges)
            both(rt, 'avgPool2dBackwardF32', (i) => [gy.ptr, ...gs, C, H, W, a!, b!, ...k, outH, outW, flags!, divisor!, out[i].ptr]);
          sameBits(out[0].a, out[1].a, `avgPool2dBackward flags ${flags} divisor ${divisor} ${what}`);
        }
      } finally {
        s.free();
      }
    });
  });

  it('scatterAddRows agrees bit for bit (odd row lengths, strided rows and indices, repeats)', (t) => {
    if (!rt) return t.skip(`native kernels not running: ${reason}`);
    const r = rng(8);
    for (const rowLen of [1, 3, 17, 33, 65, 1001]) {
      for (const rows of [1, 7, 65]) {
        const s = new Scratch(rt);
        try {
          const nIdx = 1 + Math.floor(r() * 40);
          const rowStride = rowLen + (rows % 2);
          const idx = s.i32(2 * nIdx, () => Math.floor(r() * rows)); // repeats are likely
          const src = s.f32(nIdx * rowStride, values(r, 2));
          const out = [s.f32(rows * rowLen), s.f32(rows * rowLen)];
          // two column bands, as two threads take them
          const c1 = Math.floor(rowLen / 2);
          for (const [c0, cEnd] of [
            [0, c1],
            [c1, rowLen],
          ])
            both(rt, 'scatterAddRowsF32', (i) => [src.ptr, rowStride, idx.ptr, 2, nIdx, rowLen, c0!, cEnd!, out[i]!.ptr]);
          sameBits(out[0]!.a, out[1]!.a, `scatterAddRows rowLen ${rowLen} rows ${rows}`);
        } finally {
          s.free();
        }
      }
    }
  });

  it('the public ops give the same bits on two threads as on one (MNIST-sized, split across threads)', (t) => {
    if (!rt) return t.skip(`native kernels not running: ${reason}`);
    const before = mox.getNumThreads();
    const run = (threads: number): Float32Array[] =>
      mox.scope(() => {
        mox.setNumThreads(threads);
        const gen = new mox.Generator(99);
        const x = mox.randn([64, 32, 26, 26], { generator: gen });
        x.requiresGrad = true;
        const w = mox.randn([64, 32, 3, 3], { generator: gen }).mul(0.1);
        const ids = mox.tensor(
          Array.from({ length: 4096 }, (_, i) => (i * 7) % 65),
          { dtype: 'int32' },
        );
        const emb = mox.randn([65, 128], { generator: gen });
        emb.requiresGrad = true;
        const pooled = F.maxPool2d(x, 2);
        const avg = F.avgPool2d(x, 3, { stride: 2, padding: 1 });
        const conv = F.conv2d(pooled, w);
        const e = F.embedding(ids, emb);
        pooled.sum().add(avg.mul(avg).sum()).add(conv.sum()).add(e.mul(e).sum()).backward();
        return [pooled, avg, x.grad!, emb.grad!].map((t) => t.dataSync() as Float32Array);
      });
    try {
      const one = run(1);
      const two = run(2);
      one.forEach((a, i) => sameBits(two[i]!, a, `public op ${i}: 2 threads vs 1`));
    } finally {
      mox.setNumThreads(before);
    }
  });
});
