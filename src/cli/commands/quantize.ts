// `mox quantize --model DIR --out DIR2 --scheme int8|int4|dynamic-int8`: loads a float GPT checkpoint
// (mox's or a Hugging Face GPT-2 folder), quantizes its Linear and Embedding layers (mox.quantize),
// and writes a mox checkpoint folder: model.safetensors with the packed weights (quant/files.ts),
// config.json with the model and its "quantization" block, and the tokenizer. `mox generate`,
// `loadGPT` and `mox compress-report` read it.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError } from '../../errors.js';
import { loadGPT, saveGPTWeights } from '../../models/gpt-checkpoint.js';
import { writeFileAtomic } from '../../io/files.js';
import { QUANT_SCHEMES, type QuantScheme, isQuantScheme } from '../../backend/quant-format.js';
import { quantizationInfo, quantize } from '../../quant/quantize.js';
import { quantizationBlock } from '../../quant/files.js';
import { LiveProgress } from '../../train/live-progress.js';
import { loadModelTokenizer, saveTokenizerAtomic } from './gpt-tokenizer.js';
import type { CliCommand, MakeUsageError } from './gpt-cli.js';

const OP = 'quantize';

/** What `mox quantize` does: the float checkpoint, the folder to write, the scheme, what stays float. */
export interface QuantizeCommandOptions {
  model: string;
  out: string;
  scheme: QuantScheme;
  /** Module names (globs) left in float. */
  skip?: string[];
  /** Replace a checkpoint already in `out`. */
  overwrite?: boolean;
}

/** What `mox quantize` did: the layers quantized and left float, the file sizes, the time it took. */
export interface QuantizeCommandResult {
  scheme: QuantScheme;
  modules: number;
  skipped: string[];
  bytesBefore: number;
  bytesAfter: number;
  seconds: number;
}

const fileSize = (f: string): number => (fs.existsSync(f) ? fs.statSync(f).size : 0);

/** `mox quantize`: loads the float checkpoint, quantizes it (a bar of layers on stderr), writes the quantized folder. */
export async function runQuantize(
  opts: QuantizeCommandOptions,
  log: (line: string) => void = (l) => console.log(l),
): Promise<QuantizeCommandResult> {
  if (!isQuantScheme(opts.scheme))
    throw new DataError(OP, `unknown scheme '${String(opts.scheme)}' (expected ${QUANT_SCHEMES.join(', ')})`);
  if (path.resolve(opts.model) === path.resolve(opts.out))
    throw new DataError(OP, `--out must be another folder than --model (${opts.model}): the float checkpoint is kept`);
  if (fs.existsSync(opts.out)) {
    if (!fs.statSync(opts.out).isDirectory()) throw new DataError(OP, `${opts.out} exists and is not a folder`);
    const taken = ['model.safetensors', 'config.json'].filter((f) => fs.existsSync(path.join(opts.out, f)));
    if (taken.length && !opts.overwrite)
      throw new DataError(
        OP,
        `${opts.out} already holds a checkpoint (${taken.join(', ')}); pass --overwrite to replace it, or choose another --out`,
      );
  }
  const t0 = performance.now();
  const { model, config } = loadGPT(opts.model);
  if (config['quantization'] !== undefined && config['quantization'] !== null) {
    const s = (config['quantization'] as Record<string, unknown>)['scheme'];
    throw new DataError(OP, `${opts.model} is already quantized (${String(s)}); quantize the float checkpoint it came from`);
  }
  model.eval();
  // layers quantized of the model's, on stderr (a big model's take a while)
  let bar: LiveProgress | null = null;
  const onLayer = (done: number, total: number, name: string): void => {
    bar ??= new LiveProgress({ desc: OP, total, unit: 'layer' });
    bar.update(done, name);
  };
  quantize(model, { scheme: opts.scheme, onLayer, ...(opts.skip?.length ? { skip: opts.skip } : {}) });
  (bar as LiveProgress | null)?.close();
  const info = quantizationInfo(model)!;
  const tok = loadModelTokenizer(opts.model);
  try {
    fs.mkdirSync(opts.out, { recursive: true });
  } catch (e) {
    throw new DataError(OP, `cannot create ${opts.out}: ${(e as Error).message}`);
  }
  // a mox checkpoint's config.json is kept (its training settings say where the model came from); a
  // Hugging Face folder's becomes mox's, since the packed weights use mox's names
  const isMox = typeof config['gpt'] === 'object' && config['gpt'] !== null;
  const outConfig = {
    ...(isMox ? config : {}),
    gpt: model.config,
    quantization: quantizationBlock(info),
    quantized_from: path.resolve(opts.model),
  };
  await saveGPTWeights(opts.out, model, { quantization_scheme: opts.scheme });
  if (tok) saveTokenizerAtomic(tok, opts.out);
  writeFileAtomic(path.join(opts.out, 'config.json'), JSON.stringify(outConfig, null, 2) + '\n');
  for (const [, b] of model.namedBuffers()) b.dispose();
  for (const p of model.parameters()) p.dispose();
  const bytesBefore = fileSize(path.join(opts.model, 'model.safetensors'));
  const bytesAfter = fileSize(path.join(opts.out, 'model.safetensors'));
  const seconds = (performance.now() - t0) / 1000;
  const mib = (n: number) => `${(n / 1024 / 1024).toFixed(2)} MiB`;
  log(
    `quantize: ${info.modules.length} layers to ${opts.scheme}${info.tied.length ? ` (${info.tied.map(([h, e]) => `${h} tied to ${e}`).join(', ')})` : ''}` +
      `${info.skipped.length ? `, ${info.skipped.length} left in float (${info.skipped.join(', ')})` : ''}`,
  );
  log(
    `quantize: model.safetensors ${mib(bytesBefore)} -> ${mib(bytesAfter)} (${bytesBefore ? (bytesAfter / bytesBefore).toFixed(3) : '?'}x), ` +
      `written to ${opts.out} in ${seconds.toFixed(1)} s`,
  );
  return { scheme: opts.scheme, modules: info.modules.length, skipped: info.skipped, bytesBefore, bytesAfter, seconds };
}

const QUANTIZE_USAGE = `usage: mox quantize --model DIR --out DIR2 --scheme int8|int4|dynamic-int8 [--skip NAME]... [--overwrite]

Quantizes a GPT checkpoint (a mox checkpoint folder or a Hugging Face GPT-2 folder) and writes a mox
checkpoint folder that \`mox generate\`, \`loadGPT\` and \`mox compress-report\` read. Every Linear and
Embedding layer is quantized, the tied language-model head with its embedding (one table):

  int8          8-bit weights, one scale per output channel; activations stay float32
  int4          4-bit weights in groups of 32 with a float16 scale each (llama.cpp's Q4_0); the
                kernels quantize activations to int8 blocks of 32 (Q8_0) for integer dot products
  dynamic-int8  int8 weights, activations quantized per row at run time to 7 unsigned bits
                (torch.ao.quantization.quantize_dynamic, fbgemm's reduce_range)

LayerNorm weights, biases and anything --skip names stay float32. The layout is in docs/quantization.md.

  --model DIR       the float checkpoint (kept as it is)
  --out DIR2        where to write the quantized checkpoint
  --scheme S        int8, int4 or dynamic-int8
  --skip NAME       a module to leave in float, e.g. lm_head or 'transformer.h.0.*' (* spans dots); repeatable
  --overwrite       replace a checkpoint already in DIR2`;

/** The `mox quantize` command: usage, flags and their checks (a bad flag is `bad`'s usage error). */
export function quantizeCommand(bad: MakeUsageError): CliCommand {
  const str = { type: 'string' } as const;
  return {
    summary: 'quantize a GPT checkpoint to int8, int4 or dynamic int8',
    usage: QUANTIZE_USAGE,
    options: { model: str, out: str, scheme: str, skip: { type: 'string', multiple: true }, overwrite: { type: 'boolean' } },
    async run(values, positionals) {
      if (positionals.length > 0) throw bad(`${OP}: unexpected argument '${positionals[0]}'`);
      const model = values['model'];
      const out = values['out'];
      const scheme = values['scheme'];
      if (typeof model !== 'string' || model === '') throw bad(`${OP}: --model DIR is required`);
      if (typeof out !== 'string' || out === '') throw bad(`${OP}: --out DIR2 is required`);
      if (typeof scheme !== 'string') throw bad(`${OP}: --scheme is required (${QUANT_SCHEMES.join(', ')})`);
      if (!isQuantScheme(scheme)) throw bad(`${OP}: unknown scheme '${scheme}' (expected ${QUANT_SCHEMES.join(', ')})`);
      const skip = values['skip'];
      await runQuantize({ model, out, scheme, skip: Array.isArray(skip) ? skip.map(String) : [], overwrite: values['overwrite'] === true });
    },
  };
}
