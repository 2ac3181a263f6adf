// The language-model trainers write --out/metrics.jsonl: the run record, the train loss of every step
// with lr and tokens_per_s, the val loss and a sample at each evaluation; a run killed with SIGKILL
// and resumed leaves the same records as one never interrupted (times and speeds aside).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as mox from '../src/index.js';
import { MAIN, moxOk, wordText } from '../test-support/cli.js';

const { readRunLog } = mox.train;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mox-cli-metrics-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
const textFile = path.join(tmp, 'words.txt');
fs.writeFileSync(textFile, wordText(4000));

const SHAPE = ['--n-layer', '1', '--n-head', '2', '--n-embd', '16', '--block-size', '16'];
const RUN = ['--batch-size', '2', '--eval-iters', '1', '--threads', '1', '--sample-tokens', '12'];

/** The records with what depends on the clock removed: times, speeds, the start time. */
function timeless(dir: string): unknown[] {
  return fs
    .readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, any>)
    .filter((r) => !(r.type === 'run' && r.resumedFrom !== undefined))
    .map((r) => {
      const { time: _t, ...rest } = r;
      if (rest.type === 'scalars') {
        const { tokens_per_s: _s, ms_per_step: _m, ...values } = rest.values;
        rest.values = values;
      }
      return rest;
    });
}

test('train gpt writes metrics.jsonl: run config, every step, evaluations with samples; a killed run resumed writes the same', () => {
  const full = path.join(tmp, 'full');
  const args = ['train', 'gpt', '--data', textFile, ...SHAPE, ...RUN, '--max-iters', '6', '--eval-interval', '3'];
  moxOk([...args, '--out', full]);
  const data = readRunLog(full);
  assert.equal(data.run.kind, 'gpt');
  assert.equal(data.run.name, 'full');
  const cfg = data.run.config as Record<string, any>;
  assert.equal(cfg.model.nEmbd, 16);
  assert.ok(cfg.model.parameters > 0);
  assert.equal(cfg.train.lr, 1e-3);
  assert.equal(cfg.train.maxIters, 6);
  assert.equal(cfg.tokenizer.type, 'char');
  assert.equal(cfg.data.data, textFile);
  const train = data.scalars.filter((s) => s.split === 'train' && 'loss' in s.values);
  assert.deepEqual(
    train.map((s) => s.step),
    [1, 2, 3, 4, 5, 6],
  );
  for (const s of train) {
    assert.ok(s.values.loss! > 0 && s.values.lr! > 0 && s.values.tokens_per_s! > 0, JSON.stringify(s));
  }
  // the losses are those trainer_state.json keeps
  const state = JSON.parse(fs.readFileSync(path.join(full, 'trainer_state.json'), 'utf8'));
  assert.deepEqual(
    train.map((s) => s.values.loss),
    state.losses,
  );
  const val = data.scalars.filter((s) => s.split === 'val');
  assert.deepEqual(
    val.map((s) => [s.step, s.values.loss]),
    state.history.map((h: { step: number; val: number }) => [h.step, h.val]),
  );
  assert.deepEqual(
    val.map((s) => s.step),
    [0, 3, 6],
  );
  assert.deepEqual(
    data.samples.map((s) => s.step),
    [0, 3, 6],
  );
  for (const s of data.samples) {
    assert.equal(s.samples.length, 1);
    // the first whole line of the validation text, cut at 8 tokens (half the block)
    assert.ok(s.samples[0]!.prompt.length === 8 && s.samples[0]!.text.length > 0, JSON.stringify(s));
  }

  // killed (SIGKILL) after step 5, resumed from the checkpoint of step 3: the same records
  const resumed = path.join(tmp, 'resumed');
  const killed = spawnSync(process.execPath, [MAIN, ...args, '--out', resumed], {
    encoding: 'utf8',
    env: { ...process.env, MOX_TEST_CRASH_AT: 'step:5' },
  });
  assert.equal(killed.signal, 'SIGKILL', killed.stderr);
  assert.equal(readRunLog(resumed).scalars.filter((s) => s.split === 'train' && 'loss' in s.values).length, 5);
  moxOk(['train', 'gpt', '--out', resumed, '--resume', '--threads', '1', '--sample-tokens', '12']);
  const after = readRunLog(resumed);
  assert.equal(after.resumes.length, 1);
  assert.equal(after.resumes[0]!.resumedFrom, 3);
  assert.deepEqual(
    timeless(resumed),
    timeless(full).map((r) => ((r as { type: string }).type === 'run' ? { ...(r as object), name: 'resumed' } : r)),
  );
});

test('finetune gpt (LoRA) and distill gpt write their kind of run, with samples', () => {
  const base = path.join(tmp, 'base');
  moxOk(['train', 'gpt', '--data', textFile, '--out', base, ...SHAPE, ...RUN, '--max-iters', '2', '--eval-interval', '2']);
  const lora = path.join(tmp, 'lora');
  moxOk([
    'finetune',
    'gpt',
    '--from',
    base,
    '--data',
    textFile,
    '--out',
    lora,
    ...RUN,
    '--lora',
    'r=2',
    '--max-iters',
    '2',
    '--eval-interval',
    '2',
  ]);
  const tuned = readRunLog(lora);
  assert.equal(tuned.run.kind, 'finetune');
  assert.ok((tuned.run.config as Record<string, any>).finetune.lora);
  assert.deepEqual(
    tuned.samples.map((s) => s.step),
    [0, 2],
  );
  const student = path.join(tmp, 'student');
  moxOk([
    'distill',
    'gpt',
    '--teacher',
    base,
    '--data',
    textFile,
    '--out',
    student,
    '--n-layer',
    '1',
    '--n-head',
    '2',
    '--n-embd',
    '16',
    ...RUN,
    '--max-iters',
    '2',
    '--eval-interval',
    '2',
  ]);
  const distilled = readRunLog(student);
  assert.equal(distilled.run.kind, 'distill');
  assert.deepEqual(
    distilled.scalars.filter((s) => s.split === 'train' && 'loss' in s.values).map((s) => s.step),
    [1, 2],
  );
  // no samples with --sample-tokens 0
  const quiet = path.join(tmp, 'quiet');
  moxOk(['train', 'gpt', '--data', textFile, '--out', quiet, ...SHAPE, ...RUN, '--sample-tokens', '0', '--max-iters', '1']);
  assert.equal(readRunLog(quiet).samples.length, 0);
});

test('train lstm writes metrics.jsonl; a run resumed in two parts writes the same scalars and samples', () => {
  const common = ['--data', textFile, '--hidden-size', '16', '--embed-dim', '8', '--seq-len', '12', '--batch-size', '2'];
  const rest = ['--eval-interval', '2', '--eval-iters', '1', '--dropout', '0.1', '--threads', '1', '--sample-tokens', '10'];
  const full = path.join(tmp, 'lstm-full');
  moxOk(['train', 'lstm', ...common, ...rest, '--max-iters', '4', '--out', full]);
  const data = readRunLog(full);
  assert.equal(data.run.kind, 'lstm');
  assert.equal((data.run.config as Record<string, any>).model.hiddenSize, 16);
  assert.deepEqual(
    data.scalars.filter((s) => s.split === 'train' && 'loss' in s.values).map((s) => s.step),
    [1, 2, 3, 4],
  );
  assert.deepEqual(
    data.scalars.filter((s) => s.split === 'val').map((s) => s.step),
    [0, 2, 4],
  );
  assert.deepEqual(
    data.samples.map((s) => s.step),
    [0, 2, 4],
  );
  const part = path.join(tmp, 'lstm-part');
  moxOk(['train', 'lstm', ...common, ...rest, '--max-iters', '2', '--lr-decay-iters', '4', '--out', part]);
  moxOk(['train', 'lstm', '--out', part, '--resume', '--max-iters', '4', '--threads', '1', '--sample-tokens', '10']);
  const records = (dir: string) => timeless(dir).filter((r) => (r as { type: string }).type !== 'run');
  assert.deepEqual(records(part), records(full));
});
