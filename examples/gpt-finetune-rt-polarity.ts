// Pretrain, then fine-tune (issue 14): the Tiny Shakespeare GPT of the main command (`mox train gpt
// --dataset tinyshakespeare`, nanoGPT's CPU configuration, 2,000 iterations), fine-tuned on the
// positive sentences of rt-polarity (movie reviews: another domain), the last 10% of their tokens held
// out for validation, three ways with the same steps and batches:
//
//   base   the Shakespeare model as it is (step 0 of the runs below)
//   full   full fine-tuning: every weight trains (AdamW, lr 3e-4, warmup then cosine)
//   lora   LoRA, r 8, alpha 16, on c_attn (the attention's q/k/v projection): 1.98% of the
//          parameters train, the base stays as it was (AdamW without weight decay, no adapter
//          dropout, lr 1e-2 decaying to 1e-4; chosen among six settings, docs/fine-tuning.md)
//
// Target: LoRA recovers at least 80% of full fine-tuning's improvement of the validation loss
// ((base - lora) / (base - full) >= 0.8) with at most 2% of the parameters trainable.
// Characters the Shakespeare vocabulary lacks (digits, brackets, cp1252 punctuation) are dropped
// (--unknown drop), since a fine-tuned model keeps its base's vocabulary. It ends with a sample from
// each model and a `RESULT {json}` line.
//
//   npm run example:gpt-finetune-rt-polarity
//   npm run example:gpt-finetune-rt-polarity -- --base DIR --iters 100     # an existing base, fewer steps
//
// Metrics: --run-dir DIR (default runs/gpt-finetune-rt-polarity) gets each training run's metrics.jsonl (one folder per run: base, full, lora),
// for `mox report` (docs/reports.md).
// Options: --base DIR (a Shakespeare GPT checkpoint; default: train one, ~2.5 min), --iters N
// (fine-tuning steps, default 600), --data-dir DIR (holding rt-polarity/ and tinyshakespeare/),
// --threads N, --prompt TEXT (for the samples, default 'the film '), --keep (leave the run folders in
// the temporary directory).

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import * as mox from '../src/index.js';
import { runTrainGpt, trainGptOptions, type TrainGptOptions, type TrainGptResult } from '../src/cli/commands/train-gpt.js';
import { runGenerate } from '../src/cli/commands/generate.js';
import { RUN_DIR_OPTION, UsageError, positiveInt, runDirOf } from './common.js';

const { values } = parseArgs({
  options: {
    base: { type: 'string' },
    iters: { type: 'string' },
    'data-dir': { type: 'string' },
    threads: { type: 'string' },
    prompt: { type: 'string' },
    keep: { type: 'boolean' },
    ...RUN_DIR_OPTION,
  },
});
// the metrics of each training run: --run-dir/base, /full, /lora (default runs/gpt-finetune-rt-polarity)
const runDir = runDirOf('gpt-finetune-rt-polarity', values);

async function main(): Promise<void> {
  const iters = positiveInt('iters', values.iters, 600);
  const threads = positiveInt('threads', values.threads, undefined);
  if (threads !== undefined) mox.setNumThreads(threads);
  const dataDir = path.resolve(values['data-dir'] ?? process.env['MOX_DATA_DIR'] ?? path.join('..', 'shared', 'data'));
  const pos = path.join(dataDir, 'rt-polarity', 'rt-polarity.pos');
  if (!fs.existsSync(pos)) throw new UsageError(`${pos} is missing (see docs/data.md)`);
  process.env['MOX_DATA_DIR'] = dataDir;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'mox-finetune-'));
  const quiet = (line: string) => {
    if (/^(step|training|fine-tuning|LoRA|trainable|dropped|done)/.test(line)) console.log(`  ${line}`);
  };
  const t0 = performance.now();

  // the base: the main command's model, unless one is given
  let baseDir = values.base;
  let baseTrainSeconds = 0;
  if (!baseDir) {
    baseDir = path.join(work, 'shakespeare');
    console.log('base: mox train gpt --dataset tinyshakespeare (nanoGPT CPU configuration, 2000 iterations)');
    const tb = performance.now();
    await runTrainGpt(trainGptOptions({ dataset: 'tinyshakespeare', out: baseDir, runDir: path.join(runDir, 'base') }), new Set(), quiet);
    baseTrainSeconds = (performance.now() - tb) / 1000;
  }

  const tune = (name: string, extra: Partial<TrainGptOptions>, lora: mox.lora.LoraConfig | null): Promise<TrainGptResult> => {
    console.log(
      `${name}: mox finetune gpt --from base --data rt-polarity.pos --encoding windows-1252 --unknown drop${lora ? ' --lora ...' : ''}`,
    );
    return runTrainGpt(
      trainGptOptions({
        data: pos,
        encoding: 'windows-1252',
        out: path.join(work, name),
        runDir: path.join(runDir, name),
        maxIters: iters,
        evalInterval: iters,
        evalIters: 50,
        warmupIters: 50,
        finetune: { from: path.resolve(baseDir!), freeze: [], lora, unknown: { kind: 'drop' } },
        ...extra,
      }),
      new Set(),
      quiet,
    );
  };
  const full = await tune('full', { lr: 3e-4, minLr: 3e-5 }, null);
  const loraCfg: mox.lora.LoraConfig = { r: 8, alpha: 16, dropout: 0, targetModules: ['c_attn'], fanInFanOut: true };
  const lora = await tune('lora', { lr: 1e-2, minLr: 1e-4, weightDecay: 0 }, loraCfg);

  const baseVal = full.history[0]!.val;
  const fullVal = full.history.at(-1)!.val;
  const loraVal = lora.history.at(-1)!.val;
  const recovery = (baseVal - loraVal) / (baseVal - fullVal);
  const { model } = mox.models.loadGPT(baseDir);
  mox.lora.applyLora(model, loraCfg);
  const trainable = mox.lora.trainableParameters(model);

  const sample = async (model: string, adapter?: string): Promise<string> => {
    let text = '';
    await runGenerate(
      {
        model,
        ...(adapter ? { adapter } : {}),
        prompt: values.prompt ?? 'the film ',
        maxNewTokens: 160,
        temperature: 0.8,
        seed: 7,
        json: false,
        useCache: true,
      },
      (s) => {
        text += s;
      },
      () => {},
    );
    return text.trim();
  };
  const samples = {
    base: await sample(baseDir),
    full: await sample(path.join(work, 'full')),
    lora: await sample(baseDir, path.join(work, 'lora')),
  };
  for (const [k, v] of Object.entries(samples)) console.log(`--- ${k}:\n${v}`);
  if (!values.keep) fs.rmSync(work, { recursive: true, force: true });
  else console.log(`runs kept in ${work}`);

  const r4 = (x: number) => Math.round(x * 1e4) / 1e4;
  console.log(
    `RESULT ${JSON.stringify({
      example: 'gpt-finetune-rt-polarity',
      iters,
      base_val_loss: r4(baseVal),
      full_val_loss: r4(fullVal),
      lora_val_loss: r4(loraVal),
      lora_recovery: r4(recovery),
      lora_trainable_percent: r4(trainable.percent),
      lora_trainable: trainable.trainable,
      total_params: trainable.total,
      full_ms_per_iter: Math.round(full.msPerIter * 10) / 10,
      lora_ms_per_iter: Math.round(lora.msPerIter * 10) / 10,
      base_train_seconds: Math.round(baseTrainSeconds * 10) / 10,
      lora: { r: loraCfg.r, alpha: loraCfg.alpha, dropout: loraCfg.dropout, targets: loraCfg.targetModules },
      samples,
      seconds: Math.round((performance.now() - t0) / 100) / 10,
      threads: mox.getNumThreads(),
    })}`,
  );
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(e instanceof UsageError ? 2 : 1);
});
