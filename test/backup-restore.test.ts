// train.BackupAndRestore (issue 13): a model.fit killed with SIGKILL at seeded moments (after a
// step, between the files of a backup, at its commit, while an old one is removed, from outside at
// random times) and started again with the same callback ends with weights, optimizer state and
// History byte-identical to a fit never interrupted, mid-epoch resumes included; every backup on disk
// is whole after every kill. scripts/crash-kills.mjs runs more kills.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as mox from '../src/index.js';
import { ValueError } from '../src/errors.js';
import { runKillChain } from '../test-support/kill-chain.js';
import { fitKillChainSpec, fitReference } from '../test-support/crash-fit.js';
import { blobs } from '../test-support/fixtures.js';

const tmpDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'mox-backup-'));

for (const [mode, freq, kills] of [
  ['tensors', '3', 10],
  ['loader', 'epoch', 4],
] as const) {
  test(`fit with BackupAndRestore (${mode}, saveFreq ${freq}): ${kills} kills -9, each resumed, end byte-identical`, async (t) => {
    const dir = tmpDir();
    const ref = fitReference(dir, freq, mode);
    const report = await runKillChain(fitKillChainSpec(dir, ref, freq, mode), kills, 17);
    for (const k of report.kills) t.diagnostic(`${k.how}: ${k.onDisk}`);
    t.diagnostic(`${report.kills.length} kills, ${report.completed} completed fits compared with the uninterrupted one`);
    assert.equal(report.kills.length, kills);
    assert.ok(report.completed >= 1);
    fs.rmSync(dir, { recursive: true, force: true });
  });
}

function tiny(): mox.nn.Sequential {
  mox.seed(1);
  const m = new mox.nn.Sequential(new mox.nn.Linear(2, 8), new mox.nn.ReLU(), new mox.nn.Linear(8, 2));
  m.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', lr: 0.01 });
  return m;
}

test('BackupAndRestore: a torn backup is passed over for the last whole one; deleteCheckpoint; bad options', async () => {
  const dir = tmpDir();
  const backupDir = path.join(dir, 'backup');
  const { x, y } = blobs(16, 2);
  const opts = { batchSize: 8, verbose: 0 as const, seed: 3 };
  // 3 epochs of 4 batches, backups kept after epochs 2 and 3 (batches 8 and 12)
  await tiny().fit(x, y, { ...opts, epochs: 3, callbacks: [new mox.train.BackupAndRestore({ backupDir, deleteCheckpoint: false })] });
  assert.deepEqual(fs.readdirSync(backupDir).sort(), ['step-12', 'step-8']);
  // the newest gets the older one's weights: each file whole, the set torn
  fs.copyFileSync(path.join(backupDir, 'step-8', 'model.safetensors'), path.join(backupDir, 'step-12', 'model.safetensors'));
  const lines: string[] = [];
  const log = console.log;
  console.log = (s: string) => lines.push(s);
  const cb = new mox.train.BackupAndRestore({ backupDir });
  let history: mox.train.History;
  try {
    history = await tiny().fit(x, y, { ...opts, epochs: 3, callbacks: [cb] });
  } finally {
    console.log = log;
  }
  assert.equal(cb.restoredFrom, path.join(backupDir, 'step-8'));
  assert.match(lines[0]!, /backup .*step-12 is torn \(model\.safetensors differs from the file the manifest lists/);
  assert.match(lines[1]!, /resuming from .*step-8: epoch 3, after batch 0/);
  assert.deepEqual(history.epoch, [0, 1, 2], 'the History of the epochs before the backup is restored');
  assert.ok(!fs.existsSync(backupDir), 'deleteCheckpoint (default): the backups go when fit ends');

  assert.throws(() => new mox.train.BackupAndRestore({ backupDir, saveFreq: 0 }), ValueError);
  assert.throws(() => new mox.train.BackupAndRestore({ backupDir: '' }), ValueError);
  fs.rmSync(dir, { recursive: true, force: true });
});
