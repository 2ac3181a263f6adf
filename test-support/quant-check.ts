// The quantized kernels of the running CPU tier against the host reference (backend/quant-format.ts),
// on odd shapes and sizes on both sides of the thread split. A test runs it in-process (the default
// tier: native where built, else relaxed SIMD) and in child processes with MOX_CPU_KERNELS set to each
// other tier (relaxed-simd, simd, typescript, and the other native levels), so every tier is checked.

import * as mox from '../src/index.js';
import { quantMatmulReference, type QuantScheme } from '../src/backend/quant-format.js';
import { QuantizedWeight, quantizedLinear } from '../src/ops/quant.js';

export const SHAPES: [number, number, number][] = [
  [1, 7, 5],
  [3, 33, 70],
  [5, 130, 100],
  [1, 2304, 768],
  [17, 64, 768],
  [6, 300, 3072],
  [2, 9, 129],
];

/** Each case's worst |kernel - reference| / max|reference|, as lines 'scheme M N K bias threads: err'. */
export function quantKernelErrors(): { line: string; err: number }[] {
  const out: { line: string; err: number }[] = [];
  const g = new mox.Generator(7);
  for (const threads of [1, 2]) {
    mox.setNumThreads(threads);
    for (const scheme of ['int8', 'dynamic-int8', 'int4'] as QuantScheme[]) {
      for (const [M, N, K] of SHAPES) {
        for (const withBias of [false, true]) {
          mox.scope(() => {
            const w = mox.randn([N, K], { generator: g });
            // rows spaced wider than K (a column slice), as the kernels take them without a copy
            const x = mox.randn([M, K + 3], { generator: g }).narrow(1, 0, K);
            const b = withBias ? mox.randn([N], { generator: g }) : null;
            const qw = QuantizedWeight.quantize(w, scheme);
            const y = mox.noGrad(() => quantizedLinear(x, qw, b)).dataSync();
            const ref = new Float64Array(M * N);
            quantMatmulReference(x.contiguous().dataSync(), M, qw.packed(), b ? b.dataSync() : null, ref);
            let err = 0;
            let mag = 0;
            for (let i = 0; i < ref.length; i++) {
              err = Math.max(err, Math.abs(y[i]! - ref[i]!));
              mag = Math.max(mag, Math.abs(ref[i]!));
            }
            out.push({ line: `${scheme} ${M}x${N}x${K} bias=${withBias} threads=${threads}`, err: err / mag });
            qw.dispose();
          });
        }
      }
    }
  }
  return out;
}

// run as a script (a child process of the test): print the results as JSON
if (process.argv[2] === '--print') {
  console.log(JSON.stringify({ tier: mox.backendInfo()['kernels'] ?? null, results: quantKernelErrors() }));
}
