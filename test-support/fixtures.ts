// Helpers shared by several test files. Kept outside test/ so `node --test dist/test/` does not run it as a test.

import * as mox from '../src/index.js';
import type { Tensor } from '../src/index.js';

/** Deterministic uniform numbers in [0, 1) from a seed (mulberry32), independent of mox's own RNG. */
export function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An IDX file: magic 0x0000<type><ndim>, big-endian dims, then `body` as given. */
export function idxFile(type: number, dims: number[], body: Uint8Array): Uint8Array {
  const head = new Uint8Array(4 + 4 * dims.length);
  const v = new DataView(head.buffer);
  v.setUint32(0, (type << 8) | dims.length, false);
  dims.forEach((d, i) => v.setUint32(4 + 4 * i, d, false));
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
}

/** Two Gaussian blobs in 2-D, centred at (-2,-2) and (2,2): [2n, 2] float32 and labels [2n] int32. */
export function blobs(n: number, seed: number): { x: Tensor; y: Tensor } {
  const g = new mox.Generator(seed);
  const xs = new Float32Array(4 * n);
  const ys = new Int32Array(2 * n);
  for (let i = 0; i < 2 * n; i++) {
    const c = i % 2;
    const m = c ? 2 : -2;
    xs[2 * i] = m + g.normal();
    xs[2 * i + 1] = m + g.normal();
    ys[i] = c;
  }
  return { x: mox.tensor(xs, { shape: [2 * n, 2] }), y: mox.tensor(ys) };
}
