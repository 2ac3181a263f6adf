// `mox distill gpt` (issue 15): a tiny teacher trained by `mox train gpt`, a smaller student with the
// teacher's tokenizer and block size; the checkpoint `mox generate` reads, --resume byte for byte,
// alpha 0 equal to `mox train gpt` of the same student, and the flags' errors. Tiny models, few iterations.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as mox from '../src/index.js';
import { moxOk, runMox, wordText } from '../test-support/cli.js';

const RUN = ['--batch-size', '2', '--eval-iters', '1', '--threads', '1'];
const STUDENT = ['--n-layer', '1', '--n-head', '2', '--n-embd', '8'];

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mox-distill-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

const text = wordText();
const textFile = path.join(tmp, 'text.txt');
fs.writeFileSync(textFile, text);
const teacherDir = path.join(tmp, 'teacher');

function weights(dir: string): Record<string, number[]> {
  const { tensors } = mox.loadSafetensorsSync(path.join(dir, 'model.safetensors'));
  const out: Record<string, number[]> = {};
  for (const [k, t] of Object.entries(tensors)) {
    out[k] = Array.from(t.dataSync());
    t.dispose();
  }
  return out;
}

const config = (dir: string) =>
  JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, Record<string, unknown>>;

test('setup: a tiny teacher', () => {
  moxOk([
    'train',
    'gpt',
    '--data',
    textFile,
    '--out',
    teacherDir,
    '--n-layer',
    '2',
    '--n-head',
    '2',
    '--n-embd',
    '16',
    '--block-size',
    '16',
    ...RUN,
    '--max-iters',
    '30',
    '--eval-interval',
    '30',
  ]);
});

test('distill gpt: a smaller student with the teacher tokenizer and block size; generate reads it', () => {
  const out = path.join(tmp, 'student');
  const log = moxOk([
    'distill',
    'gpt',
    '--teacher',
    teacherDir,
    '--data',
    textFile,
    '--out',
    out,
    ...STUDENT,
    ...RUN,
    '--max-iters',
    '6',
    '--eval-interval',
    '3',
    '--temperature',
    '2',
    '--alpha',
    '0.7',
  ]);
  assert.match(log, /distilling .*teacher into: GPT 1 layers, 2 heads, width 8, block 16/);
  assert.match(log, /teacher: .*GPT 2 layers, width 16/);
  const cfg = config(out);
  assert.equal(cfg['gpt']!['nLayer'], 1);
  assert.equal(cfg['gpt']!['blockSize'], 16);
  assert.equal(cfg['gpt']!['vocabSize'], config(teacherDir)['gpt']!['vocabSize']);
  assert.deepEqual(
    { ...cfg['distill'], teacher: undefined },
    { teacher: undefined, temperature: 2, alpha: 0.7, unknown: { kind: 'error' } },
  );
  assert.equal(fs.readFileSync(path.join(out, 'tokenizer.json'), 'utf8'), fs.readFileSync(path.join(teacherDir, 'tokenizer.json'), 'utf8'));
  const gen = moxOk(['generate', '--model', out, '--prompt', 'the cat', '--max-new-tokens', '8']);
  assert.ok(gen.startsWith('the cat'), gen);
});

test('distill gpt --resume continues exactly', () => {
  const args = [
    '--teacher',
    teacherDir,
    '--data',
    textFile,
    ...STUDENT,
    ...RUN,
    '--eval-interval',
    '3',
    '--lr-decay-iters',
    '6',
    '--alpha',
    '0.6',
    '--temperature',
    '3',
  ];
  const whole = path.join(tmp, 'whole');
  moxOk(['distill', 'gpt', ...args, '--out', whole, '--max-iters', '6']);
  const split = path.join(tmp, 'split');
  moxOk(['distill', 'gpt', ...args, '--out', split, '--max-iters', '3']);
  const resumed = moxOk(['distill', 'gpt', '--out', split, '--resume', '--max-iters', '6', '--threads', '1']);
  assert.match(resumed, /resuming from .* at step 3/);
  assert.match(resumed, /teacher: /);
  assert.deepEqual(weights(split), weights(whole), 'the resumed student differs from the uninterrupted run');
  const again = runMox(['distill', 'gpt', '--out', split, '--resume', '--alpha', '0.1']);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /--alpha comes from the checkpoint/);
});

test('distill gpt --alpha 0 trains the student exactly as train gpt', () => {
  const common = ['--data', textFile, ...STUDENT, ...RUN, '--max-iters', '4', '--eval-interval', '4'];
  const distilled = path.join(tmp, 'alpha0');
  moxOk(['distill', 'gpt', '--teacher', teacherDir, '--alpha', '0', ...common, '--out', distilled]);
  const alone = path.join(tmp, 'alone');
  moxOk(['train', 'gpt', '--block-size', '16', ...common, '--out', alone]);
  assert.deepEqual(weights(distilled), weights(alone));
});

test('distill gpt: bad flags are usage errors; a missing teacher is named', () => {
  const out = path.join(tmp, 'bad');
  for (const [flags, msg] of [
    [['--temperature', '0'], /--temperature must be a number > 0, got '0'/],
    [['--alpha', '1.5'], /--alpha must be in \[0, 1\], got '1.5'/],
  ] as const) {
    const r = runMox(['distill', 'gpt', '--teacher', teacherDir, '--data', textFile, '--out', out, ...flags]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, msg);
  }
  const none = runMox(['distill', 'gpt', '--data', textFile, '--out', out]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /--teacher DIR is required/);
  const missing = runMox(['distill', 'gpt', '--teacher', path.join(tmp, 'nope'), '--data', textFile, '--out', out]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /the teacher .*nope does not exist/);
});

test('example distill-gpt runs end to end on a tiny teacher (2 steps each)', () => {
  // the example reads tinyshakespeare from --data-dir: here the tiny teacher's own text
  const dataDir = path.join(tmp, 'data');
  fs.mkdirSync(path.join(dataDir, 'tinyshakespeare'), { recursive: true });
  fs.copyFileSync(textFile, path.join(dataDir, 'tinyshakespeare', 'input.txt'));
  const r = spawnSync(
    process.execPath,
    [
      path.resolve('dist/examples/distill-gpt.js'),
      ...['--teacher', teacherDir, '--iters', '2', '--data-dir', dataDir, '--threads', '1', '--run-dir', path.join(tmp, 'runs')],
    ],
    { encoding: 'utf8', timeout: 120_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  // the metrics of its two training runs (the teacher was given)
  for (const sub of ['distilled', 'alone']) assert.equal(mox.train.readRunLog(path.join(tmp, 'runs', sub)).run.name, sub);
  const line = r.stdout.trim().split('\n').at(-1)!;
  assert.ok(line.startsWith('RESULT '), line);
  const res = JSON.parse(line.slice('RESULT '.length));
  for (const k of ['teacher_val_loss', 'distilled_val_loss', 'alone_val_loss']) assert.ok(Number.isFinite(res[k]) && res[k] > 0, k);
  assert.ok(Math.abs(res.improvement - (res.alone_val_loss - res.distilled_val_loss)) < 2e-4);
  assert.equal(res.iters, 2);
  assert.equal(res.temperature, 1);
  assert.equal(res.alpha, 0.5);
});
