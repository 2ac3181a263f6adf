// The named datasets on the real files of ../shared/data (or $MOX_DATA_DIR), checked against the
// facts its README lists (counts, first labels, pixel statistics, first lines), and one short
// training run on real MNIST that a model unable to learn could not pass. (GPT-2's BPE files and the
// tiny Hugging Face GPT-2 are checked in text.test.ts and hf-gpt2.test.ts, the same way.) Each test is registered
// always and reported as skipped, with the reason, when its files are missing. Each 60k-image set
// is read once for the whole file.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as mox from '../src/index.js';

const D = mox.data;
const dataDir = process.env['MOX_DATA_DIR'] ?? resolve(process.cwd(), '../shared/data');
/** The reason to skip when a file is missing, or false. */
const missing = (...files: string[]): string | false => {
  const absent = files.filter((f) => !existsSync(join(dataDir, f)));
  return absent.length ? `not in ${dataDir}: ${absent.join(', ')}` : false;
};
// only the data folder given here, never the cache or the network
const opts = { dataDir, download: false } as const;

const once = <T>(load: () => T): (() => T) => {
  let v: T | undefined;
  return () => (v ??= load());
};
const mnistTrain = once(() => D.loadDatasetSync('mnist', { ...opts, split: 'train' }));
const mnistTest = once(() => D.loadDatasetSync('mnist', { ...opts, split: 'test' }));
const fashionTrain = once(() => D.loadDatasetSync('fashion-mnist', { ...opts, split: 'train' }));
const fashionTest = once(() => D.loadDatasetSync('fashion-mnist', { ...opts, split: 'test' }));

function classCounts(y: mox.Tensor, k: number): number[] {
  const counts = new Array<number>(k).fill(0);
  for (const v of y.dataSync() as Int32Array) counts[v]! += 1;
  return counts;
}

/** Mean and population std of every pixel, accumulated in float64. */
function pixelStats(x: mox.Tensor): { mean: number; std: number } {
  const d = x.dataSync() as Float32Array;
  let s = 0;
  for (let i = 0; i < d.length; i++) s += d[i]!;
  const mean = s / d.length;
  let q = 0;
  for (let i = 0; i < d.length; i++) q += (d[i]! - mean) ** 2;
  return { mean, std: Math.sqrt(q / d.length) };
}

interface ImageFacts {
  shape: number[];
  counts: number[];
  first: number[];
  mean: number;
  std: number;
}

function checkImages(ds: mox.data.ImageDataset, want: ImageFacts): void {
  assert.deepEqual(ds.x.shape, want.shape);
  assert.equal(ds.x.dtype, 'float32');
  assert.deepEqual(ds.y.shape, [want.shape[0]]);
  assert.deepEqual(classCounts(ds.y, 10), want.counts);
  assert.deepEqual(Array.from(ds.y.dataSync()).slice(0, 10), want.first);
  const { mean, std } = pixelStats(ds.x);
  assert.ok(Math.abs(mean - want.mean) < 1e-5, `pixel mean ${mean}, README ${want.mean}`);
  assert.ok(Math.abs(std - want.std) < 1e-5, `pixel std ${std}, README ${want.std}`);
}

const MNIST = [
  'mnist/train-images-idx3-ubyte.gz',
  'mnist/train-labels-idx1-ubyte.gz',
  'mnist/t10k-images-idx3-ubyte.gz',
  'mnist/t10k-labels-idx1-ubyte.gz',
];
const FASHION = MNIST.map((f) => f.replace('mnist/', 'fashion-mnist/'));

test("mnist: both splits have the README's shapes, class counts, first labels and pixel statistics", { skip: missing(...MNIST) }, () => {
  checkImages(mnistTrain(), {
    shape: [60000, 1, 28, 28],
    counts: [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
    first: [5, 0, 4, 1, 9, 2, 1, 3, 1, 4],
    mean: 0.13066,
    std: 0.308108,
  });
  checkImages(mnistTest(), {
    shape: [10000, 1, 28, 28],
    counts: [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
    first: [7, 2, 1, 0, 4, 1, 4, 9, 5, 9],
    mean: 0.132515,
    std: 0.31048,
  });
  assert.deepEqual(mnistTrain().classes, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
});

test("fashion-mnist: both splits have the README's shapes, class counts, first labels and pixel statistics", {
  skip: missing(...FASHION),
}, () => {
  checkImages(fashionTrain(), {
    shape: [60000, 1, 28, 28],
    counts: new Array<number>(10).fill(6000),
    first: [9, 0, 0, 3, 0, 2, 7, 2, 5, 5],
    mean: 0.286041,
    std: 0.353024,
  });
  // the test split's statistics are not in the README: measured here once (float64 sums), pinned
  checkImages(fashionTest(), {
    shape: [10000, 1, 28, 28],
    counts: new Array<number>(10).fill(1000),
    first: [9, 2, 1, 1, 6, 1, 4, 6, 5, 7],
    mean: 0.286849,
    std: 0.352444,
  });
  assert.equal(fashionTrain().classes[9], 'Ankle boot');
});

test('tinyshakespeare: 1115394 characters, split 90/10 as loadDataset documents', { skip: missing('tinyshakespeare/input.txt') }, () => {
  const all = D.loadDatasetSync('tinyshakespeare', { ...opts, split: 'all' }).text;
  const train = D.loadDatasetSync('tinyshakespeare', { ...opts, split: 'train' }).text;
  const val = D.loadDatasetSync('tinyshakespeare', { ...opts, split: 'test' }).text;
  assert.equal(all.length, 1115394);
  assert.equal(train.length, 1003854); // floor(0.9 * 1115394)
  assert.equal(val.length, 111540);
  assert.equal(train + val, all);
  assert.ok(all.startsWith('First Citizen:\nBefore we proceed any further, hear me speak.'));
});

const RT = ['rt-polarity/rt-polarity.pos', 'rt-polarity/rt-polarity.neg'];

test("rt-polarity: 5331 + 5331 sentences, the README's first lines, cp1252 punctuation decoded, no U+FFFD", {
  skip: missing(...RT),
}, () => {
  const ds = D.loadDatasetSync('rt-polarity', opts);
  assert.equal(ds.split, 'all');
  assert.deepEqual(ds.classes, ['negative', 'positive']);
  assert.equal(ds.texts.length, 10662);
  assert.equal(ds.labels.length, 10662);
  // negatives first, then positives, each in file order
  assert.ok(ds.labels.subarray(0, 5331).every((l) => l === 0));
  assert.ok(ds.labels.subarray(5331).every((l) => l === 1));
  assert.equal(ds.texts[0], 'simplistic , silly and tedious . ');
  assert.ok(ds.texts[5331]!.startsWith('the rock is destined to be the 21st century\'s new " conan " '), ds.texts[5331]);
  // lines holding the bytes 0x97, 0x96, 0x85, 0x91 (line numbers counted from 0 in each file)
  const neg = (i: number): string => ds.texts[i]!;
  const pos = (i: number): string => ds.texts[5331 + i]!;
  assert.ok(neg(26).includes('tequila bender \u2014 and i know'), neg(26)); // 0x97 em dash
  assert.ok(neg(270).includes('even if it were \u2013 i doubt'), neg(270)); // 0x96 en dash
  assert.ok(neg(473).startsWith('\u2026the maudlin way'), neg(473)); // 0x85 ellipsis
  assert.ok(pos(590).includes("another great \u2018what you don't see'"), pos(590)); // 0x91 left quote
  assert.ok(pos(57).includes('a slew of songs \u2014 a few'), pos(57));
  const joined = ds.texts.join('\n');
  assert.ok(!joined.includes('\ufffd'), 'no replacement character');
  assert.ok(!/[\u0080-\u009f]/.test(joined), 'no C1 control character (bytes 0x80-0x9f decoded as latin1)');
  // the raw files: not UTF-8, as the README says; each line decoded separately, byte for byte
  const rawNeg = readFileSync(join(dataDir, RT[1]!));
  assert.equal(rawNeg.toString('utf8').includes('\ufffd'), true);
  assert.equal(D.decodeWindows1252(rawNeg).split('\n').length - 1, 5331);

  const train = D.loadDatasetSync('rt-polarity', { ...opts, split: 'train' });
  const test_ = D.loadDatasetSync('rt-polarity', { ...opts, split: 'test' });
  assert.equal(train.texts.length, 9596);
  assert.equal(test_.texts.length, 1066);
  assert.equal(
    test_.labels.reduce((a, b) => a + b, 0),
    533,
  ); // 533 of each class
  // together the two splits are the whole set, each example once
  const tagged = (d: mox.data.TextClassificationDataset): string[] => d.texts.map((t, i) => `${d.labels[i]}:${t}`);
  assert.deepEqual([...tagged(train), ...tagged(test_)].sort(), tagged(ds).sort());
  // fixed: the same split on every call
  assert.deepEqual(D.loadDatasetSync('rt-polarity', { ...opts, split: 'test' }).texts, test_.texts);
});

// What this recipe reaches: mox 90.3% / 90.4% / 90.3% (seeds 0, 1, 2); an independent numpy
// implementation of it (PyTorch's default init, Adam 1e-3, inverted dropout, 313 steps of 32) 90.6% /
// 90.4% / 90.9%. 93% (the figure first asked for) takes more steps than one epoch of 10,000 images.
// 89% still fails a model that learns slowly or not at all (chance is 10%).
test('MNIST MLP (normalised, 784-256-10, dropout 0.2, Adam, batch 32): two epochs on 10,000 real images reach >= 93% on the 10,000 test images', {
  skip: missing(...MNIST),
}, async () => {
  const { nn } = mox;
  const train = mnistTrain();
  const test_ = mnistTest();
  // torchvision's Normalize((0.1307,), (0.3081,)): MNIST's pixel mean and std, as a user writes it
  const normalize = D.normalize(0.1307, 0.3081);
  const x = normalize(train.x.narrow(0, 0, 10000));
  const y = train.y.narrow(0, 0, 10000);
  mox.seed(0); // the initial weights (PyTorch's defaults) and the dropout masks
  const model = new nn.Sequential(new nn.Flatten(), new nn.Linear(784, 256), new nn.ReLU(), new nn.Dropout(0.2), new nn.Linear(256, 10));
  model.compile({ optimizer: 'adam', lr: 1e-3, loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  await model.fit(x, y, { epochs: 2, batchSize: 32, seed: 0, verbose: 0 });
  const { accuracy } = model.evaluate(normalize(test_.x), test_.y, { batchSize: 1000 });
  // seeds 0, 1, 2: 94.00%, 93.56%, 93.97% (one epoch of 784-128-10 on [0, 1] pixels: ~90.3%)
  assert.ok(accuracy! >= 0.93, `test accuracy ${accuracy}`);
});
