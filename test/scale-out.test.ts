// The PyTorch round trip (issue 19, docs/scale-out.md): mox trains a small GPT, exports it as a Hugging
// Face folder and the text as a token file; python/mox_torch continues it with DDP on gloo over two
// ranks under torchrun and saves a folder again; mox loads that, its logits equal PyTorch's within 1e-4,
// and it fine-tunes, quantizes and generates from it. Needs /usr/bin/python3 with torch and numpy (else
// skipped, saying so). Token files themselves are checked without PyTorch.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as mox from '../src/index.js';
import { loadGPT } from '../src/models/gpt-checkpoint.js';
import { readTokenFile, writeTokenFile } from '../src/data/formats/tokens.js';
import { loadTokenizerDir } from '../src/text/load-tokenizer.js';
import { runTokenize } from '../src/cli/commands/tokenize.js';
import { moxOk, runMox, wordText } from '../test-support/cli.js';

const PY = '/usr/bin/python3';
const PYDIR = path.resolve(process.cwd(), 'python');
// transformers-equivalent reference logits of a tiny GPT-2 folder, as test/hf-gpt2.test.ts finds them
const REF_DIR = path.resolve(process.env['MOX_HF_REF_DIR'] ?? path.join('..', 'shared', 'data', 'hf-gpt2-tiny'));
const SHAPE = ['--n-layer', '2', '--n-head', '2', '--n-embd', '32', '--block-size', '32'];
const RUN = ['--batch-size', '4', '--eval-iters', '2', '--warmup-iters', '5', '--threads', '1'];

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mox-scale-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
const textFile = path.join(tmp, 'text.txt');
fs.writeFileSync(textFile, wordText());
const ckpt = path.join(tmp, 'ckpt');
const exported = path.join(tmp, 'exported');
const bin = path.join(tmp, 'train.bin');
const torchOut = path.join(tmp, 'torch');

// PyTorch 1.x's torchrun fails at start on Python 3.11 (its --redirects default parses to None);
// mox_torch.launch is torchrun with that fixed, used only where it is needed
const probe = spawnSync(
  PY,
  [
    '-c',
    'import sys, numpy, torch; print(torch.__version__, int(sys.version_info >= (3, 11) and int(torch.__version__.split(".")[0]) < 2))',
  ],
  { encoding: 'utf8' },
);
const noTorch =
  probe.error || probe.status !== 0
    ? `PyTorch is not importable by ${PY} (${probe.error?.message ?? probe.stderr.trim().split('\n').pop()})`
    : null;
const launcher = probe.stdout?.trim().endsWith(' 1')
  ? [PY, '-m', 'mox_torch.launch']
  : fs.existsSync('/usr/bin/torchrun')
    ? ['/usr/bin/torchrun']
    : [PY, '-m', 'torch.distributed.run'];

function python(args: string[], timeout = 120_000): string {
  const r = spawnSync(args[0]!, args.slice(1), {
    encoding: 'utf8',
    timeout,
    env: { ...process.env, PYTHONPATH: PYDIR, OMP_NUM_THREADS: '1' },
  });
  if (r.error) throw r.error;
  assert.equal(r.status, 0, `${args.join(' ')}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** PyTorch's logits of ids [B][T] for the folder, from mox_torch.logits. */
function torchLogits(dir: string, ids: number[][]): { shape: number[]; logits: number[] } {
  return JSON.parse(python([PY, '-m', 'mox_torch.logits', dir, '--ids', JSON.stringify(ids)])) as { shape: number[]; logits: number[] };
}

/** mox's logits of ids [B][T] for the folder (loadGPT), and the model's mean loss on them (next-token targets). */
function moxLogits(dir: string, ids: number[][]): { shape: number[]; logits: Float32Array } {
  const { model } = loadGPT(dir);
  model.eval();
  return mox.scope(() =>
    mox.noGrad(() => {
      const x = mox.tensor(Int32Array.from(ids.flat()), { shape: [ids.length, ids[0]!.length], dtype: 'int32' });
      const { logits } = model.forward(x);
      return { shape: [...logits.shape], logits: Float32Array.from(logits.dataSync() as Float32Array) };
    }),
  );
}

/** mox's mean cross-entropy of the folder's model on the same windows of ids (input [0, T), targets [1, T]). */
function moxLoss(dir: string, windows: number[][]): number {
  const { model } = loadGPT(dir);
  model.eval();
  const t = windows[0]!.length - 1;
  return mox.scope(() =>
    mox.noGrad(() => {
      const x = mox.tensor(Int32Array.from(windows.flatMap((w) => w.slice(0, t))), { shape: [windows.length, t], dtype: 'int32' });
      const y = mox.tensor(Int32Array.from(windows.flatMap((w) => w.slice(1))), { shape: [windows.length, t], dtype: 'int32' });
      return model.forward(x, y).loss!.item();
    }),
  );
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** 8 windows of 33 tokens from the validation tenth of the token file (the split mox and PyTorch share). */
function valWindows(): number[][] {
  const { ids } = readTokenFile(bin);
  const start = Math.floor(ids.length * 0.9);
  return Array.from({ length: 8 }, (_, i) => Array.from(ids.subarray(start + i * 60, start + i * 60 + 33)));
}

test('token files: uint16 nanoGPT layout, FILE.json, a changed byte or a bad id is an error', () => {
  const f = path.join(tmp, 'small.bin');
  const info = writeTokenFile(f, [0, 1, 65535, 7], { vocabSize: 65536, tokenizer: { kind: 'char', source: 'x' }, source: '-' });
  assert.equal(info.dtype, 'uint16');
  assert.deepEqual([...fs.readFileSync(f)], [0, 0, 1, 0, 255, 255, 7, 0]); // little-endian, no header
  assert.deepEqual(Array.from(readTokenFile(f).ids), [0, 1, 65535, 7]);
  const big = writeTokenFile(f, [65536, 3], { vocabSize: 70000, tokenizer: { kind: 'bpe', source: 'x' }, source: '-' });
  assert.equal(big.dtype, 'uint32');
  assert.deepEqual(Array.from(readTokenFile(f).ids), [65536, 3]);
  const bytes = fs.readFileSync(f);
  bytes[0] = 9;
  fs.writeFileSync(f, bytes);
  assert.throws(() => readTokenFile(f), /sha256 .* differs/);
  assert.throws(
    () => writeTokenFile(f, [1, 20], { vocabSize: 20, tokenizer: { kind: 'char', source: 'x' }, source: '-' }),
    /id 20 at position 1 is outside the vocabulary \[0, 20\)/,
  );
  const r = runMox(['tokenize', '--tokenizer', 'gpt2', '--out-bin', f, '--decode']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--out-bin writes ids, it does not go with --decode/);
});

test("token files: GPT-2's BPE (50257 ids) is uint16, the ids mox tokenize prints", async (t) => {
  const vocab = path.resolve(process.env['MOX_DATA_DIR'] ?? path.join('..', 'shared', 'data'), 'gpt2-bpe');
  if (!fs.existsSync(path.join(vocab, 'encoder.json'))) return t.skip(`no GPT-2 vocabulary in ${vocab} (MOX_DATA_DIR)`);
  const f = path.join(tmp, 'gpt2.bin');
  const text = fs.readFileSync(textFile, 'utf8');
  const opts = { tokenizer: 'gpt2', vocabDir: vocab };
  await runTokenize({ ...opts, outBin: f }, text, () => {});
  let printed = '';
  await runTokenize(opts, text, (d) => {
    printed += String(d);
  });
  const { ids, info } = readTokenFile(f);
  assert.deepEqual([info.dtype, info.vocab_size, info.tokenizer.kind], ['uint16', 50257, 'bpe']);
  assert.deepEqual(Array.from(ids), JSON.parse(printed) as number[]);
});

test('setup: mox trains a GPT 50 iterations, exports it, and writes the token file', () => {
  const t0 = performance.now();
  const log = moxOk(['train', 'gpt', '--data', textFile, '--out', ckpt, ...SHAPE, ...RUN, '--max-iters', '50', '--eval-interval', '50']);
  moxOk(['export-hf', '--model', ckpt, '--out', exported]);
  const said = moxOk(['tokenize', '--tokenizer', ckpt, '--input', textFile, '--out-bin', bin]);
  assert.match(said, /tokens, uint16, vocab 20 \(char\)/);
  // the token file is the training run's own tokenization of the text
  const { ids, info } = readTokenFile(bin);
  assert.equal(info.count, Number(/: (\d+) tokens, /.exec(log)![1]));
  assert.deepEqual(Array.from(ids), loadTokenizerDir(ckpt).encode(fs.readFileSync(textFile, 'utf8')));
  assert.equal(info.source, textFile);
  console.log(`# mox: train 50 iterations, export-hf, tokenize --out-bin: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
});

test("python/tests: mox_torch's unit tests, and its logits on hf-gpt2-tiny equal the reference's", (t) => {
  if (noTorch) return t.skip(noTorch);
  const r = spawnSync(PY, ['-m', 'unittest', 'discover', '-s', path.join(PYDIR, 'tests')], {
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, PYTHONPATH: PYDIR, MOX_HF_REF_DIR: REF_DIR },
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /Ran \d+ tests[\s\S]*OK/);
  // the reference check runs wherever the shared data is (it skips, saying so, elsewhere)
  if (fs.existsSync(path.join(REF_DIR, 'reference.json'))) assert.doesNotMatch(r.stderr, /skipped/, r.stderr);
  else t.diagnostic(`no ${REF_DIR}/reference.json: the hf-gpt2-tiny reference check was skipped`);
});

test("PyTorch's GPT-2 of the export gives mox's logits within 1e-4", (t) => {
  if (noTorch) return t.skip(noTorch);
  const ids = valWindows()
    .slice(0, 2)
    .map((w) => w.slice(0, 32));
  const py = torchLogits(exported, ids);
  const ours = moxLogits(ckpt, ids);
  assert.deepEqual(py.shape, [2, 32, 20]);
  assert.deepEqual(ours.shape, py.shape);
  const d = maxDiff(ours.logits, py.logits);
  console.log(`# export: max |mox - PyTorch| logit difference ${d.toExponential(2)}`);
  assert.ok(d < 1e-4, `max difference ${d}`);
});

test('torchrun, 2 ranks, DDP on gloo: 50 iterations, the loss falls, and mox reads the result with equal logits', async (t) => {
  if (noTorch) return t.skip(noTorch);
  const t0 = performance.now();
  const out = python([
    ...launcher,
    '--standalone',
    '--nproc_per_node',
    '2',
    '-m',
    'mox_torch.train',
    '--model',
    exported,
    '--data',
    bin,
    '--out',
    torchOut,
    '--max-iters',
    '50',
    '--batch-size',
    '4',
    '--eval-interval',
    '50',
    '--eval-iters',
    '4',
    '--warmup-iters',
    '5',
  ]);
  const seconds = (performance.now() - t0) / 1000;
  assert.match(out, /DDP over 2 cpu rank\(s\), backend gloo/);
  const state = JSON.parse(fs.readFileSync(path.join(torchOut, 'torch_state.json'), 'utf8')) as {
    step: number;
    world_size: number;
    history: { step: number; val: number }[];
  };
  assert.equal(state.step, 50);
  // config.json comes back as it went (the tokenizer files travel along)
  const config = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as unknown;
  assert.deepEqual(config(torchOut), config(exported));
  assert.ok(fs.existsSync(path.join(torchOut, 'tokenizer.json')));
  assert.equal(state.world_size, 2);
  const [before, after] = [state.history[0]!, state.history.at(-1)!];
  assert.deepEqual([before.step, after.step], [0, 50]);
  assert.ok(after.val < before.val, `PyTorch's val loss ${before.val} -> ${after.val}`);
  // mox measures the same: its loss on the same validation windows falls from the export to the result
  const windows = valWindows();
  const [lossBefore, lossAfter] = [moxLoss(exported, windows), moxLoss(torchOut, windows)];
  assert.ok(lossAfter < lossBefore - 0.05, `mox's val loss ${lossBefore} -> ${lossAfter}`);
  const ids = windows.slice(0, 2).map((w) => w.slice(0, 32));
  const py = torchLogits(torchOut, ids);
  const ours = moxLogits(torchOut, ids);
  const d = maxDiff(ours.logits, py.logits);
  console.log(
    `# torchrun: ${seconds.toFixed(1)} s; PyTorch val loss ${before.val.toFixed(4)} -> ${after.val.toFixed(4)}; ` +
      `mox's loss on 8 val windows ${lossBefore.toFixed(4)} -> ${lossAfter.toFixed(4)}; max logit difference ${d.toExponential(2)}`,
  );
  assert.ok(d < 1e-4, `max difference ${d}`);
  // the folder carries the tokenizer on: mox tokenizes with it as with the original checkpoint
  const again = path.join(tmp, 'again.bin');
  await runTokenize({ tokenizer: torchOut, outBin: again }, fs.readFileSync(textFile, 'utf8'), () => {});
  assert.equal(readTokenFile(again).info.sha256, readTokenFile(bin).info.sha256);
});

test('mox continues from the PyTorch folder: finetune gpt --from, quantize, generate', (t) => {
  if (noTorch) return t.skip(noTorch);
  if (!fs.existsSync(path.join(torchOut, 'model.safetensors'))) return t.skip('the torchrun test did not leave a folder');
  const t0 = performance.now();
  const tuned = path.join(tmp, 'tuned');
  const log = moxOk([
    'finetune',
    'gpt',
    '--from',
    torchOut,
    '--data',
    textFile,
    '--out',
    tuned,
    ...RUN,
    '--max-iters',
    '5',
    '--eval-interval',
    '5',
  ]);
  assert.match(log, /step 5: train loss/);
  const q = path.join(tmp, 'quantized');
  moxOk(['quantize', '--model', tuned, '--out', q, '--scheme', 'int8']);
  const gen = moxOk(['generate', '--model', q, '--prompt', 'the cat', '--max-new-tokens', '8', '--temperature', '0']);
  assert.ok(gen.startsWith('the cat') && gen.trim().length > 'the cat'.length, gen);
  console.log(
    `# mox from PyTorch's folder: finetune 5 iterations, quantize int8, generate: ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
});
