// Tests for mox.data: DataLoader order, seeds and batch shapes; splits; transforms and seeded
// augmentation (shapes, determinism, hand-checked flips, crops, rotations, zooms); the IDX, CIFAR-10,
// CSV, text and tar readers on files written here, and on corrupted copies, with the exact messages;
// named datasets resolved from MOX_DATA_DIR / dataDir / the cache; downloads from a loopback server
// with sha256 checks; and the offline error.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as mox from '../src/index.js';
import type { Tensor } from '../src/index.js';
import { idxFile } from '../test-support/fixtures.js';

const D = mox.data;
const tmp = mkdtempSync(join(tmpdir(), 'mox-data-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const list = (t: Tensor): number[] => Array.from(t.dataSync());
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function dir(...parts: string[]): string {
  const d = join(tmp, ...parts);
  mkdirSync(d, { recursive: true });
  return d;
}

/** Runs fn with environment variables set (undefined: unset), restoring them after. */
async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => T | Promise<T>): Promise<T> {
  const old: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(vars)) {
    old[k] = process.env[k];
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(old)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** n images of h x w with pixel value (i * 7 + p) % 256, and labels i % 10. */
function mnistFiles(n: number, h = 4, w = 3): { images: Uint8Array; labels: Uint8Array } {
  const px = Uint8Array.from({ length: n * h * w }, (_, k) => (Math.floor(k / (h * w)) * 7 + (k % (h * w))) % 256);
  return {
    images: idxFile(0x08, [n, h, w], px),
    labels: idxFile(
      0x08,
      [n],
      Uint8Array.from({ length: n }, (_, i) => i % 10),
    ),
  };
}

/** CIFAR-10 records with label (i + offset) % 10 and pixel p of record i = (i + p) % 256. */
function cifarRecords(n: number, offset = 0): Uint8Array {
  const out = new Uint8Array(n * 3073);
  for (let i = 0; i < n; i++) {
    out[i * 3073] = (i + offset) % 10;
    for (let p = 0; p < 3072; p++) out[i * 3073 + 1 + p] = (i + offset + p) % 256;
  }
  return out;
}

function writeMnist(folder: string, split: 'train' | 't10k', n: number, gz: boolean): void {
  const { images, labels } = mnistFiles(n);
  writeFileSync(join(folder, `${split}-images-idx3-ubyte${gz ? '.gz' : ''}`), gz ? gzipSync(images) : images);
  writeFileSync(join(folder, `${split}-labels-idx1-ubyte${gz ? '.gz' : ''}`), gz ? gzipSync(labels) : labels);
}

// ---------------------------------------------------------------------------------------------

describe('TensorDataset and DataLoader', () => {
  const x = mox.arange(0, 20).reshape([10, 2]).float();
  const y = mox.arange(0, 10);
  const ds = new D.TensorDataset(x, y);

  it('TensorDataset indexes the first dimension and returns tuples', () => {
    assert.equal(ds.length, 10);
    const [xi, yi] = ds.get(3);
    assert.deepEqual(xi!.shape, [2]);
    assert.deepEqual(list(xi!), [6, 7]);
    assert.equal(yi!.item(), 3);
    assert.equal(ds.get(-1)[1]!.item(), 9);
    assert.throws(
      () => ds.get(10),
      (e: unknown) =>
        e instanceof mox.IndexError && (e as Error).message === 'TensorDataset: index 10 is out of range for a dataset of 10 examples',
    );
    assert.throws(
      () => new D.TensorDataset(x, mox.arange(0, 9)),
      /TensorDataset: all tensors must have the same size in the first dimension: \[10,2\], \[9\]/,
    );
    assert.equal([...ds].length, 10);
  });

  it('without shuffle: batches in order, the last one partial, dropLast drops it', () => {
    const dl = new D.DataLoader(ds, { batchSize: 4 });
    assert.equal(dl.length, 3);
    const batches = [...dl];
    assert.deepEqual(
      batches.map(([bx]) => bx!.shape),
      [
        [4, 2],
        [4, 2],
        [2, 2],
      ],
    );
    assert.deepEqual(
      batches.map(([, by]) => list(by!)),
      [
        [0, 1, 2, 3],
        [4, 5, 6, 7],
        [8, 9],
      ],
    );
    assert.equal(batches[0]![1]!.dtype, 'int32');
    const dropped = new D.DataLoader(ds, { batchSize: 4, dropLast: true });
    assert.equal(dropped.length, 2);
    assert.deepEqual(
      [...dropped].map(([, by]) => list(by!)),
      [
        [0, 1, 2, 3],
        [4, 5, 6, 7],
      ],
    );
    assert.deepEqual(
      [...new D.DataLoader(ds, { batchSize: 20 })].map(([, by]) => by!.shape),
      [[10]],
    );
    assert.equal(new D.DataLoader(ds, { batchSize: 20, dropLast: true }).length, 0);
    assert.throws(() => new D.DataLoader(ds, { batchSize: 0 }), /DataLoader: batchSize must be a positive integer, got 0/);
  });

  const order = (dl: mox.data.DataLoader<Tensor[]>): number[] => [...dl].flatMap(([, by]) => list(by!));

  it('a seed gives the same shuffles for every loader, a new one each epoch, and setEpoch replays one', () => {
    const a = new D.DataLoader(ds, { batchSize: 3, shuffle: true, seed: 42 });
    const b = new D.DataLoader(ds, { batchSize: 3, shuffle: true, seed: 42 });
    const a0 = order(a),
      a1 = order(a),
      a2 = order(a);
    assert.deepEqual(order(b), a0);
    assert.deepEqual(order(b), a1);
    assert.deepEqual(
      [...a0].sort((p, q) => p - q),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
    assert.deepEqual(
      [...a1].sort((p, q) => p - q),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
    assert.notDeepEqual(a0, a1);
    assert.notDeepEqual(a1, a2);
    assert.notDeepEqual(a0, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.notDeepEqual(order(new D.DataLoader(ds, { batchSize: 3, shuffle: true, seed: 43 })), a0);
    a.setEpoch(1);
    assert.deepEqual(order(a), a1);
    assert.equal(a.epoch, 2);
  });

  it('a generator is drawn from epoch after epoch; with neither, mox.seed() fixes the order', () => {
    const g1 = new D.DataLoader(ds, { batchSize: 5, shuffle: true, generator: new mox.Generator(7) });
    const g2 = new D.DataLoader(ds, { batchSize: 5, shuffle: true, generator: new mox.Generator(7) });
    const first = order(g1);
    assert.deepEqual(order(g2), first);
    assert.notDeepEqual(order(g1), first);
    mox.seed(5);
    const s1 = order(new D.DataLoader(ds, { batchSize: 5, shuffle: true }));
    mox.seed(5);
    assert.deepEqual(order(new D.DataLoader(ds, { batchSize: 5, shuffle: true })), s1);
  });

  it('each batch is made on demand and the batch order is fixed when iteration starts', () => {
    const dl = new D.DataLoader(ds, { batchSize: 4, shuffle: true, seed: 1 });
    const it = dl[Symbol.iterator]();
    const firstBatch = it.next().value as Tensor[];
    assert.equal(firstBatch[0]!.shape[0], 4);
    assert.equal(dl.epoch, 1);
    let count = 1;
    while (!it.next().done) count++;
    assert.equal(count, 3);
  });

  it('the default collate stacks tensors and turns numbers and objects into tensors', () => {
    class Pairs extends D.Dataset<[Tensor, number]> {
      get length(): number {
        return 5;
      }
      get(i: number): [Tensor, number] {
        return [mox.full([2, 2], i), i * 10];
      }
    }
    const [bx, by] = [...new D.DataLoader(new Pairs(), { batchSize: 2 })][2]!;
    assert.deepEqual(bx.shape, [1, 2, 2]);
    assert.deepEqual(list(by as unknown as Tensor), [40]);
    const c = D.defaultCollate<{ a: Tensor; b: Tensor }>([
      { a: 1.5, b: true },
      { a: 2, b: false },
    ]);
    assert.equal(c.a.dtype, 'float32');
    assert.equal(c.b.dtype, 'bool');
    const mapped = new Pairs().map(([t, n]) => [t.sum(), n] as [Tensor, number]);
    assert.deepEqual(list([...new D.DataLoader(mapped, { batchSize: 5 })][0]![0]), [0, 4, 8, 12, 16]);
  });

  it('collate and transform options', () => {
    const dl = new D.DataLoader(ds, {
      batchSize: 5,
      collate: (items) => items.map(([, yi]) => yi!.item()),
      transform: (b) => b.map((v) => v * 2),
    });
    assert.deepEqual(
      [...dl],
      [
        [0, 2, 4, 6, 8],
        [10, 12, 14, 16, 18],
      ],
    );
  });

  it('a Subset of a TensorDataset batches through the fast path with the same result', () => {
    const sub = new D.Subset(ds, [9, 2, 5]);
    assert.ok(sub.getBatch);
    const [fast] = [...new D.DataLoader(sub, { batchSize: 3 })];
    const [slow] = [...new D.DataLoader(sub, { batchSize: 3, collate: (items) => D.defaultCollate(items) })];
    assert.deepEqual(list(fast![0]!), list((slow as Tensor[])[0]!));
    assert.deepEqual(list(fast![1]!), [9, 2, 5]);
  });
});

describe('splits', () => {
  const ds = new D.TensorDataset(mox.arange(0, 10));
  const members = (s: mox.data.Subset<Tensor[]>): number[] => [...s].map(([v]) => v!.item());

  it('randomSplit by counts and by fractions: disjoint, complete, reproducible', () => {
    const [a, b] = D.randomSplit(ds, [7, 3], 1);
    assert.equal(a!.length, 7);
    assert.equal(b!.length, 3);
    assert.deepEqual(
      [...members(a!), ...members(b!)].sort((p, q) => p - q),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
    const [a2] = D.randomSplit(ds, [7, 3], 1);
    assert.deepEqual(members(a2!), members(a!));
    // fractions: floor(3.33) = 3 each, the remaining 1 goes to the first
    assert.deepEqual(
      D.randomSplit(ds, [1 / 3, 1 / 3, 1 / 3], 2).map((s) => s.length),
      [4, 3, 3],
    );
    assert.throws(
      () => D.randomSplit(ds, [5, 4]),
      /randomSplit: lengths \[5, 4\] must be counts summing to the dataset's length \(10\) or fractions summing to 1/,
    );
  });

  it('trainValidationSplit: shuffled by default, the last fraction without shuffle (as Keras)', () => {
    const [tr, va] = D.trainValidationSplit(ds, 0.2, { shuffle: false });
    assert.deepEqual(members(tr), [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual(members(va), [8, 9]);
    const [tr2, va2] = D.trainValidationSplit(ds, 0.25, { seed: 3 });
    assert.equal(tr2.length, 8);
    assert.equal(va2.length, 2);
    assert.deepEqual(members(D.trainValidationSplit(ds, 0.25, { seed: 3 })[1]), members(va2));
    assert.throws(() => D.trainValidationSplit(ds, 1), /validationFraction must be in \(0, 1\), got 1/);
  });
});

describe('transforms', () => {
  it('normalize per channel on images and batches, or with one value', () => {
    const img = mox.tensor([[[1, 3]], [[10, 30]]]); // [2,1,2]
    const norm = D.normalize([1, 10], [2, 10]);
    assert.deepEqual(list(norm(img)), [0, 1, 0, 2]);
    assert.deepEqual(list(norm(img.unsqueeze(0))), [0, 1, 0, 2]);
    assert.deepEqual(list(D.normalize(1, 2)(mox.tensor([1, 5]))), [0, 2]);
    assert.deepEqual(
      list(
        D.normalize(
          [1, 2],
          [1, 2],
        )(
          mox.tensor([
            [1, 2],
            [3, 6],
          ]),
        ),
      ),
      [0, 0, 2, 2],
    );
    assert.throws(() => norm(mox.zeros([3, 1, 2])), /normalize: 2 channel values but dimension 0 of \[3,1,2\] has size 3/);
    assert.throws(() => D.normalize([0], [0]), /std must be finite and non-zero/);
  });

  it('oneHot, and its range check', () => {
    const t = D.toOneHot(mox.tensor([2, 0]), 3);
    assert.deepEqual(t.shape, [2, 3]);
    assert.deepEqual(list(t), [0, 0, 1, 1, 0, 0]);
    assert.deepEqual(list(D.oneHot(2)([1])), [0, 1]);
    assert.throws(
      () => D.toOneHot(mox.tensor([3]), 3),
      (e: unknown) => e instanceof mox.IndexError && /label 3 at position 0 is not a class index in \[0, 3\)/.test((e as Error).message),
    );
  });

  it('toTensor: HWC bytes to CHW float / 255; tensors [H,W,C] and batches [N,H,W,C]', () => {
    const raw = { data: Uint8Array.from([0, 255, 51, 102, 204, 153]), height: 1, width: 2 }; // 2 pixels, 3 channels
    const t = D.toTensor()(raw);
    assert.deepEqual(t.shape, [3, 1, 2]);
    const v = list(t);
    [0, 102 / 255, 1, 204 / 255, 0.2, 0.6].forEach((e, i) => assert.ok(Math.abs(v[i]! - e) < 1e-6, `${v}`));
    const hwc = mox.tensor([
      [
        [0, 255, 51],
        [102, 204, 153],
      ],
    ]);
    assert.deepEqual(list(D.toTensor()(hwc)), v);
    assert.deepEqual(D.toTensor()(hwc.unsqueeze(0)).shape, [1, 3, 1, 2]);
    assert.deepEqual(list(D.toTensor({ scale: false })(mox.tensor([[1, 2]]))), [1, 2]);
    assert.throws(() => D.toTensor()({ data: new Uint8Array(5), height: 1, width: 2 }), /toTensor: image data has 5 values/);
  });

  it('compose applies left to right', () => {
    const f = D.compose(D.normalize(1, 2), (x: Tensor) => x.mul(10));
    assert.deepEqual(list(f(mox.tensor([3]))), [10]);
  });
});

/** A generator whose integer draws are always the lowest (or highest) value, and uniform draws fixed. */
class FixedGenerator extends mox.Generator {
  constructor(
    private readonly high = false,
    private readonly u = 0,
  ) {
    super(0);
  }
  override int(low: number, high: number): number {
    return this.high ? high - 1 : low;
  }
  override random(): number {
    return this.u;
  }
}

describe('augmentation', () => {
  const img = mox.tensor([
    [
      [1, 2, 3],
      [4, 5, 6],
      [7, 8, 9],
    ],
  ]); // [1,3,3]

  it('horizontal and vertical flips, hand-checked', () => {
    assert.deepEqual(list(D.randomHorizontalFlip(1)(img)), [3, 2, 1, 6, 5, 4, 9, 8, 7]);
    assert.deepEqual(list(D.randomVerticalFlip(1)(img)), [7, 8, 9, 4, 5, 6, 1, 2, 3]);
    assert.deepEqual(list(D.randomHorizontalFlip(0)(img)), list(img));
  });

  it('random crop with padding, hand-checked at both extreme offsets', () => {
    const topLeft = D.randomCrop(2, { padding: 1, generator: new FixedGenerator(false) })(img);
    assert.deepEqual(topLeft.shape, [1, 2, 2]);
    assert.deepEqual(list(topLeft), [0, 0, 0, 1]);
    const bottomRight = D.randomCrop(2, { padding: 1, fill: -1, generator: new FixedGenerator(true) })(img);
    assert.deepEqual(list(bottomRight), [9, -1, -1, -1]);
    assert.deepEqual(list(D.randomCrop(3)(img)), list(img));
    assert.throws(() => D.randomCrop(4)(img), /randomCrop: crop 4x4 is larger than the padded image 3x3/);
  });

  it('rotation by 90 degrees is counter-clockwise (nearest exact, bilinear within rounding)', () => {
    const ccw = [3, 6, 9, 2, 5, 8, 1, 4, 7];
    assert.deepEqual(list(D.randomRotation([90, 90], { interpolation: 'nearest' })(img)), ccw);
    list(D.randomRotation([90, 90])(img)).forEach((v, i) => assert.ok(Math.abs(v - ccw[i]!) < 1e-4, `${i}: ${v}`));
    // a uniform draw of 0 from [-d, d] is -d: clockwise
    assert.deepEqual(
      list(D.randomRotation(90, { interpolation: 'nearest', generator: new FixedGenerator(false, 0) })(img)),
      [7, 4, 1, 8, 5, 2, 9, 6, 3],
    );
  });

  it('zoom out by 2 keeps the centre and fills the border', () => {
    const out = D.randomScale([0.5, 0.5], { interpolation: 'nearest' })(mox.ones([1, 4, 4]));
    assert.deepEqual(list(out), [0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0]);
    assert.deepEqual(list(D.randomScale([1, 1])(img)), list(img));
  });

  it('batches keep their shape, each image draws its own, and equal generators give equal outputs', () => {
    const batch = mox.rand([6, 3, 8, 8], { generator: new mox.Generator(1) });
    const pipeline = (seed: number): mox.data.Transform => {
      const g = new mox.Generator(seed);
      return D.compose(
        D.randomCrop(8, { padding: 2, generator: g }),
        D.randomHorizontalFlip(0.5, { generator: g }),
        D.randomAffine({ degrees: 15, scale: [0.9, 1.1], translate: [0.1, 0.1], generator: g }),
      );
    };
    const a = pipeline(3)(batch);
    assert.deepEqual(a.shape, [6, 3, 8, 8]);
    assert.deepEqual(list(pipeline(3)(batch)), list(a));
    assert.notDeepEqual(list(pipeline(4)(batch)), list(a));
    assert.deepEqual(D.randomCrop(6, { generator: new mox.Generator(1) })(batch).shape, [6, 3, 6, 6]);
    // images of one batch get different flips: with p=0.5 over 64 images, some flip and some do not
    const flips = D.randomHorizontalFlip(0.5, { generator: new mox.Generator(9) })(
      mox.tensor([0, 1]).reshape([1, 1, 1, 2]).expand([64, 1, 1, 2]).contiguous(),
    );
    const firsts = list(flips).filter((_, i) => i % 2 === 0);
    assert.ok(firsts.includes(0) && firsts.includes(1));
    assert.throws(
      () => D.randomHorizontalFlip()(mox.zeros([2, 2])),
      /randomHorizontalFlip: expected an image \[C,H,W\] or a batch \[N,C,H,W\], got \[2,2\]/,
    );
  });

  // No time is asserted (the machine is shared): bench:cpu is where speed is measured.
  it('augments a whole CIFAR batch at once, keeping its shape and value range', () => {
    const batch = mox.rand([128, 3, 32, 32]);
    const aug = D.compose(D.randomCrop(32, { padding: 4 }), D.randomHorizontalFlip(), D.randomRotation(15));
    const out = aug(batch);
    assert.deepEqual(out.shape, [128, 3, 32, 32]);
    const v = out.dataSync() as Float32Array;
    assert.ok(
      v.every((x) => x >= -1e-6 && x <= 1 + 1e-6),
      'values stay in [0, 1]',
    );
  });
});

// ---------------------------------------------------------------------------------------------

describe('IDX reader', () => {
  const folder = dir('idx');
  const { images, labels } = mnistFiles(5);
  const imgPath = join(folder, 'img-idx3-ubyte');
  const imgGz = join(folder, 'img-idx3-ubyte.gz');
  const lblPath = join(folder, 'lbl-idx1-ubyte.gz');
  before(() => {
    writeFileSync(imgPath, images);
    writeFileSync(imgGz, gzipSync(images));
    writeFileSync(lblPath, gzipSync(labels));
  });

  it('reads images raw and gzip to [N,1,H,W] float32 / 255, labels to int32', () => {
    for (const p of [imgPath, imgGz]) {
      const x = D.readMnistImages(p);
      assert.deepEqual(x.shape, [5, 1, 4, 3]);
      assert.equal(x.dtype, 'float32');
      const v = list(x);
      assert.ok(Math.abs(v[12 + 5]! - (7 + 5) / 255) < 1e-7);
    }
    assert.deepEqual(
      list(D.readMnistImages(imgPath, { scale: 'raw', limit: 1 })),
      Array.from({ length: 12 }, (_, k) => k),
    );
    const y = D.readMnistLabels(lblPath);
    assert.equal(y.dtype, 'int32');
    assert.deepEqual(list(y), [0, 1, 2, 3, 4]);
    const arr = D.readIdx(imgGz);
    assert.equal(arr.dtype, 'uint8');
    assert.deepEqual(arr.shape, [5, 4, 3]);
  });

  it('parses the other element types big-endian', () => {
    const body = new Uint8Array(8);
    new DataView(body.buffer).setInt16(0, -2, false);
    new DataView(body.buffer).setInt16(2, 300, false);
    new DataView(body.buffer).setFloat32(4, 1.5, false);
    assert.deepEqual(Array.from(D.parseIdx(idxFile(0x0b, [2], body.subarray(0, 4))).data), [-2, 300]);
    assert.deepEqual(Array.from(D.parseIdx(idxFile(0x0d, [1], body.subarray(4))).data), [1.5]);
  });

  it('truncated, padded, malformed and mismatched files get a DataError naming the file and the fault', () => {
    const bad = (name: string, bytes: Uint8Array): string => {
      const p = join(folder, name);
      writeFileSync(p, bytes);
      return p;
    };
    const expectError = (fn: () => unknown, message: string): void => {
      assert.throws(fn, (e: unknown) => {
        assert.ok(e instanceof mox.DataError, `not a DataError: ${e}`);
        assert.equal((e as Error).message, message);
        return true;
      });
    };
    const cut = bad('cut', images.subarray(0, images.length - 10));
    expectError(
      () => D.readMnistImages(cut),
      `idx: ${cut}: truncated: the header declares 5x4x3 uint8 (60 bytes of data) but only 50 bytes follow the 16-byte header`,
    );
    const cutGz = bad('cut.gz', gzipSync(images.subarray(0, images.length - 10)));
    expectError(
      () => D.readMnistImages(cutGz),
      `idx: ${cutGz}: truncated: the header declares 5x4x3 uint8 (60 bytes of data) but only 50 bytes follow the 16-byte header`,
    );
    const longer = bad('longer', Uint8Array.from([...images, 1, 2]));
    expectError(
      () => D.readMnistImages(longer),
      `idx: ${longer}: 2 unexpected bytes after the 60 bytes of data the header declares (5x4x3 uint8)`,
    );
    const gz = gzipSync(images);
    const brokenGz = bad('broken.gz', gz.subarray(0, Math.floor(gz.length / 2)));
    expectError(() => D.readMnistImages(brokenGz), `idx: ${brokenGz}: corrupt or truncated gzip data (unexpected end of file)`);
    const notIdx = bad('notidx', Uint8Array.from([0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0]));
    expectError(() => D.readIdx(notIdx), `idx: ${notIdx}: not an IDX file (magic 0x12345678 should start with two zero bytes)`);
    const badType = bad('badtype', Uint8Array.from([0, 0, 0x07, 1, 0, 0, 0, 0]));
    expectError(() => D.readIdx(badType), `idx: ${badType}: unknown IDX element type 0x07 (magic 0x00000701)`);
    const shortHead = bad('shorthead', images.subarray(0, 10));
    expectError(() => D.readIdx(shortHead), `idx: ${shortHead}: truncated header: 3 dimensions need 16 bytes, the file has 10`);
    const tiny = bad('tiny', Uint8Array.from([0, 0]));
    expectError(() => D.readIdx(tiny), `idx: ${tiny}: 2 bytes is too short for an IDX header`);
    expectError(
      () => D.readMnistImages(lblPath),
      `idx: ${lblPath}: expected an IDX image file (magic 0x00000803), got magic 0x00000801 (5 uint8)`,
    );
    expectError(
      () => D.readMnistLabels(imgPath),
      `idx: ${imgPath}: expected an IDX label file (magic 0x00000801), got magic 0x00000803 (5x4x3 uint8)`,
    );
    const missing = join(folder, 'nope');
    expectError(() => D.readIdx(missing), `idx: ${missing}: no such file`);
  });
});

describe('CIFAR-10 reader', () => {
  const folder = dir('cifar-reader');
  const one = join(folder, 'a.bin');
  const two = join(folder, 'b.bin.gz');
  before(() => {
    writeFileSync(one, cifarRecords(3));
    writeFileSync(two, gzipSync(cifarRecords(2, 3)));
  });

  it('reads records into [N,3,32,32] float32 (channel-first as stored) and int32 labels, over several files', () => {
    const { images, labels } = D.readCifar10([one, two]);
    assert.deepEqual(images.shape, [5, 3, 32, 32]);
    assert.deepEqual(list(labels), [0, 1, 2, 3, 4]);
    const v = list(images);
    // record 1, green channel (p = 1024 + 0): (1 + 1024) % 256 = 1
    assert.ok(Math.abs(v[3072 + 1024]! - 1 / 255) < 1e-7);
    const raw = D.readCifar10(two, { scale: 'raw' }).images;
    assert.equal(list(raw)[5], 8);
    assert.deepEqual(D.readCifar10([one, two], { limit: 4 }).labels.shape, [4]);
  });

  it('a length that is not a multiple of 3073, a bad label, or an empty file is a DataError', () => {
    const cut = join(folder, 'cut.bin');
    writeFileSync(cut, cifarRecords(2).subarray(0, 3073 * 2 - 1));
    assert.throws(
      () => D.readCifar10(cut),
      (e: unknown) =>
        e instanceof mox.DataError &&
        (e as Error).message ===
          `cifar10: ${cut}: 6145 bytes is not a whole number of 3073-byte records (1 label + 3072 pixels): 1 records and 3072 bytes over`,
    );
    const labelled = cifarRecords(2);
    labelled[3073] = 12;
    const badLabel = join(folder, 'label.bin');
    writeFileSync(badLabel, labelled);
    assert.throws(() => D.readCifar10(badLabel), {
      message: `cifar10: ${badLabel}: record 1 has label 12, expected 0-9 (is this CIFAR-100 or not a CIFAR-10 file?)`,
    });
    const empty = join(folder, 'empty.bin');
    writeFileSync(empty, new Uint8Array(0));
    assert.throws(() => D.readCifar10(empty), { message: `cifar10: ${empty}: the file is empty` });
  });
});

describe('CSV and text readers', () => {
  const folder = dir('csv');

  it('detects the header, handles quotes, CRLF and empty fields, maps class names to indices', () => {
    const p = join(folder, 'iris.csv');
    writeFileSync(p, 'sepal length,"width, cm",species\r\n5.1,3.5,setosa\r\n"6.2",,"vir""ginica"\r\n4.9,3.0,setosa\r\n');
    const d = D.readCsv(p, { labelColumn: 'species' });
    assert.deepEqual(d.columns, ['sepal length', 'width, cm']);
    assert.deepEqual(d.x.shape, [3, 2]);
    const v = list(d.x);
    assert.ok(Math.abs(v[0]! - 5.1) < 1e-6 && Number.isNaN(v[3]!));
    assert.deepEqual(d.classes, ['setosa', 'vir"ginica']);
    assert.deepEqual(list(d.y!), [0, 1, 0]);
    assert.equal(d.y!.dtype, 'int32');
  });

  it('no header, numeric labels by index, quoted newlines, selected columns', () => {
    const t = D.parseCsv('1,"a\nb",2\n3,c,4\n');
    assert.equal(t.header, null);
    assert.deepEqual(t.rows, [
      ['1', 'a\nb', '2'],
      ['3', 'c', '4'],
    ]);
    assert.deepEqual(t.lines, [1, 3]);
    const d = D.csvToTensors('1,2,0\n3,4,1\n5,6,1', { labelColumn: 2 });
    assert.deepEqual(d.columns, ['0', '1']);
    assert.deepEqual(list(d.y!), [0, 1, 1]);
    assert.deepEqual(list(D.csvToTensors('a;b\n1;2.5', { delimiter: ';', columns: ['b'] }).x), [2.5]);
    assert.deepEqual(list(D.csvToTensors('x,y\n1,0.5', { labelColumn: 'y' }).y!), [0.5]);
    assert.equal(D.parseCsv('a,b\n1,2', { header: false }).rows.length, 2);
  });

  it('malformed CSV gets a DataError with the line', () => {
    assert.throws(() => D.csvToTensors('a,b\n1,2\n3', {}, 'f.csv'), {
      message: 'csv: f.csv: line 3: 1 fields, expected 2 like the first row',
    });
    assert.throws(() => D.parseCsv('a,b\n1,"2\n3,4', {}, 'f.csv'), { message: 'csv: f.csv: line 2: unterminated quoted field' });
    assert.throws(() => D.parseCsv('a,"b"c\n', {}, 'f.csv'), { message: 'csv: f.csv: line 1: unexpected "c" after a closing quote' });
    assert.throws(() => D.csvToTensors('a,b\n1,2\n3,x4', { header: true }, 'f.csv'), {
      message: 'csv: f.csv: line 3, column \'b\': "x4" is not a number',
    });
    assert.throws(() => D.csvToTensors('a,b\n1,2', { labelColumn: 'c' }, 'f.csv'), {
      message: "csv: f.csv: no column named 'c' (columns: a, b)",
    });
  });

  it('text: the whole file or its lines, gzip or not', () => {
    const p = join(folder, 'lines.txt.gz');
    writeFileSync(p, gzipSync(Buffer.from('\ufeffone\r\ntwo\n\nthree\n')));
    assert.equal(D.readText(p), 'one\r\ntwo\n\nthree\n');
    assert.deepEqual(D.readLines(p), ['one', 'two', '', 'three']);
    assert.deepEqual(D.readLines(p, { skipEmpty: true }), ['one', 'two', 'three']);
  });

  it('tar: round trip, and truncated or corrupt archives', () => {
    const files = [
      { name: 'dir/a.bin', data: Uint8Array.from([1, 2, 3]) },
      { name: 'b.txt', data: new Uint8Array(600).fill(7) },
    ];
    const tar = D.writeTar(files);
    const entries = D.readTar(gzipSync(tar));
    assert.deepEqual(
      entries.map((e) => [e.name, e.type, e.size]),
      [
        ['dir/a.bin', 'file', 3],
        ['b.txt', 'file', 600],
      ],
    );
    assert.deepEqual(Array.from(entries[0]!.data), [1, 2, 3]);
    assert.throws(() => D.readTar(tar.subarray(0, 1600), 'x.tar'), {
      message: "tar: x.tar: member 'b.txt' declares 600 bytes but the archive ends after 64",
    });
    assert.throws(() => D.readTar(tar.subarray(0, 1100), 'x.tar'), {
      message: 'tar: x.tar: the archive ends inside the header at byte 1024 (truncated)',
    });
    assert.equal(D.readTar(tar.subarray(0, 2560)).length, 2); // no end-of-archive blocks: still read
    const corrupt = tar.slice();
    corrupt[0] = 0x41;
    assert.throws(() => D.readTar(corrupt, 'x.tar'), {
      message: 'tar: x.tar: the header at byte 0 has a bad checksum (not a tar archive, or corrupt)',
    });
  });
});

// ---------------------------------------------------------------------------------------------

const RT_NEG = Buffer.from('so bad \x97 .\n', 'latin1');
const RT_POS = Buffer.from('so good \x85\n', 'latin1');

describe('named datasets', () => {
  const root = dir('data-root');
  const emptyCache = dir('empty-cache');
  before(() => {
    writeMnist(dir('data-root', 'mnist'), 'train', 6, true);
    writeMnist(dir('data-root', 'mnist'), 't10k', 3, false);
    // only some CIFAR batches (a subset), the test batch, and the class names
    const c = dir('data-root', 'cifar10');
    writeFileSync(join(c, 'data_batch_1.bin'), cifarRecords(3));
    writeFileSync(join(c, 'data_batch_2.bin'), cifarRecords(2, 3));
    writeFileSync(join(c, 'test_batch.bin'), cifarRecords(2, 5));
    writeFileSync(join(c, 'batches.meta.txt'), 'a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n\n');
    writeFileSync(join(dir('data-root', 'tinyshakespeare'), 'input.txt'), 'x'.repeat(90) + 'y'.repeat(10));
  });

  const env =
    (vars: Record<string, string | undefined>) =>
    <T>(fn: () => T | Promise<T>): Promise<T> =>
      withEnv(vars, fn);

  it('resolves mnist from MOX_DATA_DIR (gzip for train, raw for test)', () =>
    env({ MOX_DATA_DIR: root, MOX_DATA_OFFLINE: undefined })(async () => {
      const train = await D.loadDataset('mnist', { cacheDir: emptyCache, download: false });
      assert.ok(train instanceof D.ImageDataset && train instanceof D.TensorDataset);
      assert.deepEqual(train.x.shape, [6, 1, 4, 3]);
      assert.deepEqual(list(train.y), [0, 1, 2, 3, 4, 5]);
      assert.equal(train.split, 'train');
      assert.equal(train.classes.length, 10);
      assert.deepEqual(train.files, [join(root, 'mnist', 'train-images-idx3-ubyte.gz'), join(root, 'mnist', 'train-labels-idx1-ubyte.gz')]);
      const test = D.loadDatasetSync('mnist', { split: 'test', limit: 2, scale: 'raw', cacheDir: emptyCache });
      assert.deepEqual(test.x.shape, [2, 1, 4, 3]);
      assert.equal(list(test.x)[13], 8);
      const [bx, by] = [...new D.DataLoader(train, { batchSize: 4, shuffle: true, seed: 0 })][0]!;
      assert.deepEqual([bx!.shape, by!.shape], [[4, 1, 4, 3], [4]]);
    }));

  it('resolves cifar10 from whatever data_batch_*.bin exist, with the class names of batches.meta.txt', () =>
    env({ MOX_DATA_DIR: root })(async () => {
      const train = await D.loadDataset('cifar10', { cacheDir: emptyCache, download: false });
      assert.deepEqual(train.x.shape, [5, 3, 32, 32]);
      assert.deepEqual(list(train.y), [0, 1, 2, 3, 4]);
      assert.equal(train.classes[0], 'a');
      const test = await D.loadDataset('cifar10', { split: 'test', cacheDir: emptyCache, download: false });
      assert.deepEqual(list(test.y), [5, 6]);
    }));

  it('tinyshakespeare: the first 90% for train, the last 10% for test', () =>
    env({ MOX_DATA_DIR: root })(async () => {
      const tr = await D.loadDataset('tinyshakespeare', { cacheDir: emptyCache, download: false });
      assert.equal(tr.text, 'x'.repeat(90));
      assert.equal(D.loadDatasetSync('tinyshakespeare', { split: 'test', cacheDir: emptyCache }).text, 'y'.repeat(10));
      assert.equal(D.loadDatasetSync('tinyshakespeare', { split: 'all', cacheDir: emptyCache }).text.length, 100);
    }));

  it("the dataDir option comes first and may use torchvision's layout; a CIFAR tarball there is extracted to the cache", () =>
    env({ MOX_DATA_DIR: undefined })(async () => {
      const own = dir('own');
      writeMnist(dir('own', 'FashionMNIST', 'raw'), 'train', 4, true);
      const fashion = await D.loadDataset('fashion-mnist', { dataDir: own, cacheDir: emptyCache, download: false });
      assert.equal(fashion.x.shape[0], 4);
      assert.equal(fashion.classes[9], 'Ankle boot');
      const tarball = gzipSync(
        D.writeTar([
          { name: 'cifar-10-batches-bin/data_batch_1.bin', data: cifarRecords(2) },
          { name: 'cifar-10-batches-bin/test_batch.bin', data: cifarRecords(1) },
          { name: 'cifar-10-batches-bin/readme.html', data: new Uint8Array(3) },
        ]),
      );
      writeFileSync(join(own, 'cifar-10-binary.tar.gz'), tarball);
      const cache = dir('cache-extract');
      const c = await D.loadDataset('cifar10', { dataDir: own, cacheDir: cache, download: false });
      assert.deepEqual(c.x.shape, [2, 3, 32, 32]);
      assert.deepEqual(readdirSync(join(cache, 'cifar10')).sort(), ['data_batch_1.bin', 'test_batch.bin']);
    }));

  it('offline: the error names every folder searched and why the download failed', async () => {
    const empty = dir('nothing-here');
    const cache = dir('offline-cache');
    // a port nobody listens on: start a server, note its port, close it
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as AddressInfo).port;
    await new Promise<void>((r) => srv.close(() => r()));
    await env({ MOX_DATA_DIR: empty, MOX_DATA_OFFLINE: undefined, MOX_DATA_MIRROR: undefined })(async () => {
      await assert.rejects(
        D.loadDataset('mnist', { cacheDir: cache, mirror: `http://127.0.0.1:${port}`, verbose: false }),
        (e: unknown) => {
          assert.ok(e instanceof mox.DataError);
          assert.equal(
            (e as Error).message,
            `mnist: train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz not found in MOX_DATA_DIR (${join(empty, 'mnist')}) or ${join(cache, 'mnist')}, ` +
              `and the download failed (http://127.0.0.1:${port}/train-images-idx3-ubyte.gz: connect ECONNREFUSED 127.0.0.1:${port}): put the files in one of those folders (see docs/data.md)`,
          );
          return true;
        },
      );
      await assert.rejects(D.loadDataset('cifar10', { split: 'test', cacheDir: cache, download: false }), {
        message: `cifar10: test_batch.bin (or cifar-10-binary.tar.gz) not found in MOX_DATA_DIR (${join(empty, 'cifar10')}) or ${join(cache, 'cifar10')}, and downloading is off: put the files in one of those folders (see docs/data.md)`,
      });
    });
    await env({ MOX_DATA_DIR: undefined, MOX_DATA_OFFLINE: '1' })(async () => {
      assert.throws(() => D.loadDatasetSync('tinyshakespeare', { cacheDir: cache }), {
        message: `tinyshakespeare: input.txt not found in MOX_DATA_DIR (not set) or ${join(cache, 'tinyshakespeare')}, and loadDatasetSync does not download (use await loadDataset): put the files in one of those folders (see docs/data.md)`,
      });
      await assert.rejects(D.loadDataset('tinyshakespeare', { cacheDir: cache }), /and downloading is off/);
    });
    assert.throws(() => D.loadDatasetSync('mnist', { split: 'val' as 'test' }), /loadDataset: mnist: unknown split 'val'/);
  });

  it("decodeWindows1252 maps 0x80-0x9F to the cp1252 punctuation (Node 20's TextDecoder does not)", () => {
    assert.equal(
      D.decodeWindows1252(Uint8Array.from([0x85, 0x91, 0x92, 0x93, 0x94, 0x96, 0x97, 0x80, 0x99])),
      '\u2026\u2018\u2019\u201c\u201d\u2013\u2014\u20ac\u2122',
    );
    // the five unassigned bytes keep their number (WHATWG), Latin-1 and ASCII are themselves
    assert.equal(
      D.decodeWindows1252(Uint8Array.from([0x81, 0x8d, 0x8f, 0x90, 0x9d, 0xe9, 0x41, 0x0a])),
      '\u0081\u008d\u008f\u0090\u009d\u00e9A\n',
    );
    const all = Uint8Array.from({ length: 20000 }, (_, i) => i % 256); // more than one decoding chunk
    const text = D.decodeWindows1252(all);
    assert.equal(text.length, 20000);
    for (let i = 0; i < 20000; i++) assert.equal(text.charCodeAt(i), D.WINDOWS_1252[i % 256]);
  });

  it('rt-polarity: texts in cp1252, negatives then positives, a fixed stratified split; offline, where to put the files', async () => {
    const own = dir('rt-own');
    const neg = ['bad \x97 very bad . ', 'dull .', 'boring \x85', 'meh', 'no', 'awful', 'weak', 'poor', 'slow', 'flat'];
    const pos = ['great \x91fun\x92 . ', 'lovely', 'superb', 'fine', 'yes', 'good', 'nice', 'bright', 'warm', 'sharp', 'deft', 'brisk'];
    writeFileSync(join(own, 'rt-polarity.neg'), Buffer.from(neg.join('\n') + '\n', 'latin1'));
    writeFileSync(join(own, 'rt-polarity.pos'), Buffer.from(pos.join('\n') + '\n', 'latin1'));
    await env({ MOX_DATA_DIR: undefined, MOX_DATA_OFFLINE: '1' })(async () => {
      const ds = await D.loadDataset('rt-polarity', { dataDir: own, cacheDir: dir('rt-cache') });
      assert.equal(ds.split, 'all');
      assert.deepEqual(ds.classes, ['negative', 'positive']);
      assert.equal(ds.texts.length, 22);
      assert.deepEqual(Array.from(ds.labels), [...new Array(10).fill(0), ...new Array(12).fill(1)]);
      assert.equal(ds.texts[0], 'bad \u2014 very bad . ');
      assert.equal(ds.texts[2], 'boring \u2026');
      assert.equal(ds.texts[10], 'great \u2018fun\u2019 . ');
      const [train, test] = D.textClassificationSplit(ds);
      assert.equal(test.texts.length, 2); // floor(10 * 0.1) + floor(12 * 0.1), one of each class
      assert.deepEqual(Array.from(test.labels), [0, 1]);
      assert.equal(train.texts.length, 20);
      assert.deepEqual([...train.texts, ...test.texts].sort(), [...ds.texts].sort());
      const loaded = D.loadDatasetSync('rt-polarity', { dataDir: own, split: 'test' });
      assert.deepEqual(loaded.texts, test.texts);
      assert.equal(loaded.split, 'test');
      assert.notDeepEqual(
        D.textClassificationSplit(ds, { seed: 1, testFraction: 0.5 })[1].texts,
        D.textClassificationSplit(ds, { seed: 2, testFraction: 0.5 })[1].texts,
      );
      assert.throws(
        () => D.textClassificationSplit(ds, { testFraction: 1 }),
        (e: unknown) =>
          e instanceof mox.ValueError && /textClassificationSplit: testFraction must be in \(0, 1\), got 1/.test((e as Error).message),
      );
      const empty = dir('rt-empty');
      const cache = dir('rt-cache2');
      await assert.rejects(D.loadDataset('rt-polarity', { dataDir: empty, cacheDir: cache }), {
        message: `rt-polarity: rt-polarity.neg and rt-polarity.pos (or rt-polaritydata.tar.gz) not found in dataDir (${join(empty, 'rt-polarity')}), MOX_DATA_DIR (not set) or ${join(cache, 'rt-polarity')}, and downloading is off: put the files in one of those folders (see docs/data.md)`,
      });
    });
  });

  describe('downloads from a loopback server', () => {
    const served = new Map<string, Uint8Array>();
    const requests: string[] = [];
    let server: Server;
    let base = '';
    before(async () => {
      const { images, labels } = mnistFiles(7);
      served.set('/train-images-idx3-ubyte.gz', gzipSync(images));
      served.set('/train-labels-idx1-ubyte.gz', gzipSync(labels));
      served.set(
        '/cifar-10-binary.tar.gz',
        gzipSync(
          D.writeTar([
            { name: 'cifar-10-batches-bin/data_batch_1.bin', data: cifarRecords(4) },
            { name: 'cifar-10-batches-bin/test_batch.bin', data: cifarRecords(2) },
            {
              name: 'cifar-10-batches-bin/batches.meta.txt',
              data: Buffer.from('airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n'),
            },
          ]),
        ),
      );
      served.set(
        '/rt-polaritydata.tar.gz',
        gzipSync(
          D.writeTar([
            { name: 'rt-polaritydata/rt-polarity.neg', data: RT_NEG },
            { name: 'rt-polaritydata/rt-polarity.pos', data: RT_POS },
            { name: 'rt-polaritydata.README.1.0.txt', data: Buffer.from('sentence polarity dataset v1.0\n') },
          ]),
        ),
      );
      server = createServer((req, res) => {
        requests.push(req.url!);
        const body = served.get(req.url!);
        if (!body) {
          res.writeHead(404);
          res.end();
          return;
        }
        res.writeHead(200, { 'content-length': body.length });
        res.end(body);
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(() => new Promise<void>((r) => server.close(() => r())));

    it('downloadFile keeps a file whose sha256 matches and removes one that does not', async () => {
      const dest = join(dir('dl'), 'sub', 'labels.gz');
      const body = served.get('/train-labels-idx1-ubyte.gz')!;
      const ok = await D.downloadFile(`${base}/train-labels-idx1-ubyte.gz`, dest, { sha256: sha256(body).toUpperCase() });
      assert.equal(ok.bytes, body.length);
      assert.ok(readFileSync(dest).equals(body));
      assert.equal(await D.sha256File(dest), sha256(body));
      const bad = join(dir('dl'), 'bad.gz');
      await assert.rejects(D.downloadFile(`${base}/train-labels-idx1-ubyte.gz`, bad, { sha256: '0'.repeat(64) }), {
        message: `download: ${base}/train-labels-idx1-ubyte.gz: sha256 mismatch: expected ${'0'.repeat(64)}, got ${sha256(body)} (${body.length} bytes); the file was not kept`,
      });
      assert.deepEqual(readdirSync(dir('dl')).sort(), ['sub']);
      await assert.rejects(D.downloadFile(`${base}/missing`, bad), { message: `download: ${base}/missing: HTTP 404 Not Found` });
    });

    it('loadDataset downloads missing files into the cache once, with their checksums', async () => {
      const cache = dir('dl-cache');
      const checksums = {
        'train-images-idx3-ubyte.gz': sha256(served.get('/train-images-idx3-ubyte.gz')!),
        'train-labels-idx1-ubyte.gz': sha256(served.get('/train-labels-idx1-ubyte.gz')!),
      };
      await env({ MOX_DATA_DIR: undefined, MOX_DATA_OFFLINE: undefined })(async () => {
        requests.length = 0;
        const ds = await D.loadDataset('mnist', { cacheDir: cache, mirror: `${base}/`, checksums, verbose: false });
        assert.deepEqual(ds.x.shape, [7, 1, 4, 3]);
        assert.deepEqual(requests, ['/train-images-idx3-ubyte.gz', '/train-labels-idx1-ubyte.gz']);
        assert.deepEqual(readdirSync(join(cache, 'mnist')).sort(), ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz']);
        const again = await D.loadDataset('mnist', { cacheDir: cache, mirror: base, checksums, verbose: false });
        assert.equal(again.x.shape[0], 7);
        assert.equal(requests.length, 2);
      });
    });

    it('a mirror serving files that fail the known sha256 is refused and leaves nothing behind', async () => {
      const cache = dir('dl-mismatch');
      const got = sha256(served.get('/train-images-idx3-ubyte.gz')!);
      await env({ MOX_DATA_DIR: undefined, MOX_DATA_OFFLINE: undefined })(async () => {
        await assert.rejects(D.loadDataset('mnist', { cacheDir: cache, mirror: base, verbose: false }), (e: unknown) => {
          assert.ok(e instanceof mox.DataError);
          assert.match(
            (e as Error).message,
            new RegExp(
              `and the download failed \\(${base}/train-images-idx3-ubyte\\.gz: sha256 mismatch: expected ` +
                `440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609, got ${got} \\(\\d+ bytes\\); the file was not kept\\)`,
            ),
          );
          return true;
        });
      });
      assert.deepEqual(existsSync(join(cache, 'mnist')) ? readdirSync(join(cache, 'mnist')) : [], []);
    });

    it('rt-polarity: the tarball is downloaded, its two files checked by sha256 and kept, the tarball removed', async () => {
      const cache = dir('dl-rt');
      const checksums = { 'rt-polarity.neg': sha256(RT_NEG), 'rt-polarity.pos': sha256(RT_POS) };
      await env({ MOX_DATA_DIR: undefined, MOX_DATA_OFFLINE: undefined })(async () => {
        const ds = await D.loadDataset('rt-polarity', { cacheDir: cache, mirror: base, checksums, verbose: false });
        assert.deepEqual(ds.texts, ['so bad \u2014 .', 'so good \u2026']);
        assert.deepEqual(readdirSync(join(cache, 'rt-polarity')).sort(), ['rt-polarity.neg', 'rt-polarity.pos']);
        // with the real files' checksums these members are refused (the first checked: .pos), and nothing is kept
        const strict = dir('dl-rt-strict');
        await assert.rejects(D.loadDataset('rt-polarity', { cacheDir: strict, mirror: base, verbose: false }), (e: unknown) => {
          assert.ok(e instanceof mox.DataError);
          assert.match(
            (e as Error).message,
            new RegExp(
              `^rt-polarity: .*rt-polaritydata\\.tar\\.gz: rt-polaritydata/rt-polarity\\.pos: sha256 mismatch: expected ` +
                `d79ef14009bbf87cd6be21f91c3ea1a3cbcb73b34dfb4231aef7bbcd7677abc4, got ${sha256(RT_POS)} \\(\\d+ bytes\\); the file was not kept$`,
            ),
          );
          return true;
        });
        assert.deepEqual(readdirSync(join(strict, 'rt-polarity')), []);
      });
    });

    it('cifar10: the tarball is downloaded, its members extracted, and the tarball removed', async () => {
      const cache = dir('dl-cifar');
      const checksums = { 'cifar-10-binary.tar.gz': sha256(served.get('/cifar-10-binary.tar.gz')!) };
      await env({ MOX_DATA_DIR: undefined, MOX_DATA_OFFLINE: undefined })(async () => {
        const ds = await D.loadDataset('cifar10', { cacheDir: cache, mirror: base, checksums, verbose: false });
        assert.deepEqual(ds.x.shape, [4, 3, 32, 32]);
        assert.equal(ds.classes[9], 'truck');
        assert.deepEqual(readdirSync(join(cache, 'cifar10')).sort(), ['batches.meta.txt', 'data_batch_1.bin', 'test_batch.bin']);
        const test = await D.loadDataset('cifar10', { split: 'test', cacheDir: cache, download: false });
        assert.equal(test.x.shape[0], 2);
      });
    });
  });
});
