// train.RunLog's file format (metrics.jsonl) and its reader: what is written is read back, a torn last
// line is dropped, NaN goes through as null, a resume trims the steps after its checkpoint, and a bad
// record is a DataError naming the file and the line.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as mox from '../src/index.js';
import { DataError } from '../src/errors.js';

const { RunLog, readRunLog, METRICS_FILE } = mox.train;
const tmpDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'mox-runlog-'));

test('RunLog: records written are read back; NaN is written as null and read as NaN', () => {
  const dir = path.join(tmpDir(), 'run-a');
  const log = new RunLog(dir, { kind: 'classifier', config: { lr: 0.1, layers: [2, 3] } });
  log.scalars(1, 'train', { loss: 2.5, lr: 0.1 });
  log.scalars(2, 'train', { loss: NaN, accuracy: Infinity }, 0);
  log.scalars(2, 'val', { loss: 1.5 }, 0);
  log.confusion(
    2,
    'val',
    ['a', 'b'],
    [
      [3, 1],
      [0, 4],
    ],
  );
  log.samples(2, [{ prompt: 'x', text: 'xy' }]);
  const lines = fs.readFileSync(path.join(dir, METRICS_FILE), 'utf8').trimEnd().split('\n');
  assert.equal(lines.length, 6);
  for (const l of lines) JSON.parse(l); // every line is JSON on its own
  assert.match(lines[2]!, /"loss":null,"accuracy":null/);
  const data = readRunLog(dir);
  assert.equal(data.run.name, 'run-a');
  assert.equal(data.run.kind, 'classifier');
  assert.deepEqual(data.run.config, { lr: 0.1, layers: [2, 3] });
  assert.equal(data.scalars.length, 3);
  assert.deepEqual(data.scalars[0]!.values, { loss: 2.5, lr: 0.1 });
  assert.ok(Number.isNaN(data.scalars[1]!.values.loss!) && Number.isNaN(data.scalars[1]!.values.accuracy!));
  assert.equal(data.scalars[1]!.epoch, 0);
  assert.equal(data.scalars[0]!.epoch, undefined);
  assert.deepEqual(data.confusion[0]!.matrix, [
    [3, 1],
    [0, 4],
  ]);
  assert.deepEqual(data.samples[0]!.samples, [{ prompt: 'x', text: 'xy' }]);
  assert.ok(data.scalars.every((s) => s.time >= 0));
});

test('RunLog: a torn last line is dropped; a resume trims the steps after its checkpoint; a fresh log starts over', () => {
  const dir = tmpDir();
  const log = new RunLog(dir, { kind: 'gpt', name: 'shakespeare' });
  for (let s = 1; s <= 6; s++) log.scalars(s, 'train', { loss: 1 / s });
  log.samples(4, [{ prompt: 'p', text: 'q' }]);
  const file = path.join(dir, METRICS_FILE);
  fs.appendFileSync(file, '{"type":"scalars","step":7,"spl'); // killed mid-write
  assert.deepEqual(
    readRunLog(dir).scalars.map((s) => s.step),
    [1, 2, 3, 4, 5, 6],
  );
  // resumed from the checkpoint of step 4: steps 5, 6 and the torn line go; a second run record
  const resumed = new RunLog(dir, { kind: 'gpt', name: 'shakespeare', resumeFrom: 4 });
  resumed.scalars(5, 'train', { loss: 0.25 });
  const data = readRunLog(dir);
  assert.deepEqual(
    data.scalars.map((s) => [s.step, s.values.loss]),
    [
      [1, 1],
      [2, 0.5],
      [3, 1 / 3],
      [4, 0.25],
      [5, 0.25],
    ],
  );
  assert.equal(data.samples.length, 1);
  assert.equal(data.resumes.length, 1);
  assert.equal(data.resumes[0]!.resumedFrom, 4);
  assert.equal(data.run.resumedFrom, undefined);
  // no resumeFrom: the file starts afresh
  new RunLog(dir, { kind: 'gpt' });
  const fresh = readRunLog(dir);
  assert.equal(fresh.scalars.length + fresh.samples.length + fresh.resumes.length, 0);
  // no temporary files left beside it
  assert.deepEqual(fs.readdirSync(dir), [METRICS_FILE]);
});

test('readRunLog: a bad record is a DataError naming the file and the line', () => {
  const dir = tmpDir();
  const file = path.join(dir, METRICS_FILE);
  const run = JSON.stringify({ type: 'run', name: 'r', kind: 'other', time: 't', config: {} });
  const cases: [string, RegExp][] = [
    [`${run}\nnot json\n{"type":"scalars","step":1,"split":"train","time":0,"values":{}}\n`, /metrics\.jsonl: line 2 is not JSON/],
    [`${run}\n[1,2]\n`, /line 2 is not a record with a "type"/],
    [
      `${run}\n{"type":"scalars","step":-1,"split":"train","time":0,"values":{}}\n`,
      /record 2 \(scalars\): "step" must be a non-negative integer, got -1/,
    ],
    [
      `${run}\n{"type":"scalars","step":1,"split":"dev","time":0,"values":{}}\n`,
      /"split" must be train, val or test, got 'dev'|"split" must be train, val or test, got "dev"/,
    ],
    [`${run}\n{"type":"scalars","step":1,"split":"val","time":0,"values":{"loss":"x"}}\n`, /value "loss" must be a number/],
    [
      `${run}\n{"type":"confusion","step":1,"split":"val","labels":["a","b"],"matrix":[[1,2]]}\n`,
      /"labels" and "matrix" must be arrays of the same length/,
    ],
    [`${run}\n{"type":"confusion","step":1,"split":"val","labels":["a"],"matrix":[[1.5]]}\n`, /must be 1x1 non-negative integer counts/],
    [`${run}\n{"type":"samples","step":1,"samples":[{"prompt":1}]}\n`, /"samples" must be an array of \{prompt, text\}/],
    ['{"type":"scalars","step":1,"split":"train","time":0,"values":{}}\n', /no "run" record/],
  ];
  for (const [text, re] of cases) {
    fs.writeFileSync(file, text);
    assert.throws(
      () => readRunLog(dir),
      (e: unknown) => e instanceof DataError && re.test(e.message) && e.message.includes(file),
      text,
    );
  }
  // an unknown record type is skipped (a newer writer's), not an error
  fs.writeFileSync(file, `${run}\n{"type":"histogram","step":1}\n`);
  assert.equal(readRunLog(dir).scalars.length, 0);
  assert.throws(
    () => readRunLog(path.join(dir, 'nope')),
    (e: unknown) => e instanceof DataError && /holds no metrics\.jsonl/.test(e.message),
  );
});
