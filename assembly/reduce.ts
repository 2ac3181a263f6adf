// float32 reductions in the two layouts training uses: over the innermost run of each row (softmax
// denominators, per-sample losses, mean over features) and over the outer rows for each column (bias
// gradients summed over the batch). Sums accumulate in float64 so long rows keep float32 accuracy.

// op codes: one table with the TypeScript callers (src/backend/cpu/wasm/op-codes.ts)
import { REDUCE_SUM as SUM, REDUCE_MAX as MAX, REDUCE_MIN as MIN } from '../src/backend/cpu/wasm/op-codes';

/** out[r] = reduce_i x[r*rs + i*cs], r < rows, i < n. */
export function reduceRowsF32(op: i32, rows: i32, n: i32, x: usize, rs: i32, cs: i32, o: usize): void {
  for (let r = 0; r < rows; r++) {
    const p = x + ((<usize>r * rs) << 2);
    if (op == SUM) {
      let i = 0;
      let acc0 = f64x2.splat(0), acc1 = f64x2.splat(0);
      if (cs == 1) {
        for (; i + 4 <= n; i += 4) {
          const v = v128.load(p + (<usize>i << 2));
          acc0 = f64x2.add(acc0, f64x2.promote_low_f32x4(v));
          acc1 = f64x2.add(acc1, f64x2.promote_low_f32x4(i32x4.shuffle(v, v, 2, 3, 0, 1)));
        }
      }
      const s = f64x2.add(acc0, acc1);
      let total = f64x2.extract_lane(s, 0) + f64x2.extract_lane(s, 1);
      for (; i < n; i++) total += <f64>load<f32>(p + ((<usize>i * cs) << 2));
      store<f32>(o + (<usize>r << 2), <f32>total);
    } else {
      let m = load<f32>(p);
      for (let i = 1; i < n; i++) {
        const v = load<f32>(p + ((<usize>i * cs) << 2));
        m = op == MAX ? max(m, v) : min(m, v);
      }
      store<f32>(o + (<usize>r << 2), m);
    }
  }
}

/** out[j] = reduce_r x[r*rs + j*cs] for j < n (columns), over `rows` rows; cs == 1 takes SIMD. */
export function reduceColsF32(op: i32, rows: i32, n: i32, x: usize, rs: i32, cs: i32, o: usize): void {
  // first row initialises, the rest combine; columns in blocks of 4 when contiguous
  let j = 0;
  if (cs == 1) {
    for (; j + 4 <= n; j += 4) {
      let acc = v128.load(x + (<usize>j << 2));
      for (let r = 1; r < rows; r++) {
        const v = v128.load(x + ((<usize>r * rs + j) << 2));
        acc = op == SUM ? f32x4.add(acc, v) : op == MAX ? f32x4.max(acc, v) : f32x4.min(acc, v);
      }
      v128.store(o + (<usize>j << 2), acc);
    }
  }
  for (; j < n; j++) {
    let acc = load<f32>(x + ((<usize>j * cs) << 2));
    for (let r = 1; r < rows; r++) {
      const v = load<f32>(x + ((<usize>r * rs + <usize>j * cs) << 2));
      acc = op == SUM ? acc + v : op == MAX ? max(acc, v) : min(acc, v);
    }
    store<f32>(o + (<usize>j << 2), acc);
  }
}
