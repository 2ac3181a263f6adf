// The tests' one close-enough assertion, with PyTorch's allclose rule: |actual - expected| <= atol +
// rtol * |expected| elementwise (equal values, infinities included, always pass). NaN equals NaN only
// with equalNan, as torch.allclose(equal_nan=True). On failure the message names how many elements
// differ and the worst one: its index, both values and the difference.

import assert from 'node:assert/strict';
import { Tensor } from '../src/index.js';

/** A CPU tensor, a typed array, a number array (nested or flat) or a number. */
export type Numeric = Tensor | ArrayLike<number> | number | readonly Numeric[];

export interface CloseOptions {
  /** Absolute tolerance (default 1e-8, as PyTorch). */
  atol?: number;
  /** Relative tolerance, times |expected| (default 1e-5, as PyTorch). */
  rtol?: number;
  /** NaN matches NaN (default false: a NaN anywhere fails). */
  equalNan?: boolean;
  /** What is compared, to open the message. */
  msg?: string;
}

function shapeOf(x: Numeric): number[] | null {
  if (x instanceof Tensor) return [...x.shape];
  if (typeof x === 'number') return [];
  if (Array.isArray(x) && x.length > 0 && typeof x[0] !== 'number') {
    const inner = shapeOf(x[0] as Numeric);
    return inner && [x.length, ...inner];
  }
  return [(x as ArrayLike<number>).length];
}

/** The values of x in row-major order. */
export function flat(x: Numeric): ArrayLike<number> {
  if (x instanceof Tensor) return x.dataSync() as ArrayLike<number>;
  if (typeof x === 'number') return [x];
  if (Array.isArray(x) && x.some((v) => typeof v !== 'number')) return (x as Numeric[]).flatMap((v) => Array.from(flat(v)));
  return x as ArrayLike<number>;
}

const closeAt = (a: number, e: number, atol: number, rtol: number, equalNan: boolean): boolean =>
  a === e || Math.abs(a - e) <= atol + rtol * Math.abs(e) || (equalNan && Number.isNaN(a) && Number.isNaN(e));

/** [i, j, ...] of flat index k in `shape` (the flat index itself for 1-D or unknown shapes). */
function indexIn(shape: number[] | null, k: number): string {
  if (!shape || shape.length < 2) return String(k);
  const idx: number[] = [];
  for (let d = shape.length - 1; d >= 0; d--) {
    idx.unshift(k % shape[d]!);
    k = Math.floor(k / shape[d]!);
  }
  return `[${idx.join(', ')}]`;
}

/**
 * Asserts actual ~ expected under the allclose rule. Tensors must agree in shape; any other pair in
 * number of elements. Tensors are read with dataSync (CPU); read GPU results first.
 */
export function assertClose(actual: Numeric, expected: Numeric, opts: CloseOptions = {}): void {
  const { atol = 1e-8, rtol = 1e-5, equalNan = false, msg = 'values' } = opts;
  if (actual instanceof Tensor && expected instanceof Tensor) {
    assert.deepEqual([...actual.shape], [...expected.shape], `${msg}: shape`);
  }
  const a = flat(actual);
  const e = flat(expected);
  assert.equal(a.length, e.length, `${msg}: number of elements`);
  let ok = true;
  // the message is built only on failure: some callers compare ~10^6 elements
  for (let i = 0; i < e.length; i++) {
    if (!closeAt(a[i]!, e[i]!, atol, rtol, equalNan)) {
      ok = false;
      break;
    }
  }
  if (ok) return;
  let bad = 0;
  let worst = -1;
  let worstExcess = -1;
  for (let i = 0; i < e.length; i++) {
    const x = a[i]!;
    const y = e[i]!;
    if (closeAt(x, y, atol, rtol, equalNan)) continue;
    bad++;
    const excess = Number.isNaN(x - y) ? Infinity : Math.abs(x - y) - (atol + rtol * Math.abs(y));
    if (excess > worstExcess) {
      worst = i;
      worstExcess = excess;
    }
  }
  const x = a[worst]!;
  const y = e[worst]!;
  const where = indexIn(shapeOf(expected) ?? shapeOf(actual), worst);
  assert.fail(
    `${msg}: ${bad} of ${e.length} elements differ beyond atol ${atol} + rtol ${rtol} * |expected|; ` +
      `worst at ${where}: got ${x}, expected ${y} (|difference| ${Math.abs(x - y)})`,
  );
}

/** The largest |a - b| over the elements (tensors must agree in shape); NaN if either holds a NaN there. */
export function maxAbsDiff(actual: Numeric, expected: Numeric): number {
  if (actual instanceof Tensor && expected instanceof Tensor) assert.deepEqual([...actual.shape], [...expected.shape], 'shape');
  const a = flat(actual);
  const e = flat(expected);
  assert.equal(a.length, e.length, 'number of elements');
  let m = 0;
  for (let i = 0; i < e.length; i++) m = Math.max(m, Math.abs(a[i]! - e[i]!));
  return m;
}
