// The real data of the CPU benchmark on the mox side, as bench/torch_data.py reads it for PyTorch:
// MNIST's training images in [0, 1] and Tiny Shakespeare as character ids (sorted unique characters,
// the first 90% train), from $MOX_DATA_DIR (default ../shared/data beside the repository). A missing
// file gives data of the same size drawn at random, and `source` says so, so the bench still runs.

import { join } from 'node:path';
import * as mox from '../src/index.js';
import { Rng } from './common.js';

type Tensor = mox.Tensor;

export interface MnistData {
  /** [N, 1, 28, 28] float32 in [0, 1], kept alive for the process. */
  x: Tensor;
  /** [N] int32 labels. */
  y: Tensor;
  source: string;
}

export interface TextData {
  /** The training ids (the first 90%). */
  train: Int32Array;
  vocabSize: number;
  source: string;
}

export function dataDir(root: string): string {
  return process.env.MOX_DATA_DIR ?? join(root, '..', 'shared', 'data');
}

let mnist: MnistData | null = null;
let text: TextData | null = null;

/** MNIST's 60,000 training images, loaded once per process. */
export function loadMnist(root: string): MnistData {
  if (mnist) return mnist;
  try {
    const ds = mox.data.loadDatasetSync('mnist', { split: 'train', dataDir: dataDir(root), download: false, verbose: false });
    mnist = { x: mox.keep(ds.x), y: mox.keep(ds.y), source: `mnist/train (${ds.y.shape[0]} images)` };
  } catch (e) {
    if (!(e instanceof mox.MoxError)) throw e;
    mnist = randomMnist(60000, `random (60000 images of MNIST's size: ${e.message})`);
  }
  return mnist;
}

/** n random images and labels in MNIST's shapes (not cached). */
export function randomMnist(n: number, source = `random (${n} images, no data loaded)`): MnistData {
  const rng = new Rng(7);
  return {
    x: mox.keep(
      mox.tensor(
        rng.uniformArray(n * 784, 1).map((v) => (v + 1) / 2),
        { shape: [n, 1, 28, 28] },
      ),
    ),
    y: mox.keep(mox.tensor(rng.labels(n, 10), { shape: [n], dtype: 'int32' })),
    source,
  };
}

/** n random ids of a 65-character vocabulary (not cached). */
export function randomText(n: number, source = `random (${n} ids, no data loaded)`): TextData {
  return { train: new Rng(7).labels(n, 65), vocabSize: 65, source };
}

/** Tiny Shakespeare's training ids (nanoGPT's prepare.py for shakespeare_char), loaded once. */
export function loadShakespeare(root: string): TextData {
  if (text) return text;
  try {
    const t = mox.data.loadDatasetSync('tinyshakespeare', { split: 'all', dataDir: dataDir(root), download: false, verbose: false }).text;
    const chars = [...new Set(t)].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!);
    const index = new Map(chars.map((c, i) => [c, i]));
    const ids = Int32Array.from(t, (c) => index.get(c)!);
    text = {
      train: ids.subarray(0, Math.floor(ids.length * 0.9)),
      vocabSize: chars.length,
      source: `tinyshakespeare/input.txt (${ids.length} characters, vocab ${chars.length})`,
    };
  } catch (e) {
    if (!(e instanceof mox.MoxError)) throw e;
    text = randomText(1003854, `random (1003854 ids, vocab 65: ${e.message})`);
  }
  return text;
}

/** nanoGPT's get_batch: `batch` random windows of `block` ids and the windows one to the right. */
export function gptBatch(ids: Int32Array, block: number, batch: number, rng: Rng): { x: Tensor; y: Tensor } {
  const xs = new Int32Array(batch * block);
  const ys = new Int32Array(batch * block);
  for (let r = 0; r < batch; r++) {
    const i = Math.floor(rng.uniform() * (ids.length - block));
    xs.set(ids.subarray(i, i + block), r * block);
    ys.set(ids.subarray(i + 1, i + 1 + block), r * block);
  }
  return { x: mox.tensor(xs, { shape: [batch, block], dtype: 'int32' }), y: mox.tensor(ys, { shape: [batch, block], dtype: 'int32' }) };
}
