// Pruning the MNIST CNN (small-cnn.ts) with mox.prune, unstructured and structured:
//
//   dense:       the CNN trained 2 epochs (Adam 1e-3, batch 64) on the 60,000 images
//   sparse:      global magnitude pruning (prune.globalUnstructured over every Conv and Dense weight) to
//                50%, then 80%, then 90% of the weights, each step reached gradually over the first half
//                of one fine-tuning epoch by prune.PruningSchedule (polynomial, Zhu & Gupta 2017) and
//                kept through the rest of it; the masks stay in force (each level starts from the one
//                before, so 90% has had three fine-tuning epochs)
//   structured:  from the dense model, prune.pruneStructured removes half of the output channels of each
//                Conv (32 -> 16, 64 -> 32, 64 -> 32) and half of the hidden Dense's neurons (64 -> 32) by
//                L1 norm, rebuilding the layers that consume them; then one fine-tuning epoch
//
// The dense model's test accuracy is the baseline; note that each sparse level has had one (50%), two
// (80%) or three (90%) fine-tuning epochs more than it. The one-shot accuracies (the dense weights
// pruned to each level, no fine-tuning) show what the masks alone cost.
//
// Reported for each: test accuracy, parameters (and non-zero weights), the size of the saved weights
// (safetensors; and gzipped, which is where unstructured zeros pay off: safetensors stores dense
// tensors) and, for the structured model, the inference speed-up: batches of 256 over the test set in
// inference mode, timed beside the dense model in this run (best of 3 passes each, alternating).
//
// Targets (docs/results.md): 50% sparse within 0.3 points of the dense model; 90% sparse >= 98.5%;
// structured within 1 point of dense, with fewer parameters and a measured speed-up > 1.
//
//   npm run example:prune-mnist-cnn
//   npm run example:prune-mnist-cnn -- --epochs 1 --limit 2000
//
// Metrics: --run-dir DIR (default runs/prune-mnist-cnn) gets each training run's metrics.jsonl (one folder per run: dense, structured, sparse50, sparse80, sparse90),
// for `mox report` (docs/reports.md).
// Options: --epochs N (dense training epochs, default 2), --finetune-epochs N (per sparsity level and
// for the structured model, default 1), --batch-size N (default 64), --limit N, --test-limit N, --lr X
// (default 1e-3), --seed S (default 0), --data-dir DIR, --threads N. The files are found by
// mox.data.loadDataset('mnist') as in mnist-cnn.
// The last line of output is `RESULT {json}`.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as mox from '../src/index.js';
import { exampleRunLogger, kerasInit, loadGreyImages, logTestSet, parseClassifierArgs, positiveInt, runMain } from './common.js';
import { smallCnn } from './small-cnn.js';

const NAME = 'prune-mnist-cnn';
const LEVELS = [0.5, 0.8, 0.9];
const round = (v: number, d = 4): number => Number(v.toFixed(d));
const { prune } = mox;

runMain(NAME, async () => {
  const args = parseClassifierArgs({ epochs: 2, batchSize: 64 }, { 'finetune-epochs': { type: 'string' } });
  const fe = args.values['finetune-epochs'];
  const finetuneEpochs = positiveInt('finetune-epochs', typeof fe === 'string' ? fe : undefined, 1);
  const start = performance.now();
  const train = await loadGreyImages(NAME, 'mnist', 'train', args);
  const test = await loadGreyImages(NAME, 'mnist', 'test', args);
  console.log(
    `MNIST: ${train.x.shape[0]} training and ${test.x.shape[0]} test images; ${mox.backendInfo().kernels} kernels, ${mox.getNumThreads()} threads`,
  );
  const tmp = mkdtempSync(join(tmpdir(), `${NAME}-`));

  const compile = (m: mox.nn.Module): void => {
    m.compile({ optimizer: 'adam', lr: args.lr, loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  };
  /** Trains m, its metrics and test set scores into --run-dir/`run` (dense, structured, sparse50, ...). */
  const fit = async (m: mox.nn.Module, epochs: number, run: string, callbacks: mox.train.Callback[] = []): Promise<void> => {
    const log = exampleRunLogger(NAME, args, { sub: run, labels: test.classes });
    await m.fit(train.x, train.y, { epochs, batchSize: args.batchSize, seed: args.seed, callbacks: [...callbacks, log], verbose: 2 });
    await logTestSet(log, m.evaluate(test.x, test.y, { batchSize: 256 }), test);
  };
  const accuracy = (m: mox.nn.Module): number => m.evaluate(test.x, test.y, { batchSize: 256 }).accuracy!;
  /** The weights as the forward pass sees them (orig * mask where pruned), saved as safetensors: bytes, gzipped bytes. */
  const saved = (m: mox.nn.Module, tag: string): { bytes: number; gzip: number } => {
    const sd: Record<string, mox.Tensor> = {};
    for (const [path, mod] of m.namedModules()) {
      const pruned = prune.prunedNames(mod);
      for (const [k, t] of Object.entries(mod.stateDict())) {
        if (k.includes('.')) continue; // a submodule's: listed with that module
        const base = k.replace(/_(orig|mask)$/, '');
        if (pruned.includes(base) && k.endsWith('_mask')) continue;
        const v = pruned.includes(base) ? ((mod as unknown as Record<string, mox.Tensor>)[base] as mox.Tensor) : t;
        sd[path ? `${path}.${base}` : base] = mox.noGrad(() => v.contiguous());
      }
    }
    const file = join(tmp, `${tag}.safetensors`);
    mox.saveSafetensorsSync(file, sd);
    const bytes = readFileSync(file);
    return { bytes: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
  };
  const nonzeros = (m: mox.nn.Module): number => {
    const all = prune.sparsity(m, { all: true });
    return all.size - all.zeros;
  };

  // ---- dense ----
  mox.seed(args.seed);
  const dense = smallCnn(1, 28);
  kerasInit(dense);
  dense.summary([1, 28, 28]);
  compile(dense);
  console.log(`Training the dense CNN, ${args.epochs} epochs`);
  await fit(dense, args.epochs, 'dense');
  const denseAcc = accuracy(dense);
  const denseSize = saved(dense, 'dense');
  const denseParams = dense.numParameters();
  console.log(
    `dense: test accuracy ${(100 * denseAcc).toFixed(2)}%, ${denseParams} parameters, ${denseSize.bytes} bytes (${denseSize.gzip} gzipped)`,
  );
  const denseState = Object.fromEntries(Object.entries(dense.stateDict()).map(([k, t]) => [k, t.clone()]));

  // ---- structured (from the dense weights) ----
  mox.seed(args.seed);
  const structured = smallCnn(1, 28);
  structured.loadStateDict(denseState);
  const reports = prune.pruneStructured(structured, { amount: 0.5, norm: 1 });
  for (const r of reports) console.log(`structured: layer ${r.layer} ${r.before} -> ${r.after} units (rebuilt ${r.consumers.join(', ')})`);
  compile(structured);
  const structuredOneShot = accuracy(structured);
  console.log(`structured, before fine-tuning: test accuracy ${(100 * structuredOneShot).toFixed(2)}%`);
  await fit(structured, finetuneEpochs, 'structured');
  const structuredAcc = accuracy(structured);
  const structuredSize = saved(structured, 'structured');
  const structuredParams = structured.numParameters();
  console.log(
    `structured: test accuracy ${(100 * structuredAcc).toFixed(2)}%, ${structuredParams} parameters, ${structuredSize.bytes} bytes (${structuredSize.gzip} gzipped)`,
  );

  // ---- inference speed, dense beside structured ----
  const timeForward = (m: mox.nn.Module): number => {
    m.eval();
    const t0 = performance.now();
    mox.noGrad(() => {
      for (let i = 0; i < test.x.shape[0]!; i += 256) {
        mox.scope(() => {
          m.forward(test.x.narrow(0, i, Math.min(256, test.x.shape[0]! - i))).dataSync();
        });
      }
    });
    return (performance.now() - t0) / 1000;
  };
  timeForward(dense);
  timeForward(structured); // warm-up
  const times = { dense: Infinity, structured: Infinity };
  for (let r = 0; r < 3; r++) {
    times.dense = Math.min(times.dense, timeForward(dense));
    times.structured = Math.min(times.structured, timeForward(structured));
  }
  const speedup = times.dense / times.structured;
  console.log(
    `inference over the test set, batch 256: dense ${times.dense.toFixed(3)} s, structured ${times.structured.toFixed(3)} s: ${speedup.toFixed(2)}x`,
  );

  // ---- unstructured, one shot (no fine-tuning): what the masks alone cost, from the dense weights ----
  const sparse: Record<string, number> = {};
  for (const level of LEVELS) {
    mox.seed(args.seed);
    const m = smallCnn(1, 28);
    m.loadStateDict(denseState);
    prune.globalUnstructured(prune.prunableWeights(m), { amount: level });
    compile(m);
    const acc = accuracy(m);
    sparse[`oneshot${Math.round(100 * level)}_accuracy`] = round(acc);
    console.log(`${100 * level}% sparse in one shot, before fine-tuning: test accuracy ${(100 * acc).toFixed(2)}%`);
  }

  // ---- unstructured, 50% -> 80% -> 90%, gradually while fine-tuning ----
  let previous = 0;
  dense.train();
  for (const level of LEVELS) {
    compile(dense);
    const steps = Math.ceil(train.x.shape[0]! / args.batchSize) * finetuneEpochs;
    const schedule = new prune.PruningSchedule({
      initialSparsity: previous,
      finalSparsity: level,
      endStep: Math.max(1, Math.floor(steps / 2)),
      frequency: Math.max(1, Math.floor(steps / 20)),
    });
    console.log(`Pruning to ${100 * level}% (from ${100 * previous}%) over half of ${finetuneEpochs} fine-tuning epoch(s)`);
    await fit(dense, finetuneEpochs, `sparse${Math.round(100 * level)}`, [schedule]);
    const acc = accuracy(dense);
    const report = prune.sparsity(dense);
    const size = saved(dense, `sparse${100 * level}`);
    const tag = `sparse${Math.round(100 * level)}`;
    sparse[`${tag}_accuracy`] = round(acc);
    sparse[`${tag}_sparsity`] = round(report.global);
    sparse[`${tag}_nonzeros`] = nonzeros(dense);
    sparse[`${tag}_gzip_bytes`] = size.gzip;
    sparse[`${tag}_drop`] = round(denseAcc - acc);
    console.log(
      `${100 * level}% sparse: test accuracy ${(100 * acc).toFixed(2)}%, weight sparsity ${(100 * report.global).toFixed(2)}%, ` +
        `${nonzeros(dense)} non-zero parameters, ${size.bytes} bytes (${size.gzip} gzipped)`,
    );
    previous = level;
  }
  prune.removeAllPruning(dense);
  rmSync(tmp, { recursive: true, force: true });

  const result = {
    example: NAME,
    epochs: args.epochs,
    finetune_epochs: finetuneEpochs,
    batch_size: args.batchSize,
    train_examples: train.x.shape[0],
    test_examples: test.x.shape[0],
    seed: args.seed,
    dense_accuracy: round(denseAcc),
    dense_params: denseParams,
    dense_bytes: denseSize.bytes,
    dense_gzip_bytes: denseSize.gzip,
    ...sparse,
    structured_accuracy: round(structuredAcc),
    structured_one_shot_accuracy: round(structuredOneShot),
    structured_drop: round(denseAcc - structuredAcc),
    structured_params: structuredParams,
    structured_bytes: structuredSize.bytes,
    dense_infer_seconds: round(times.dense, 3),
    structured_infer_seconds: round(times.structured, 3),
    structured_speedup: round(speedup, 2),
    seconds: round((performance.now() - start) / 1000, 1),
    threads: mox.getNumThreads(),
  };
  console.log(`RESULT ${JSON.stringify(result)}`);
});
