// A character-level LSTM language model on Tiny Shakespeare, Keras-style:
//
//   Embedding(V, 64) -> LSTM(256) -> LSTM(256) -> Dense(V)       (mox.models.LSTMLanguageModel)
//   model.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy' })
//   model.fit(x, y, { validationData: [xVal, yVal] })            x, y: [N, T] character ids, y = x shifted by one
//
// The model's forward returns { logits, state }; fit reads `logits` ([B, T, V]) and the loss compares
// them with the [B, T] targets at every position (PyTorch's logits.view(-1, V)). Each training window
// starts from a zero state (Keras's stateful=False). The text is mox.data.loadDataset('tinyshakespeare'):
// its first 90% for training, the last 10% for validation, cut into windows of --seq-len characters.
// The learning rate follows a short warmup and a cosine decay over the run. After training the model
// is saved (config.json + model.safetensors + tokenizer.json), reloaded into a fresh model whose
// validation loss must be the same, and asked for a sample.
//
// Target: validation loss <= 1.70 nats per character within 10 minutes on a quiet 2-core machine.
// 3 epochs (738 steps) reached 1.740 (val 2.053 / 1.801 / 1.740 after each; measured on a loaded
// machine), so the default is 4 epochs (984 steps, ~0.5 s each on 2 threads); docs/results.md has the
// figure of the last full run (npm run results).
//
//   npm run example:lstm-lm-shakespeare                          # the full run
//   npm run example:lstm-lm-shakespeare -- --max-steps 20 --limit 2000 --test-limit 200
//
// Metrics: --run-dir DIR (default runs/lstm-lm-shakespeare) gets each training run's metrics.jsonl,
// for `mox report` (docs/reports.md).
// Options: --epochs N (default 3), --max-steps N (stop after N batches, default: no limit),
// --batch-size N (default 64), --seq-len T (default 64), --hidden N (default 256), --embed N (default
// 64), --layers N (default 2), --lr X (default 3e-3), --limit N (training windows, default all),
// --test-limit N (validation windows, default all), --seed S (default 0), --out DIR (default: a new
// temporary folder), --sample-length N (default 300), --data-dir DIR, --threads N (default: every core).
// The last line of output is `RESULT {json}`.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as mox from '../src/index.js';
import { writeFileAtomicSync } from '../src/io/atomic.js';
import { exampleRunLogger, parseClassifierArgs, positiveInt, runMain, withDataHelp } from './common.js';

const TARGET = 1.7;

/** Non-overlapping windows of the text: x [N, T] and the next characters y [N, T], at most `limit` of them. */
function windows(ids: Int32Array, seqLen: number, limit: number | undefined): { x: mox.Tensor; y: mox.Tensor } {
  const n = Math.min(Math.floor((ids.length - 1) / seqLen), limit ?? Infinity);
  if (n < 1)
    throw new mox.ValueError(
      'lstm-lm-shakespeare',
      `the text holds ${ids.length} characters, too few for one window of --seq-len ${seqLen}`,
    );
  const xs = new Int32Array(n * seqLen);
  const ys = new Int32Array(n * seqLen);
  for (let i = 0; i < n; i++) {
    xs.set(ids.subarray(i * seqLen, (i + 1) * seqLen), i * seqLen);
    ys.set(ids.subarray(i * seqLen + 1, (i + 1) * seqLen + 1), i * seqLen);
  }
  return { x: mox.tensor(xs, { shape: [n, seqLen], dtype: 'int32' }), y: mox.tensor(ys, { shape: [n, seqLen], dtype: 'int32' }) };
}

/** Ends fit after `maxSteps` batches (Keras has no such flag; a callback is how one stops early). */
class StopAfter extends mox.train.Callback {
  steps = 0;
  constructor(private readonly maxSteps: number) {
    super();
  }
  override onBatchEnd(): void {
    if (++this.steps >= this.maxSteps) this.model.stopTraining = true;
  }
}

runMain('lstm-lm-shakespeare', async () => {
  const args = parseClassifierArgs(
    { epochs: 4, batchSize: 64 },
    {
      'seq-len': { type: 'string' },
      hidden: { type: 'string' },
      embed: { type: 'string' },
      layers: { type: 'string' },
      'max-steps': { type: 'string' },
      out: { type: 'string' },
      'sample-length': { type: 'string' },
    },
  );
  const str = (k: string): string | undefined => (typeof args.values[k] === 'string' ? (args.values[k] as string) : undefined);
  const seqLen = positiveInt('seq-len', str('seq-len'), 64);
  const hidden = positiveInt('hidden', str('hidden'), 256);
  const embed = positiveInt('embed', str('embed'), 64);
  const layers = positiveInt('layers', str('layers'), 2);
  const maxSteps = positiveInt('max-steps', str('max-steps'), undefined);
  const sampleLength = positiveInt('sample-length', str('sample-length'), 300);
  const lr = str('lr') === undefined ? 3e-3 : args.lr;
  const start = performance.now();

  const trainText = (
    await withDataHelp('lstm-lm-shakespeare', () => mox.data.loadDataset('tinyshakespeare', { split: 'train', dataDir: args.dataDir }))
  ).text;
  const valText = (
    await withDataHelp('lstm-lm-shakespeare', () => mox.data.loadDataset('tinyshakespeare', { split: 'test', dataDir: args.dataDir }))
  ).text;
  const tok = mox.text.CharTokenizer.fromCorpus(trainText + valText);
  const train = windows(Int32Array.from(tok.encode(trainText)), seqLen, args.limit);
  const val = windows(Int32Array.from(tok.encode(valText)), seqLen, args.testLimit);
  const stepsPerEpoch = Math.ceil(train.x.shape[0]! / args.batchSize);
  const totalSteps = Math.min(maxSteps ?? Infinity, args.epochs * stepsPerEpoch);
  console.log(
    `Tiny Shakespeare: ${trainText.length} training and ${valText.length} validation characters, vocabulary ${tok.vocabSize}; ` +
      `${train.x.shape[0]} training and ${val.x.shape[0]} validation windows of ${seqLen}; ${totalSteps} steps of ${args.batchSize}; ` +
      `${mox.backendInfo().kernels} kernels, ${mox.getNumThreads()} threads`,
  );

  const config = { vocabSize: tok.vocabSize, embedDim: embed, hiddenSize: hidden, numLayers: layers };
  const model = new mox.models.LSTMLanguageModel({ ...config, generator: new mox.Generator(args.seed) });
  console.log(
    `LSTM language model: ${JSON.stringify(model.config)}, ${model
      .parameters()
      .reduce((a, p) => a + p.size, 0)
      .toLocaleString('en-US')} parameters`,
  );
  model.compile({ optimizer: 'adam', lr, loss: 'sparseCategoricalCrossentropy' });
  const warmup = Math.min(100, Math.floor(totalSteps / 10));
  const schedule =
    totalSteps > warmup ? new mox.optim.CosineWithWarmup(model.optimizer!, { warmupSteps: warmup, totalSteps, minLr: lr / 10 }) : null;
  const callbacks: mox.train.Callback[] = [new mox.train.TerminateOnNaN()];
  if (schedule) callbacks.push(new mox.train.SchedulerCallback(schedule, { interval: 'batch' }));
  if (maxSteps !== undefined) callbacks.push(new StopAfter(maxSteps));
  const runLogger = exampleRunLogger('lstm-lm-shakespeare', args, { kind: 'lstm', config: { model: config, seqLen, warmup } });
  callbacks.push(runLogger);

  const fitStart = performance.now();
  const history = await model.fit(train.x, train.y, {
    epochs: args.epochs,
    batchSize: args.batchSize,
    seed: args.seed,
    validationData: [val.x, val.y],
    validationBatchSize: 128,
    callbacks,
  });
  const fitSeconds = (performance.now() - fitStart) / 1000;
  const steps = Math.min(totalSteps, history.history['loss']!.length * stepsPerEpoch);
  const valLoss = model.evaluate(val.x, val.y, { batchSize: 128 }).loss!;
  console.log(`validation loss ${valLoss.toFixed(4)} nats/char (target <= ${TARGET}), ${(valLoss / Math.LN2).toFixed(3)} bits/char`);

  // save, reload into a fresh model, and check it gives the same validation loss
  const out = str('out') ?? fs.mkdtempSync(path.join(os.tmpdir(), 'mox-lstm-lm-'));
  await mox.models.saveLSTM(out, model, { tokenizer: { type: 'char', file: 'tokenizer.json' } });
  writeFileAtomicSync(path.join(out, 'tokenizer.json'), JSON.stringify(tok.toJSON()) + '\n');
  const reloaded = mox.models.loadLSTM(out).model;
  reloaded.compile({ loss: 'sparseCategoricalCrossentropy' });
  const reloadedValLoss = reloaded.evaluate(val.x, val.y, { batchSize: 128 }).loss!;
  console.log(`saved to ${out}; the reloaded model's validation loss: ${reloadedValLoss.toFixed(4)}`);

  const prompt = 'ROMEO:';
  const reloadedTok = mox.text.CharTokenizer.load(out);
  const ids = reloaded.generate(reloadedTok.encode(prompt), { maxNewTokens: sampleLength, temperature: 0.8, seed: args.seed })[0]!;
  const sample = prompt + reloadedTok.decode(ids);
  console.log(`sample (temperature 0.8):\n${sample}\n`);
  runLogger.logSamples([{ prompt, text: reloadedTok.decode(ids) }]);

  const round = (v: number, d = 4): number => Number(v.toFixed(d));
  const last = (k: string): number => history.history[k]!.at(-1)!;
  console.log(
    `RESULT ${JSON.stringify({
      example: 'lstm-lm-shakespeare',
      val_loss: round(valLoss),
      target: TARGET,
      reached: valLoss <= TARGET,
      train_loss: round(last('loss')),
      reloaded_val_loss: round(reloadedValLoss),
      seconds: round((performance.now() - start) / 1000, 1),
      fit_seconds: round(fitSeconds, 1),
      steps,
      epochs: history.history['loss']!.length,
      config: { ...model.config, seqLen, batchSize: args.batchSize, lr, warmup, minLr: lr / 10 },
      train_windows: train.x.shape[0],
      val_windows: val.x.shape[0],
      seed: args.seed,
      threads: mox.getNumThreads(),
      out,
      sample: sample.slice(0, 200),
    })}`,
  );
});
