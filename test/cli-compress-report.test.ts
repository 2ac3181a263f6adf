// `mox compress-report` (issue 15, part 4): two tiny GPTs trained by `mox train gpt` on the same
// character data (widths 16 and 8), compared with --json: sizes and parameter counts against the files
// and the models, the validation loss against `train gpt`'s evaluation code run here on the same windows,
// sparsity of a copy with weights zeroed by hand, the quantization scheme, and the errors.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as mox from '../src/index.js';
import { Generator } from '../src/tensor/random.js';
import { loadGPT } from '../src/models/gpt-checkpoint.js';
import { batch } from '../src/cli/commands/train-gpt.js';
import { loadModelTokenizer } from '../src/cli/commands/gpt-tokenizer.js';
import type { CompressReport } from '../src/cli/commands/compress-report.js';
import { moxOk, runMox, wordText } from '../test-support/cli.js';

const RUN = ['--batch-size', '2', '--eval-iters', '1', '--threads', '1', '--max-iters', '10', '--eval-interval', '10'];

/** A failing command: its exit code, and one line on stderr (plus the usage hint for exit 2). */
function fails(args: string[], code: number, pattern: RegExp): void {
  const r = runMox(args);
  assert.equal(r.code, code, `mox ${args.join(' ')}\n${r.stdout}\n${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, code === 2 ? 2 : 1, r.stderr);
  assert.match(lines[0]!, pattern);
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mox-compress-report-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

const text = wordText();
const textFile = path.join(tmp, 'text.txt');
fs.writeFileSync(textFile, text);
const big = path.join(tmp, 'big');
const small = path.join(tmp, 'small');
const REPORT = ['--data', textFile, '--eval-iters', '3', '--tokens', '8', '--threads', '1', '--json'];

const report = (a: string, b: string, extra: string[] = REPORT): CompressReport =>
  JSON.parse(moxOk(['compress-report', '--model', a, '--compressed', b, ...extra])) as CompressReport;

test('setup: two tiny GPTs of different widths on the same text', () => {
  const shape = ['--n-layer', '2', '--n-head', '2', '--block-size', '16'];
  moxOk(['train', 'gpt', '--data', textFile, '--out', big, ...shape, '--n-embd', '16', ...RUN]);
  moxOk(['train', 'gpt', '--data', textFile, '--out', small, ...shape, '--n-embd', '8', ...RUN]);
});

test('compress-report --json: sizes, parameters and shape match the files and the models', () => {
  const r = report(big, small);
  for (const [dir, m] of [
    [big, r.original],
    [small, r.compressed],
  ] as const) {
    assert.equal(m.dir, path.resolve(dir));
    assert.equal(m.weightsBytes, fs.statSync(path.join(dir, 'model.safetensors')).size);
    const { model } = loadGPT(dir);
    assert.equal(m.params, model.getNumParams(false));
    // the file holds each parameter once (the tied head is wte)
    const { tensors } = mox.loadSafetensorsSync(path.join(dir, 'model.safetensors'));
    const inFile = Object.values(tensors).reduce((s, t) => s + t.size, 0);
    const in2d = Object.values(tensors).reduce((s, t) => s + (t.ndim === 2 ? t.size : 0), 0);
    for (const t of Object.values(tensors)) t.dispose();
    assert.equal(m.params, inFile);
    assert.equal(m.weights2d, in2d);
    const cfg = (JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as { gpt: Record<string, number> }).gpt;
    assert.deepEqual(
      [m.nLayer, m.nHead, m.nEmbd, m.vocabSize, m.blockSize],
      [cfg['nLayer'], cfg['nHead'], cfg['nEmbd'], cfg['vocabSize'], cfg['blockSize']],
    );
    for (const p of model.parameters()) p.dispose();
    assert.equal(m.zeros2d, 0);
    assert.equal(m.sparsity, 0);
    assert.equal(m.tokenizer, 'char');
    assert.equal(m.quantization, null);
    assert.ok(m.tokensPerSecond > 0);
  }
  assert.equal(r.compressed.nEmbd, 8);
  assert.equal(r.ratio['nEmbd'], 0.5);
  assert.equal(r.ratio['params'], r.compressed.params / r.original.params);
  assert.equal(r.ratio['weightsBytes'], r.compressed.weightsBytes / r.original.weightsBytes);
  assert.equal(r.threads, 1);
  assert.equal(r.tokens, 8);
});

test("compress-report: the validation loss is train gpt's evaluation on the seeded windows, the same on every call", () => {
  const r = report(big, small);
  mox.setNumThreads(1);
  for (const [dir, m] of [
    [big, r.original],
    [small, r.compressed],
  ] as const) {
    assert.ok(m.valLoss !== null && Number.isFinite(m.valLoss), `${m.valLoss}`);
    // train gpt's split and batch(): the last 10% of the tokens, EVAL_BATCH x blockSize windows from Generator(seed)
    const { model } = loadGPT(dir);
    model.eval();
    const ids = Int32Array.from(loadModelTokenizer(dir)!.encode(text));
    const val = ids.subarray(Math.floor(ids.length * 0.9));
    assert.equal(m.valTokens, val.length);
    const gen = new Generator(r.evalSeed);
    let sum = 0;
    for (let k = 0; k < r.evalIters; k++) {
      const { x, y } = batch(val, model.config.blockSize, r.evalBatch, gen, 'cpu');
      sum += mox.noGrad(() => model.forward(x, y).loss!.item());
      x.dispose();
      y.dispose();
    }
    for (const p of model.parameters()) p.dispose();
    assert.equal(m.valLoss, sum / r.evalIters);
  }
  const again = report(big, small);
  assert.equal(again.original.valLoss, r.original.valLoss);
  assert.equal(again.compressed.valLoss, r.compressed.valLoss);
  assert.equal(r.ratio['valLoss'], r.compressed.valLoss! / r.original.valLoss!);
});

test('compress-report: sparsity counts the zeros of a copy pruned by hand; no quantization row for float models', () => {
  const pruned = path.join(tmp, 'pruned');
  fs.mkdirSync(pruned);
  const config = JSON.parse(fs.readFileSync(path.join(small, 'config.json'), 'utf8')) as Record<string, unknown>;
  fs.writeFileSync(path.join(pruned, 'config.json'), JSON.stringify(config));
  fs.copyFileSync(path.join(small, 'tokenizer.json'), path.join(pruned, 'tokenizer.json'));
  const { tensors, metadata } = mox.loadSafetensorsSync(path.join(small, 'model.safetensors'));
  const name = 'transformer.h.0.mlp.c_fc.weight';
  const w = tensors[name]!;
  const d = Float32Array.from(w.dataSync());
  let zeroed = 0;
  for (let i = 0; i < d.length; i += 3) {
    if (d[i] !== 0) zeroed++;
    d[i] = 0;
  }
  tensors[name] = mox.tensor(d, { shape: w.shape });
  w.dispose();
  mox.saveSafetensorsSync(path.join(pruned, 'model.safetensors'), tensors, metadata);
  for (const t of Object.values(tensors)) t.dispose();

  const r = report(small, pruned);
  assert.equal(r.original.zeros2d, 0);
  assert.equal(r.compressed.zeros2d, zeroed);
  assert.equal(r.compressed.sparsity, zeroed / r.compressed.weights2d);
  assert.ok(r.compressed.sparsity > 0);
  assert.equal(r.compressed.params, r.original.params);
  assert.equal(r.compressed.quantization, null);
  assert.ok(Number.isFinite(r.compressed.valLoss!));

  // the table: one row per quantity; the quantization row is only there when a model is quantized (test/quant.test.ts)
  const table = moxOk(['compress-report', '--model', small, '--compressed', pruned, '--tokens', '4', '--threads', '1']);
  assert.match(table, /^\s+original\s+compressed\s+ratio$/m);
  assert.match(table, /^parameters\s+[\d,]+\s+[\d,]+\s+1\.000x$/m);
  assert.match(table, /^sparsity \(2-D weights\)\s+0\.00%\s+\d+\.\d\d%$/m);
  assert.doesNotMatch(table, /quantization/);
  assert.doesNotMatch(table, /validation loss/);
});

test('compress-report: bad input gets exit 1 or 2 and one line', () => {
  const missing = path.join(tmp, 'missing');
  fails(['compress-report', '--model', missing, '--compressed', small], 1, /^mox: compress-report: --model .*missing: no such folder$/);
  fails(
    ['compress-report', '--model', big, '--compressed', textFile],
    1,
    /--compressed .*text\.txt is a file, not a GPT checkpoint folder/,
  );
  fails(['compress-report', '--model', tmp, '--compressed', small], 1, /--model .* is not a GPT checkpoint folder: it has no config\.json/);
  const notGpt = path.join(tmp, 'not-gpt');
  fs.mkdirSync(notGpt);
  fs.writeFileSync(path.join(notGpt, 'config.json'), JSON.stringify({ model: 'lstm' }));
  fails(['compress-report', '--model', big, '--compressed', notGpt], 1, /--compressed .*not-gpt is not a GPT checkpoint folder that loads/);
  const noTok = path.join(tmp, 'no-tokenizer');
  fs.mkdirSync(noTok);
  for (const f of ['config.json', 'model.safetensors']) fs.copyFileSync(path.join(small, f), path.join(noTok, f));
  fails(
    ['compress-report', '--model', big, '--compressed', noTok, '--data', textFile, '--tokens', '2'],
    1,
    /--compressed .*no-tokenizer has no tokenizer/,
  );
  // without a text, a folder without a tokenizer is compared all the same
  assert.equal(report(big, noTok, ['--tokens', '2', '--json']).compressed.tokenizer, null);
  const other = path.join(tmp, 'other.txt');
  fs.writeFileSync(other, `${text}\u00e9`);
  fails(
    ['compress-report', '--model', big, '--compressed', small, '--data', other, '--tokens', '2'],
    1,
    /other\.txt has 1 distinct characters that the character tokenizer of --model .* does not have \("\u00e9"\)/,
  );
  fails(
    ['compress-report', '--model', big, '--compressed', small, '--data', missing],
    1,
    /^mox: compress-report: cannot read the data file .*missing: no such file$/,
  );
  fails(['compress-report', '--model', big], 2, /--compressed DIR2 is required/);
  fails(['compress-report', '--compressed', big], 2, /--model DIR is required/);
  fails(['compress-report', '--model', big, '--compressed', small, '--tokens', '0'], 2, /--tokens must be an integer >= 1/);
  fails(['compress-report', '--model', big, '--compressed', small, '--eval-iters', 'x'], 2, /--eval-iters must be an integer >= 1/);
  fails(['compress-report', '--model', big, '--compressed', small, '--encoding', 'latin1'], 2, /--encoding goes with --data/);
  fails(['compress-report', '--model', big, '--compressed', small, 'extra'], 2, /unexpected argument 'extra'/);
});
