// A tiny model.fit with train.BackupAndRestore, run as a child process that test/backup-restore.test.ts
// and scripts/crash-kills.mjs kill with SIGKILL and start again. An MLP with dropout on two Gaussian
// blobs, Adam, the examples shuffled each epoch from the global generator, accuracy as a metric: every
// kind of state a resume must restore. At the end it writes the weights, the optimizer state and
// the History into <dir>/result.
//
//   node dist/test-support/fit-child.js <dir> <saveFreq: epoch | N> [loader]
// ('loader': the data comes as a DataLoader with its own seed, instead of tensors).

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as mox from '../src/index.js';
import { saveSafetensorsSync } from '../src/io/safetensors-tensors.js';
import { writeFileAtomic } from '../src/io/files.js';
import { blobs } from './fixtures.js';

const [dir, freqArg, mode] = process.argv.slice(2) as [string, string, string | undefined];
const saveFreq = freqArg === 'epoch' ? 'epoch' : Number(freqArg);
mox.setNumThreads(1);
mox.seed(7);
const { x, y } = blobs(40, 3);
const model = new mox.nn.Sequential(new mox.nn.Linear(2, 16), new mox.nn.ReLU(), new mox.nn.Dropout(0.2), new mox.nn.Linear(16, 2));
model.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'], lr: 0.01 });
const backup = new mox.train.BackupAndRestore({ backupDir: path.join(dir, 'backup'), saveFreq, verbose: 0 });
const history =
  mode === 'loader'
    ? await model.fit(new mox.data.DataLoader(new mox.data.TensorDataset(x, y), { batchSize: 8, shuffle: true, seed: 11 }), {
        epochs: 6,
        verbose: 0,
        callbacks: [backup],
      })
    : await model.fit(x, y, { epochs: 6, batchSize: 8, verbose: 0, callbacks: [backup] });
const out = path.join(dir, 'result');
fs.mkdirSync(out, { recursive: true });
saveSafetensorsSync(path.join(out, 'model.safetensors'), model.stateDict());
const sd = model.optimizer!.stateDict();
const tensors: Record<string, mox.Tensor> = {};
const numbers: Record<string, number> = {};
for (const [i, st] of Object.entries(sd.state)) {
  for (const [k, v] of Object.entries(st)) {
    if (typeof v === 'number') numbers[`${i}.${k}`] = v;
    else tensors[`${i}.${k}`] = v;
  }
}
saveSafetensorsSync(path.join(out, 'optimizer.safetensors'), tensors, {
  numbers: JSON.stringify(numbers),
  groups: JSON.stringify(sd.paramGroups),
});
writeFileAtomic(path.join(out, 'history.json'), JSON.stringify(history.toJSON()) + '\n');
