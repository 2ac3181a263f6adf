// The examples of examples/, run as a user runs them: child processes on the compiled
// dist/examples/<name>.js, each ending its output with one `RESULT {json}` line. linear-regression and
// simple-net run on their own synthetic data; the (Fashion-)MNIST, CIFAR-10, rt-polarity and Tiny
// Shakespeare examples run their smoke versions (--epochs 1 --limit 64) on tiny IDX, CIFAR binary,
// cp1252 and plain text files written here (learnable synthetic patterns), and once without any data,
// where they must fail with a message that says where they looked, the files they expect, and how to
// point them at the files. Downloads are off (MOX_DATA_OFFLINE=1) and the cache points at an empty folder, so
// nothing here touches the network or the real cache.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as mox from '../src/index.js';
import { idxFile } from '../test-support/fixtures.js';

const EXAMPLES = resolve(process.cwd(), 'dist/examples');
const tmp = mkdtempSync(join(tmpdir(), 'mox-examples-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const emptyCache = join(tmp, 'cache');
mkdirSync(emptyCache);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  result: Record<string, unknown> | null;
}

/** Where runExample puts an example's run logs. */
const runsOf = (name: string): string => join(tmp, 'runs', name);

/** The confusion matrix an example logged on its test set into `dir`, checked to count `n` examples. */
function testConfusion(dir: string, labels: readonly string[], n: number): number[][] {
  const data = mox.train.readRunLog(dir);
  const c = data.confusion.filter((r) => r.split === 'test');
  assert.equal(c.length, 1, `${dir}: one test confusion matrix`);
  assert.deepEqual(c[0]!.labels, labels);
  assert.equal(
    c[0]!.matrix.flat().reduce((a, b) => a + b, 0),
    n,
  );
  assert.ok(
    data.scalars.some((s) => s.split === 'train' && s.epoch !== undefined),
    `${dir}: epoch records`,
  );
  return c[0]!.matrix;
}

function runExample(name: string, args: string[], env: Record<string, string | undefined> = {}): Run {
  const script = join(EXAMPLES, `${name}.js`);
  assert.ok(existsSync(script), `${script} is missing: build with npm run build`);
  const childEnv: Record<string, string | undefined> = {
    ...process.env,
    MOX_DATA_OFFLINE: '1',
    XDG_CACHE_HOME: emptyCache,
    MOX_DATA_DIR: join(tmp, 'no-such-dir'),
    ...env,
  };
  for (const k of Object.keys(childEnv)) if (childEnv[k] === undefined) delete childEnv[k];
  // the run logs go into the test's folder, not runs/ under the repository
  const runDir = args.includes('--run-dir') ? [] : ['--run-dir', runsOf(name)];
  const r = spawnSync(process.execPath, [script, '--threads', '1', ...runDir, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
    env: childEnv as NodeJS.ProcessEnv,
  });
  if (r.error) throw r.error;
  const lines = r.stdout.trimEnd().split('\n');
  const last = lines.at(-1) ?? '';
  let result: Record<string, unknown> | null = null;
  if (last.startsWith('RESULT ')) result = JSON.parse(last.slice('RESULT '.length)) as Record<string, unknown>;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, result };
}

function ok(r: Run, name: string): Record<string, unknown> {
  assert.equal(r.code, 0, `${name} exited with ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  assert.ok(r.result, `${name}: the last line of output is not RESULT {json}:\n${r.stdout}`);
  assert.equal(r.stdout.split('\n').filter((l) => l.startsWith('RESULT ')).length, 1, 'exactly one RESULT line');
  assert.equal(r.result.example, name);
  return r.result;
}

// ---- tiny datasets -------------------------------------------------------------------------------

/** A seeded stream of bytes (xorshift), so the files are the same on every run. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

/** n 28x28 images: label k is a bright 8x8 square at cell (k % 5, k / 5) over dim noise. */
function mnistLike(n: number, seed: number): { images: Uint8Array; labels: Uint8Array } {
  const r = rng(seed);
  const images = new Uint8Array(n * 784);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const k = i % 10;
    labels[i] = k;
    const top = 2 + 14 * Math.floor(k / 5);
    const left = 1 + 5 * (k % 5);
    for (let p = 0; p < 784; p++) images[i * 784 + p] = Math.floor(r() * 40);
    for (let y = top; y < top + 8 && y < 28; y++)
      for (let x = left; x < left + 4; x++) images[i * 784 + y * 28 + x] = 200 + Math.floor(r() * 55);
  }
  return { images, labels };
}

/** CIFAR-10 binary records (1 label byte + 3x32x32 pixels): label k tints channel k % 3 by k. */
function cifarLike(n: number, seed: number): Uint8Array {
  const r = rng(seed);
  const out = new Uint8Array(n * 3073);
  for (let i = 0; i < n; i++) {
    const k = i % 10;
    const rec = out.subarray(i * 3073, (i + 1) * 3073);
    rec[0] = k;
    for (let c = 0; c < 3; c++) {
      for (let p = 0; p < 1024; p++) {
        const base = c === k % 3 ? 60 + 18 * k : 40;
        rec[1 + c * 1024 + p] = Math.min(255, base + Math.floor(r() * 40));
      }
    }
  }
  return out;
}

/** n lines of play-like text from a few words and speakers. */
function shakespeareLike(n: number, seed: number): string {
  const r = rng(seed);
  const words = ['my', 'lord', 'the', 'king', 'shall', 'speak', 'good', 'night', 'sweet', 'prince', 'and', 'thee'];
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    if (i % 4 === 0) lines.push(r() < 0.5 ? 'ROMEO:' : 'JULIET:');
    lines.push(Array.from({ length: 3 + Math.floor(r() * 5) }, () => words[Math.floor(r() * words.length)]!).join(' ') + '.');
  }
  return lines.join('\n') + '\n';
}

const dataRoot = join(tmp, 'data');
const cifarDir = join(dataRoot, 'cifar10');
mkdirSync(cifarDir, { recursive: true });
// MNIST and Fashion-MNIST have the same layout: the same tiny files in each folder
for (const folder of ['mnist', 'fashion-mnist']) {
  const dir = join(dataRoot, folder);
  mkdirSync(dir, { recursive: true });
  const tr = mnistLike(64, 1);
  const te = mnistLike(32, 2);
  // the training files gzip'd (as downloaded), the test files raw (as unpacked): both are read
  writeFileSync(join(dir, 'train-images-idx3-ubyte.gz'), gzipSync(idxFile(0x08, [64, 28, 28], tr.images)));
  writeFileSync(join(dir, 'train-labels-idx1-ubyte.gz'), gzipSync(idxFile(0x08, [64], tr.labels)));
  writeFileSync(join(dir, 't10k-images-idx3-ubyte'), idxFile(0x08, [32, 28, 28], te.images));
  writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), idxFile(0x08, [32], te.labels));
}
{
  writeFileSync(join(cifarDir, 'data_batch_1.bin'), cifarLike(48, 3));
  writeFileSync(join(cifarDir, 'data_batch_2.bin'), cifarLike(32, 4));
  writeFileSync(join(cifarDir, 'test_batch.bin'), cifarLike(24, 5));
  mkdirSync(join(dataRoot, 'tinyshakespeare'));
  writeFileSync(join(dataRoot, 'tinyshakespeare', 'input.txt'), shakespeareLike(400, 6));
}

/** n sentences per class in cp1252 (with 0x97 dashes, as the real files have): polar words decide the class. */
function polarityLike(n: number, words: string[], seed: number): Buffer {
  const r = rng(seed);
  const filler = ['the', 'film', 'is', 'a', 'story', 'and', 'its', 'cast', ',', '.'];
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const w: string[] = [];
    for (let j = 0; j < 6 + (i % 5); j++)
      w.push(r() < 0.3 ? words[Math.floor(r() * words.length)]! : filler[Math.floor(r() * filler.length)]!);
    lines.push(`${w.join(' ')} \x97 ${words[i % words.length]} . `);
  }
  return Buffer.from(lines.join('\n') + '\n', 'latin1');
}
const rtDir = join(dataRoot, 'rt-polarity');
mkdirSync(rtDir, { recursive: true });
writeFileSync(join(rtDir, 'rt-polarity.pos'), polarityLike(60, ['great', 'moving', 'funny', 'superb'], 6));
writeFileSync(join(rtDir, 'rt-polarity.neg'), polarityLike(60, ['dull', 'boring', 'awful', 'tedious'], 7));

// ---- the examples --------------------------------------------------------------------------------

test('linear-regression recovers the generating weights', () => {
  const r = ok(runExample('linear-regression', ['--epochs', '60', '--limit', '500', '--seed', '1']), 'linear-regression');
  assert.deepEqual(r.true_w, [3, -2]);
  assert.equal(r.true_b, 0.5);
  const w = r.w as number[];
  assert.ok(Math.abs(w[0]! - 3) < 0.05 && Math.abs(w[1]! + 2) < 0.05, `w = ${w}`);
  assert.ok(Math.abs((r.b as number) - 0.5) < 0.05, `b = ${r.b}`);
  assert.ok((r.max_abs_error as number) < 0.05);
  assert.ok((r.final_loss as number) < (r.initial_loss as number));
  assert.equal(r.train_examples, 500);
  assert.equal(r.epochs, 60);
});

test('simple-net: the zeroGrad/backward/step loop lowers the loss, and the saved state dict reloads', () => {
  const out = join(tmp, 'simple-net.safetensors');
  const run = runExample('simple-net', ['--epochs', '5', '--limit', '256', '--batch-size', '16', '--out', out]);
  const r = ok(run, 'simple-net');
  assert.match(run.stdout, /^Epoch 5\/5$/m);
  assert.match(run.stdout, /^16\/16 \[=+\] - .* - loss: \d/m);
  assert.ok((r.final_loss as number) < (r.initial_loss as number) / 10, `loss ${r.initial_loss} -> ${r.final_loss}`);
  assert.equal(r.saved, out);
  assert.equal(r.reloaded_equal, true);
  // the file holds PyTorch's names and the learned values
  const { tensors } = mox.loadSafetensorsSync(out);
  assert.deepEqual(Object.keys(tensors).sort(), ['bias', 'weight']);
  assert.deepEqual(tensors.weight!.shape, [1, 2]);
  const weight = Array.from(tensors.weight!.dataSync());
  (r.weight as number[]).forEach((v, i) => assert.ok(Math.abs(v - weight[i]!) < 1e-5));
  assert.ok(Math.abs((r.bias as number) - tensors.bias!.item()) < 1e-5);
});

for (const name of ['mnist-mlp', 'mnist-cnn', 'fashion-mnist-cnn', 'cifar10-cnn', 'vit-mnist']) {
  test(`${name}: the smoke version runs on a tiny dataset given by --data-dir`, () => {
    const run = runExample(name, ['--epochs', '1', '--limit', '64', '--data-dir', dataRoot]);
    const r = ok(run, name);
    assert.match(run.stdout, /^Epoch 1\/1$/m);
    assert.match(run.stdout, /Total params: [\d,]+/);
    const acc = r.test_accuracy as number;
    assert.ok(typeof acc === 'number' && acc >= 0 && acc <= 1, `test_accuracy ${acc}`);
    assert.ok(Number.isFinite(r.test_loss as number));
    assert.equal(r.epochs, 1);
    assert.equal(r.train_examples, 64);
    assert.equal(r.test_examples, name === 'cifar10-cnn' ? 24 : 32);
    // the run log: the test set's confusion matrix with the dataset's class names, and its accuracy
    const labels =
      name === 'fashion-mnist-cnn'
        ? ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']
        : name === 'cifar10-cnn'
          ? [...mox.data.CIFAR10_CLASSES]
          : ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
    const m = testConfusion(runsOf(name), labels, r.test_examples as number);
    // RESULT rounds the accuracy to 4 decimals
    assert.ok(Math.abs(m.reduce((a, row, i) => a + row[i]!, 0) / (r.test_examples as number) - acc) <= 5e-5);
  });
}

test('prune-mnist-cnn: the smoke version trains, prunes to 50/80/90% and removes half the channels', () => {
  const run = runExample('prune-mnist-cnn', ['--epochs', '1', '--limit', '64', '--batch-size', '16', '--data-dir', dataRoot]);
  const r = ok(run, 'prune-mnist-cnn');
  assert.equal(r.dense_params, 93322);
  // 32 -> 16, 64 -> 32, 64 -> 32 channels and 64 -> 32 hidden neurons: every hidden layer is a quarter
  assert.equal(r.structured_params, 16 * 9 + 16 + 32 * 16 * 9 + 32 + 32 * 32 * 9 + 32 + 32 * 288 + 32 + 32 * 10 + 10);
  for (const level of [50, 80, 90]) {
    assert.ok(
      Math.abs((r[`sparse${level}_sparsity`] as number) - level / 100) < 1e-3,
      `sparse${level}_sparsity ${r[`sparse${level}_sparsity`]}`,
    );
    const acc = r[`sparse${level}_accuracy`] as number;
    assert.ok(acc >= 0 && acc <= 1, `sparse${level}_accuracy ${acc}`);
  }
  assert.ok((r.sparse90_nonzeros as number) < (r.sparse50_nonzeros as number));
  assert.ok((r.structured_bytes as number) < (r.dense_bytes as number));
  assert.ok((r.structured_speedup as number) > 0);
});

test('quantize-mnist-cnn: the smoke version trains, quantizes the Linear layers three ways and scores each', () => {
  const run = runExample('quantize-mnist-cnn', ['--epochs', '1', '--limit', '64', '--batch-size', '16', '--data-dir', dataRoot]);
  const r = ok(run, 'quantize-mnist-cnn');
  for (const k of ['fp32', 'int8', 'dynamic_int8', 'int4']) {
    const acc = r[`${k}_accuracy`] as number;
    assert.ok(acc >= 0 && acc <= 1, `${k}_accuracy ${acc}`);
  }
  assert.ok(Number.isFinite(r.int8_drop_points as number));
});

test('quantize-gpt-shakespeare: the smoke version trains briefly, quantizes with mox quantize and scores each', () => {
  const run = runExample('quantize-gpt-shakespeare', ['--iters', '2', '--threads', '1', '--data-dir', dataRoot]);
  const r = ok(run, 'quantize-gpt-shakespeare');
  for (const k of ['fp32', 'int8', 'dynamic_int8', 'int4']) assert.ok(Number.isFinite(r[`${k}_val_loss`] as number), k);
  assert.ok((r.int8_size_ratio as number) < 0.3 && (r.int4_size_ratio as number) < 0.2, `${r.int8_size_ratio} ${r.int4_size_ratio}`);
});

test('transfer-fashion-mnist: the smoke version pretrains, freezes the conv base, fine-tunes and compares', () => {
  const run = runExample('transfer-fashion-mnist', [
    '--pretrain-epochs',
    '1',
    '--limit',
    '64',
    '--finetune-examples',
    '48',
    '--epochs',
    '1',
    '--unfreeze-epochs',
    '1',
    '--data-dir',
    dataRoot,
  ]);
  const r = ok(run, 'transfer-fashion-mnist');
  assert.match(run.stdout, /^Trainable params: 37,578 /m); // the conv base (55,744) frozen
  assert.equal(r.pretrain_examples, 64);
  assert.equal(r.finetune_examples, 48);
  assert.equal(r.steps, 2 * 2);
  assert.equal(r.test_examples, 32);
  for (const k of ['transfer_accuracy', 'scratch_accuracy', 'pretrain_test_accuracy']) {
    const v = r[k] as number;
    assert.ok(typeof v === 'number' && v >= 0 && v <= 1, `${k} ${v}`);
  }
  assert.ok(Math.abs((r.improvement as number) - ((r.transfer_accuracy as number) - (r.scratch_accuracy as number))) < 2e-4);
});

test('distill-mnist: the smoke version trains the CNN teacher, the MLP alone and distilled, and compares', () => {
  const run = runExample('distill-mnist', [
    '--limit',
    '64',
    '--student-examples',
    '48',
    '--epochs',
    '1',
    '--test-limit',
    '32',
    '--data-dir',
    dataRoot,
  ]);
  const r = ok(run, 'distill-mnist');
  assert.equal(r.teacher_train_examples, 64);
  assert.equal(r.student_train_examples, 48);
  assert.equal(r.test_examples, 32);
  assert.equal(r.temperature, 4);
  assert.equal(r.alpha, 0.9);
  for (const k of ['teacher_accuracy', 'alone_accuracy', 'distilled_accuracy']) {
    const v = r[k] as number;
    assert.ok(typeof v === 'number' && v >= 0 && v <= 1, `${k} ${v}`);
  }
  assert.ok(Math.abs((r.improvement as number) - ((r.distilled_accuracy as number) - (r.alone_accuracy as number))) < 2e-4);
  // one run folder per training run
  for (const sub of ['teacher', 'alone', 'distilled']) testConfusion(join(runsOf('distill-mnist'), sub), [...'0123456789'], 32);
});

test('lstm-lm-shakespeare: the smoke version trains with fit, saves, reloads to the same loss and samples', () => {
  const out = join(tmp, 'lstm-lm');
  const run = runExample('lstm-lm-shakespeare', [
    '--epochs',
    '2',
    '--limit',
    '24',
    '--test-limit',
    '8',
    '--hidden',
    '16',
    '--embed',
    '8',
    '--seq-len',
    '16',
    '--batch-size',
    '8',
    '--sample-length',
    '20',
    '--out',
    out,
    '--data-dir',
    dataRoot,
  ]);
  const r = ok(run, 'lstm-lm-shakespeare');
  assert.match(run.stdout, /^Epoch 2\/2$/m);
  assert.equal(r.steps, 6);
  assert.equal(r.train_windows, 24);
  assert.equal(r.val_windows, 8);
  assert.equal(r.target, 1.7);
  assert.ok(Number.isFinite(r.val_loss as number) && Number.isFinite(r.train_loss as number));
  assert.equal(r.reloaded_val_loss, r.val_loss, 'the reloaded model gives the same validation loss');
  assert.ok((r.sample as string).startsWith('ROMEO:') && [...(r.sample as string)].length === 26, `sample ${JSON.stringify(r.sample)}`);
  const config = mox.models.loadLSTM(out).config as { model: string; lstm: { hiddenSize: number } };
  assert.equal(config.model, 'lstm');
  assert.equal(config.lstm.hiddenSize, 16);
  const log = mox.train.readRunLog(runsOf('lstm-lm-shakespeare'));
  assert.equal(log.run.kind, 'lstm');
  assert.equal(log.confusion.length, 0, 'a language model gets no confusion matrix');
  assert.deepEqual(
    log.scalars.filter((s) => s.split === 'val').map((s) => s.step),
    [3, 6],
  );
  assert.equal(log.samples[0]!.samples[0]!.prompt, 'ROMEO:');
});

test('text-cnn-rt-polarity: the smoke version runs on tiny cp1252 files given by --data-dir', () => {
  const run = runExample('text-cnn-rt-polarity', [
    '--epochs',
    '1',
    '--limit',
    '64',
    '--embed-dim',
    '16',
    '--max-len',
    '12',
    '--data-dir',
    dataRoot,
  ]);
  const r = ok(run, 'text-cnn-rt-polarity');
  assert.match(run.stdout, /^Epoch 1\/1$/m);
  assert.match(run.stdout, /Total params: [\d,]+/);
  assert.equal(r.epochs, 1);
  assert.equal(r.epochs_run, 1);
  // the 64 sampled training sentences less a stratified 10% held out for early stopping
  assert.equal((r.train_examples as number) + (r.validation_examples as number), 64);
  assert.ok(
    (r.validation_examples as number) >= 4 && (r.validation_examples as number) <= 8,
    `validation_examples ${r.validation_examples}`,
  );
  assert.equal(r.test_examples, 12); // 10% of each class of 60
  assert.equal(r.target, 0.75);
  assert.equal(r.max_len, 12);
  assert.equal(r.embed_dim, 16);
  // the vocabulary is the training sample's: the fillers, the polar words, the em dash, and <pad>/<unk>
  assert.ok((r.vocab_size as number) >= 10 && (r.vocab_size as number) <= 21, `vocab_size ${r.vocab_size}`);
  const acc = r.test_accuracy as number;
  assert.ok(acc >= 0 && acc <= 1 && Number.isFinite(r.test_loss as number), `test_accuracy ${acc}`);
  assert.ok(typeof r.seconds === 'number');
  testConfusion(runsOf('text-cnn-rt-polarity'), ['negative', 'positive'], 12);
  // EarlyStopping's validation data gets its confusion matrix too
  assert.equal(mox.train.readRunLog(runsOf('text-cnn-rt-polarity')).confusion.filter((c) => c.split === 'val').length, 1);
});

test('without data, the data examples say where they looked, the files they expect, --data-dir and MOX_DATA_DIR', () => {
  const empty = join(tmp, 'empty');
  mkdirSync(empty, { recursive: true });
  const esc = (s: string): string => s.replace(/[\\/.()]/g, '\\$&');
  const cases = [
    [
      'mnist-mlp',
      'mnist',
      /expected in one folder: train-images-idx3-ubyte\.gz, train-labels-idx1-ubyte\.gz, t10k-images-idx3-ubyte\.gz, t10k-labels-idx1-ubyte\.gz/,
    ],
    ['fashion-mnist-cnn', 'fashion-mnist', /expected in one folder: train-images-idx3-ubyte\.gz, .*t10k-labels-idx1-ubyte\.gz/],
    ['transfer-fashion-mnist', 'mnist', /expected in one folder: train-images-idx3-ubyte\.gz, .*t10k-labels-idx1-ubyte\.gz/],
    ['cifar10-cnn', 'cifar10', /expected in one folder: data_batch_1\.bin .*and test_batch\.bin/],
    ['lstm-lm-shakespeare', 'tinyshakespeare', /expected in one folder: input\.txt/],
    ['text-cnn-rt-polarity', 'rt-polarity', /expected in one folder: rt-polarity\.pos, rt-polarity\.neg/],
  ] as const;
  for (const [name, dataset, expected] of cases) {
    const r = runExample(name, ['--epochs', '1', '--limit', '64'], { MOX_DATA_DIR: empty });
    assert.equal(r.code, 1, `${name} exited with ${r.code}:\n${r.stdout}\n${r.stderr}`);
    assert.equal(r.result, null);
    // the first line names the example, the dataset, the missing files and why they were not downloaded
    assert.match(r.stderr, new RegExp(`^${name}: ${dataset}: .+ not found, and downloading is off$`, 'm'));
    // where it looked: MOX_DATA_DIR's folder, then the cache (an empty folder here)
    assert.match(
      r.stderr,
      new RegExp(`^  looked in: MOX_DATA_DIR \\(${esc(join(empty, dataset))}\\), then ${esc(join(emptyCache, 'mox', dataset))}$`, 'm'),
    );
    assert.match(r.stderr, expected);
    assert.match(
      r.stderr,
      new RegExp(
        `^  tell ${name} where they are: npm run example:${name} -- --data-dir DIR \\(DIR holds the files, or a ${dataset}/ folder with them\\), or set MOX_DATA_DIR=DIR with DIR holding ${dataset}/`,
        'm',
      ),
    );
    assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
  }
  // with --data-dir, the message names that folder first
  const r = runExample('mnist-cnn', ['--data-dir', empty], { MOX_DATA_DIR: undefined });
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    new RegExp(`^  looked in: --data-dir \\(${esc(join(empty, 'mnist'))}\\), then MOX_DATA_DIR \\(not set\\), then `, 'm'),
  );
});

test('a bad command line is a usage error (exit code 2, no stack trace)', () => {
  for (const args of [['--bogus'], ['--epochs', '0']]) {
    const r = runExample('mnist-cnn', args);
    assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
    assert.match(r.stderr, /^mnist-cnn: (Unknown option '--bogus'|--epochs must be a positive integer, got '0')/);
    assert.doesNotMatch(r.stderr, /^\s+at /m);
  }
});
