// Quantizing the Tiny Shakespeare GPT (issue 15): the model of the main command (`mox train gpt
// --dataset tinyshakespeare`: 4 layers, 4 heads, 128 wide, 2,000 iterations; or --model DIR) quantized
// with each scheme by mox.quantize, every Linear and Embedding (the tied head with its table), and
// scored on the whole validation split (the last 10% of the text, as train gpt splits it: 111,540
// characters, every non-overlapping window of the block size, so the figure has no sampling noise).
//
// Targets: the validation loss rises by at most 1% with int8 and 3% with int4. It also reports
// dynamic-int8, the size of each model.safetensors, and ends with a `RESULT {json}` line.
//
//   npm run example:quantize-gpt-shakespeare
//   npm run example:quantize-gpt-shakespeare -- --model DIR
//
// Metrics: --run-dir DIR (default runs/quantize-gpt-shakespeare) gets each training run's metrics.jsonl,
// for `mox report` (docs/reports.md).
// Options: --model DIR (a Tiny Shakespeare GPT checkpoint; default: train one, ~2.5 min), --iters N (the
// training iterations when there is no --model; default 2000), --data-dir DIR (holding tinyshakespeare/),
// --threads N, --keep (leave the folders).

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import * as mox from '../src/index.js';
import { runTrainGpt, trainGptOptions } from '../src/cli/commands/train-gpt.js';
import { runQuantize } from '../src/cli/commands/quantize.js';
import { loadModelTokenizer } from '../src/cli/commands/gpt-tokenizer.js';
import { loadGPT } from '../src/models/gpt-checkpoint.js';
import type { GPT } from '../src/models/gpt.js';
import type { QuantScheme } from '../src/backend/quant-format.js';
import { RUN_DIR_OPTION, UsageError, positiveInt, runDirOf } from './common.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    iters: { type: 'string' },
    'data-dir': { type: 'string' },
    threads: { type: 'string' },
    keep: { type: 'boolean' },
    ...RUN_DIR_OPTION,
  },
});
const SCHEMES: QuantScheme[] = ['int8', 'dynamic-int8', 'int4'];
const TARGET: Partial<Record<QuantScheme, number>> = { int8: 0.01, int4: 0.03 };

/** Mean next-token cross-entropy over every non-overlapping window of the block size in `ids`. */
function validationLoss(model: GPT, ids: Int32Array): number {
  const T = model.config.blockSize;
  const windows = Math.floor((ids.length - 1) / T);
  const B = 32;
  let sum = 0;
  for (let w0 = 0; w0 < windows; w0 += B) {
    const n = Math.min(B, windows - w0);
    const x = new Int32Array(n * T);
    const y = new Int32Array(n * T);
    for (let i = 0; i < n; i++) {
      x.set(ids.subarray((w0 + i) * T, (w0 + i + 1) * T), i * T);
      y.set(ids.subarray((w0 + i) * T + 1, (w0 + i + 1) * T + 1), i * T);
    }
    sum += mox.scope(() =>
      mox.noGrad(() => {
        const { loss } = model.forward(mox.tensor(x, { shape: [n, T], dtype: 'int32' }), mox.tensor(y, { shape: [n, T], dtype: 'int32' }));
        return loss!.item() * n;
      }),
    );
  }
  return sum / windows;
}

async function main(): Promise<void> {
  const threads = positiveInt('threads', values.threads, undefined);
  const iters = positiveInt('iters', values.iters, 2000);
  if (threads !== undefined) mox.setNumThreads(threads);
  const dataDir = path.resolve(values['data-dir'] ?? process.env['MOX_DATA_DIR'] ?? path.join('..', 'shared', 'data'));
  const textFile = path.join(dataDir, 'tinyshakespeare', 'input.txt');
  if (!fs.existsSync(textFile)) throw new UsageError(`${textFile} is missing (see docs/data.md)`);
  process.env['MOX_DATA_DIR'] = dataDir;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'mox-quantize-'));
  const t0 = performance.now();
  let modelDir = values.model;
  if (modelDir === undefined) {
    modelDir = path.join(work, 'fp32');
    console.log(`model: mox train gpt --dataset tinyshakespeare (4 layers, 128 wide, ${iters} iterations)`);
    const short = iters < 2000 ? { evalInterval: iters, evalIters: 5 } : {};
    // the training run's metrics: --run-dir (default runs/quantize-gpt-shakespeare)
    const runDir = runDirOf('quantize-gpt-shakespeare', values);
    await runTrainGpt(
      trainGptOptions({ dataset: 'tinyshakespeare', out: modelDir, maxIters: iters, runDir, ...short }),
      new Set(),
      (line) => {
        if (/^(step|training|done)/.test(line)) console.log(`  ${line}`);
      },
    );
  }
  const tok = loadModelTokenizer(modelDir);
  if (!tok) throw new UsageError(`${modelDir} has no tokenizer`);
  const ids = Int32Array.from(tok.encode(fs.readFileSync(textFile, 'utf8')));
  const val = ids.subarray(Math.floor(ids.length * 0.9));
  const score = (dir: string): number => {
    const { model } = loadGPT(dir);
    model.eval();
    const loss = validationLoss(model, val);
    for (const [, b] of model.namedBuffers()) b.dispose();
    for (const p of model.parameters()) p.dispose();
    return loss;
  };
  const size = (dir: string): number => fs.statSync(path.join(dir, 'model.safetensors')).size;
  const fp32 = score(modelDir);
  console.log(
    `fp32: validation loss ${fp32.toFixed(4)} over ${Math.floor((val.length - 1) / 64)} windows; model.safetensors ${size(modelDir)} bytes`,
  );
  const round = (v: number, k = 4): number => Number(v.toFixed(k));
  const result: Record<string, unknown> = { example: 'quantize-gpt-shakespeare', fp32_val_loss: round(fp32), fp32_bytes: size(modelDir) };
  for (const scheme of SCHEMES) {
    const out = path.join(work, scheme);
    await runQuantize({ model: modelDir, out, scheme }, () => {});
    const loss = score(out);
    const rise = loss / fp32 - 1;
    const key = scheme.replace('-', '_');
    console.log(
      `${scheme}: validation loss ${loss.toFixed(4)} (${rise >= 0 ? '+' : ''}${(100 * rise).toFixed(2)}%${TARGET[scheme] !== undefined ? `, target <= +${100 * TARGET[scheme]!}%` : ''}); ` +
        `model.safetensors ${size(out)} bytes (${(size(out) / size(modelDir)).toFixed(3)}x)`,
    );
    Object.assign(result, {
      [`${key}_val_loss`]: round(loss),
      [`${key}_rise`]: round(rise, 5),
      [`${key}_size_ratio`]: round(size(out) / size(modelDir), 3),
    });
  }
  if (values.keep) console.log(`folders in ${work}`);
  else fs.rmSync(work, { recursive: true, force: true });
  result['seconds'] = round((performance.now() - t0) / 1000, 1);
  result['threads'] = mox.getNumThreads();
  console.log(`RESULT ${JSON.stringify(result)}`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(e instanceof UsageError ? 2 : 1);
});
