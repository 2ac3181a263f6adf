// `mox train gpt` survives kill -9 (issue 13): 20 kills at seeded moments (between the files of a
// checkpoint, at its commit, while its files are linked into the run folder, while an old one is
// removed, after a step, and from outside at random times), each followed by --resume; every
// checkpoint on disk is whole and readable after every kill, and every run that completes ends with
// model, optimizer state, trainer state (RNG, loss history) and config byte-identical to the
// uninterrupted run's. A torn checkpoint (files of two steps, a truncated or missing file) is told
// apart and the last whole one used. scripts/crash-kills.mjs runs more kills.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { commitCheckpoint, verifyCheckpoint } from '../src/io/checkpoint-dir.js';
import { runKillChain } from '../test-support/kill-chain.js';
import { compareWithReference, gptKillChainSpec, gptReference } from '../test-support/crash-gpt.js';

const tmpDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'mox-crash-gpt-'));

test('train gpt: 20 kills -9 at seeded moments, each resumed, end byte-identical to the uninterrupted run', async (t) => {
  const dir = tmpDir();
  const run = gptReference(dir);
  const report = await runKillChain(gptKillChainSpec(dir, run), 20, 13);
  for (const k of report.kills) t.diagnostic(`${k.how}: ${k.onDisk}`);
  t.diagnostic(`${report.kills.length} kills, ${report.completed} completed runs compared with the uninterrupted one`);
  assert.equal(report.kills.length, 20);
  assert.ok(report.completed >= 1);
  assert.ok(
    report.kills.some((k) => k.how.includes('checkpoint-file')),
    'a kill between two files of a checkpoint',
  );
  assert.ok(
    report.kills.some((k) => k.how.startsWith('SIGKILL after')),
    'a kill from outside',
  );
  fs.rmSync(dir, { recursive: true, force: true });
});

test('train gpt --resume: a torn checkpoint (files of two steps) is reported and the last whole one used', () => {
  const dir = tmpDir();
  const run = gptReference(dir, 30, 5);
  const out = path.join(dir, 'run');
  const killed = spawnSync(process.execPath, run.fresh(out), { encoding: 'utf8', env: { ...process.env, MOX_TEST_CRASH_AT: 'step:23' } });
  assert.equal(killed.signal, 'SIGKILL');
  const ck = path.join(out, 'checkpoints');
  assert.deepEqual(fs.readdirSync(ck).sort(), ['step-15', 'step-20']);
  // step-20 gets step-15's weights: each file is whole, the set is not
  fs.copyFileSync(path.join(ck, 'step-15', 'model.safetensors'), path.join(ck, 'step-20', 'model.safetensors'));
  const r = spawnSync(process.execPath, run.resume(out), { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(
    r.stdout,
    new RegExp(`checkpoint ${path.join(ck, 'step-20')} is torn \\(model\\.safetensors differs from the file the manifest lists`),
  );
  assert.match(r.stdout, new RegExp(`resuming from the last whole checkpoint, ${path.join(ck, 'step-15')}`));
  assert.match(r.stdout, /at step 15/);
  compareWithReference(out, run.ref, run);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('verifyCheckpoint: a missing, truncated or changed file, or a manifest of another step, is torn', async () => {
  const root = tmpDir();
  const write = (d: string) => {
    fs.writeFileSync(path.join(d, 'a.json'), '{"x": 1}\n');
    fs.writeFileSync(path.join(d, 'b.bin'), Buffer.alloc(100, 7));
  };
  await commitCheckpoint(root, 1, write);
  const { dir } = await commitCheckpoint(root, 2, write);
  assert.deepEqual(fs.readdirSync(root).sort(), ['step-1', 'step-2']);
  await commitCheckpoint(root, 3, write);
  assert.deepEqual(fs.readdirSync(root).sort(), ['step-2', 'step-3'], 'the two newest are kept');
  assert.equal(verifyCheckpoint(dir).ok, true);
  const cases: [string, () => void, RegExp][] = [
    ['truncated', () => fs.truncateSync(path.join(dir, 'b.bin'), 50), /b\.bin has 50 bytes, the manifest says 100/],
    ['changed', () => fs.writeFileSync(path.join(dir, 'a.json'), '{"x": 2}\n'), /a\.json differs from the file the manifest lists/],
    ['missing', () => fs.rmSync(path.join(dir, 'b.bin')), /b\.bin is missing/],
    ['no manifest', () => fs.rmSync(path.join(dir, 'manifest.json')), /no manifest\.json/],
    ['cut manifest', () => fs.truncateSync(path.join(dir, 'manifest.json'), 10), /manifest\.json is unreadable/],
    [
      'manifest of step 3',
      () => fs.copyFileSync(path.join(root, 'step-3', 'manifest.json'), path.join(dir, 'manifest.json')),
      /manifest\.json is from step 3, the folder is named for step 2/,
    ],
  ];
  for (const [what, spoil, re] of cases) {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir);
    write(dir);
    fs.copyFileSync(path.join(root, 'step-3', 'manifest.json'), path.join(dir, 'manifest.json'));
    const m = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { step: number };
    m.step = 2;
    fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(m));
    assert.equal(verifyCheckpoint(dir).ok, true, what);
    spoil();
    const v = verifyCheckpoint(dir);
    assert.equal(v.ok, false, what);
    if (!v.ok) assert.match(v.reason, re, what);
  }
  fs.rmSync(root, { recursive: true, force: true });
});
