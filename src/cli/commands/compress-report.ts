// `mox compress-report`: two GPT checkpoint folders side by side, an original and its compressed copy (a
// distilled student, a pruned or fine-tuned copy): the weights' size on disk, the parameter count, the
// shape, the sparsity of the 2-D weights, optionally the validation loss on a text, and the measured
// decode speed, each with the ratio compressed / original.
//
// The validation loss is `train gpt`'s evaluation: the text is encoded with each model's own tokenizer,
// the last 10% of the tokens are the validation split, and evalIters batches of 12 x blockSize windows
// are drawn from it by a Generator seeded with EVAL_SEED, with `train gpt`'s batch(); the loss is the mean
// of the batches' mean cross-entropy. Two models with the same tokenizer and block size see the same
// windows. The decode speed is greedy generation with the KV cache from a one-token prompt (token 0),
// best of 3, both models in this process with the same thread count.

import '../../ops/tensor-methods.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as mox from '../../index.js';
import { DataError } from '../../errors.js';
import { Generator } from '../../tensor/random.js';
import type { Tensor } from '../../tensor/tensor.js';
import type { GPT } from '../../models/gpt.js';
import { loadGPT } from '../../models/gpt-checkpoint.js';
import { generateAsync } from '../../models/gpt-generate.js';
import { batch, readCorpus, type DataSpec } from './train-gpt.js';
import { loadModelTokenizer } from './gpt-tokenizer.js';
import { CharTokenizer } from '../../text/char.js';
import { type CliCommand, type MakeUsageError, intFlag } from './gpt-cli.js';
import { dataFlags, readTextFile, resolveDataPath } from './text-input.js';

const OP = 'compress-report';

/** The seed of the generator that draws the validation windows (the same for both models). */
export const EVAL_SEED = 1337;
/** Sequences per validation batch, as `train gpt`'s default --batch-size. */
export const EVAL_BATCH = 12;
/** Decode-speed runs per model; the best counts. */
const SPEED_RUNS = 3;

export interface CompressReportOptions extends DataSpec {
  model: string;
  compressed: string;
  /** Validation batches (default 20). */
  evalIters?: number;
  /** Tokens generated for the speed measurement (default 64). */
  tokens?: number;
  threads?: number;
  json?: boolean;
}

export interface ModelReport {
  dir: string;
  /** Bytes of model.safetensors. */
  weightsBytes: number;
  /** Every parameter once (a tied head counted once), position embeddings included. */
  params: number;
  nLayer: number;
  nHead: number;
  /** The attention heads of all layers together: nLayer * nHead, less the pruned ones (mox prune-heads). */
  attentionHeads: number;
  nEmbd: number;
  vocabSize: number;
  blockSize: number;
  /** Entries of the 2-D weights (matmul weights and embeddings), and how many of them are exactly 0. */
  weights2d: number;
  zeros2d: number;
  sparsity: number;
  /** The tokenizer's kind (char, gpt2, bpe), or null when the folder has none. */
  tokenizer: string | null;
  /**
   * config.json's "quantization" scheme, or null. Reserved for quantized checkpoints (issue 15, part 1):
   * today only the scheme is read and shown; nothing is dequantized or compared.
   */
  quantization: string | null;
  /** With a text: the validation loss, and the tokens of the validation split it was drawn from. */
  valLoss: number | null;
  valTokens: number | null;
  /** Greedy decode speed with the KV cache, best of 3. */
  tokensPerSecond: number;
}

export interface CompressReport {
  original: ModelReport;
  compressed: ModelReport;
  /** compressed / original for each number both have (null when the original's is 0 or missing). */
  ratio: Record<string, number | null>;
  data: string | null;
  evalIters: number;
  evalBatch: number;
  evalSeed: number;
  tokens: number;
  threads: number;
}

/** The folder as a GPT checkpoint: a missing folder, a file, or a folder of another kind gets a DataError naming the flag. */
function loadModel(flag: string, dir: string): { model: GPT; config: Record<string, unknown> } {
  if (!fs.existsSync(dir)) throw new DataError(OP, `--${flag} ${dir}: no such folder`);
  if (!fs.statSync(dir).isDirectory()) throw new DataError(OP, `--${flag} ${dir} is a file, not a GPT checkpoint folder`);
  if (!fs.existsSync(path.join(dir, 'config.json')))
    throw new DataError(OP, `--${flag} ${dir} is not a GPT checkpoint folder: it has no config.json`);
  try {
    const { model, config } = loadGPT(dir);
    return { model, config };
  } catch (e) {
    if (!(e instanceof DataError)) throw e;
    throw new DataError(OP, `--${flag} ${dir} is not a GPT checkpoint folder that loads: ${e.message}`);
  }
}

/**
 * The quantization scheme config.json records (`mox quantize` writes "quantization": { "scheme": ... }),
 * or null for a float model.
 */
export function quantizationScheme(config: Record<string, unknown>): string | null {
  const q = config['quantization'];
  if (q === undefined || q === null) return null;
  if (typeof q === 'string') return q;
  if (typeof q === 'object' && typeof (q as Record<string, unknown>)['scheme'] === 'string')
    return (q as Record<string, unknown>)['scheme'] as string;
  return JSON.stringify(q);
}

/** Entries of the 2-D float parameters and how many are exactly zero (each parameter once, a tied head once; quantized weights are not parameters). */
export function sparsity2d(model: GPT): { size: number; zeros: number } {
  let size = 0;
  let zeros = 0;
  for (const p of new Set(model.parameters())) {
    if (p.ndim !== 2) continue;
    const d = p.dataSync();
    size += d.length;
    for (let i = 0; i < d.length; i++) if (d[i] === 0) zeros++;
  }
  return { size, zeros };
}

/**
 * `train gpt`'s validation loss: evalIters batches of EVAL_BATCH x blockSize windows from valData drawn by a
 * Generator(seed), each batch's mean cross-entropy, averaged.
 */
export async function validationLoss(model: GPT, valData: Int32Array, evalIters: number, seed = EVAL_SEED): Promise<number> {
  const gen = new Generator(seed);
  const wasTraining = model.training;
  model.eval();
  const losses: Tensor[] = [];
  try {
    for (let k = 0; k < evalIters; k++) {
      losses.push(
        mox.scope(() =>
          mox.noGrad(() => {
            const { x, y } = batch(valData, model.config.blockSize, EVAL_BATCH, gen, 'cpu');
            return mox.keep(model.forward(x, y).loss!.detach());
          }),
        ),
      );
    }
    let sum = 0;
    for (const l of losses) sum += (await l.data())[0]!;
    return sum / evalIters;
  } finally {
    for (const l of losses) l.dispose();
    if (wasTraining) model.train();
  }
}

/** Tokens/s of greedy generation with the KV cache from the one-token prompt [0], best of `runs`. */
async function decodeSpeed(model: GPT, tokens: number, runs = SPEED_RUNS): Promise<number> {
  let best = 0;
  for (let r = 0; r < runs; r++) {
    const res = await generateAsync(model, [[0]], { maxNewTokens: tokens, temperature: 0, useCache: true });
    res.ids.dispose();
    best = Math.max(best, res.tokensPerSecond);
  }
  return best;
}

/** The validation split of the text as this model's tokenizer encodes it; DataError when it has none or it is too short. */
function valSplit(flag: string, dir: string, model: GPT, text: string, source: string): { valData: Int32Array; kind: string } {
  const tok = loadModelTokenizer(dir);
  if (!tok)
    throw new DataError(
      OP,
      `--${flag} ${dir} has no tokenizer (tokenizer.json, or vocab.json + merges.txt for a Hugging Face folder), so the text cannot be encoded for its validation loss; leave out --data/--dataset`,
    );
  // a character the tokenizer lacks is an error: the loss would not be that of the text
  if (tok instanceof CharTokenizer) {
    const known = new Set(tok.chars);
    const unknown = new Set<string>();
    for (const ch of text) if (!known.has(ch)) unknown.add(ch);
    if (unknown.size > 0)
      throw new DataError(
        OP,
        `${source} has ${unknown.size} distinct characters that the character tokenizer of --${flag} ${dir} does not have (${[...unknown]
          .slice(0, 8)
          .map((c) => JSON.stringify(c))
          .join(', ')}${unknown.size > 8 ? ', ...' : ''}): its validation loss on this text is undefined`,
      );
  }
  const ids = Int32Array.from(tok.encode(text));
  const { vocabSize, blockSize } = model.config;
  for (const id of ids)
    if (id >= vocabSize)
      throw new DataError(OP, `--${flag} ${dir}: its tokenizer gives token ${id}, outside the model's vocabulary [0, ${vocabSize})`);
  const valData = ids.subarray(Math.floor(ids.length * 0.9));
  if (valData.length <= blockSize)
    throw new DataError(
      OP,
      `${source} has ${ids.length} tokens for --${flag} ${dir}: the validation split (the last 10%, ${valData.length} tokens) needs more than its block size (${blockSize})`,
    );
  return { valData, kind: tok.kind };
}

export async function compressReport(opts: CompressReportOptions): Promise<CompressReport> {
  await mox.initDevice('cpu');
  if (opts.threads !== undefined) mox.setNumThreads(opts.threads);
  const evalIters = opts.evalIters ?? 20;
  const tokens = opts.tokens ?? 64;
  // --data is read here, so its errors name this command; --dataset as `train gpt` finds it
  const corpus =
    opts.data !== undefined
      ? { text: readTextFile(OP, resolveDataPath(opts.data), opts.encoding), source: resolveDataPath(opts.data) }
      : opts.dataset !== undefined
        ? await readCorpus(opts).catch((e: unknown) => {
            throw e instanceof DataError ? new DataError(OP, e.message.replace(/^train gpt: /, '')) : e;
          })
        : null;
  if (corpus && corpus.text.length === 0) throw new DataError(OP, `the data file ${corpus.source} is empty`);

  const one = async (flag: string, dir: string): Promise<ModelReport> => {
    const { model, config } = loadModel(flag, dir);
    try {
      model.eval();
      const c = model.config;
      const { size, zeros } = sparsity2d(model);
      const tok = loadModelTokenizer(dir);
      let valLoss: number | null = null;
      let valTokens: number | null = null;
      if (corpus) {
        const { valData } = valSplit(flag, dir, model, corpus.text, corpus.source);
        valLoss = await validationLoss(model, valData, evalIters);
        valTokens = valData.length;
      }
      return {
        dir: path.resolve(dir),
        weightsBytes: fs.statSync(path.join(dir, 'model.safetensors')).size,
        params: model.getNumParams(false),
        nLayer: c.nLayer,
        nHead: c.nHead,
        attentionHeads: model.transformer.h.reduce((n, b) => n + b.attn.nHead, 0),
        nEmbd: c.nEmbd,
        vocabSize: c.vocabSize,
        blockSize: c.blockSize,
        weights2d: size,
        zeros2d: zeros,
        sparsity: size > 0 ? zeros / size : 0,
        tokenizer: tok ? tok.kind : null,
        quantization: quantizationScheme(config),
        valLoss,
        valTokens,
        tokensPerSecond: await decodeSpeed(model, tokens),
      };
    } finally {
      for (const [, b] of model.namedBuffers()) b.dispose();
      for (const p of model.parameters()) p.dispose();
    }
  };
  const original = await one('model', opts.model);
  const compressed = await one('compressed', opts.compressed);
  const ratio: Record<string, number | null> = {};
  for (const k of [
    'weightsBytes',
    'params',
    'nLayer',
    'nHead',
    'attentionHeads',
    'nEmbd',
    'vocabSize',
    'blockSize',
    'sparsity',
    'valLoss',
    'tokensPerSecond',
  ] as const) {
    const a = original[k];
    const b = compressed[k];
    ratio[k] = typeof a === 'number' && typeof b === 'number' && a !== 0 ? b / a : null;
  }
  return {
    original,
    compressed,
    ratio,
    data: corpus ? corpus.source : null,
    evalIters,
    evalBatch: EVAL_BATCH,
    evalSeed: EVAL_SEED,
    tokens,
    threads: mox.getNumThreads(),
  };
}

function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(2)} MiB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GiB`;
}

/** The report as a table: one row per quantity, the original, the compressed copy, and their ratio. */
export function formatCompressReport(r: CompressReport): string {
  const a = r.original;
  const b = r.compressed;
  const fmtRatio = (x: number | null | undefined) => (x === null || x === undefined ? '' : `${x.toFixed(3)}x`);
  const rows: [string, string, string, string][] = [
    ['weights (model.safetensors)', fmtBytes(a.weightsBytes), fmtBytes(b.weightsBytes), fmtRatio(r.ratio['weightsBytes'])],
    ['parameters', a.params.toLocaleString('en-US'), b.params.toLocaleString('en-US'), fmtRatio(r.ratio['params'])],
    ['layers', String(a.nLayer), String(b.nLayer), fmtRatio(r.ratio['nLayer'])],
    ['heads per layer (config)', String(a.nHead), String(b.nHead), fmtRatio(r.ratio['nHead'])],
    ['attention heads (all layers)', String(a.attentionHeads), String(b.attentionHeads), fmtRatio(r.ratio['attentionHeads'])],
    ['width', String(a.nEmbd), String(b.nEmbd), fmtRatio(r.ratio['nEmbd'])],
    ['vocabulary', String(a.vocabSize), String(b.vocabSize), fmtRatio(r.ratio['vocabSize'])],
    ['block size', String(a.blockSize), String(b.blockSize), fmtRatio(r.ratio['blockSize'])],
    ['sparsity (2-D weights)', `${(a.sparsity * 100).toFixed(2)}%`, `${(b.sparsity * 100).toFixed(2)}%`, ''],
    ['tokenizer', a.tokenizer ?? 'none', b.tokenizer ?? 'none', ''],
  ];
  if (a.quantization !== null || b.quantization !== null)
    rows.push(['quantization', a.quantization ?? 'none', b.quantization ?? 'none', '']);
  if (r.data !== null)
    rows.push([
      'validation loss',
      a.valLoss === null ? '' : a.valLoss.toFixed(4),
      b.valLoss === null ? '' : b.valLoss.toFixed(4),
      fmtRatio(r.ratio['valLoss']),
    ]);
  rows.push([
    `decode tokens/s (${r.tokens} tokens)`,
    a.tokensPerSecond.toFixed(1),
    b.tokensPerSecond.toFixed(1),
    fmtRatio(r.ratio['tokensPerSecond']),
  ]);
  const head: [string, string, string, string] = ['', 'original', 'compressed', 'ratio'];
  const all = [head, ...rows];
  const w = [0, 1, 2, 3].map((i) => Math.max(...all.map((row) => row[i]!.length)));
  const line = (row: string[]) => [row[0]!.padEnd(w[0]!), ...row.slice(1).map((c, i) => c.padStart(w[i + 1]!))].join('   ').trimEnd();
  const notes = [
    `original:   ${a.dir}`,
    `compressed: ${b.dir}`,
    ...(r.data !== null
      ? [
          `validation: the last 10% of ${r.data} in each model's tokens (${a.valTokens} and ${b.valTokens}), ${r.evalIters} batches of ${r.evalBatch} x block size, seed ${r.evalSeed}`,
        ]
      : []),
    `decode: greedy with the KV cache from a one-token prompt, best of ${SPEED_RUNS}, threads ${r.threads}`,
  ];
  return [...notes, '', ...all.map(line)].join('\n');
}

export async function runCompressReport(
  opts: CompressReportOptions,
  out: (line: string) => void = (l) => console.log(l),
): Promise<CompressReport> {
  const r = await compressReport(opts);
  out(opts.json ? JSON.stringify(r) : formatCompressReport(r));
  return r;
}

const COMPRESS_REPORT_USAGE = `usage: mox compress-report --model DIR --compressed DIR2 [--data FILE | --dataset NAME] [options]

Compares two GPT checkpoint folders (mox checkpoints or Hugging Face GPT-2 folders): an original and its
compressed copy, e.g. a teacher and its student from \`mox distill gpt\`, or a model and its pruned or
fine-tuned copy. For each it prints the size of model.safetensors, the parameters (a tied head once),
the shape, the sparsity (the fraction of exactly-zero entries of the 2-D weights, what unstructured
pruning leaves) and the decode speed, with the ratio compressed / original; with a text, also the
validation loss. A config.json "quantization" scheme is shown when there is one.

  --model DIR           the original
  --compressed DIR2     the compressed copy
  --data FILE           a text for the validation loss: its last 10% (as \`mox train gpt\` splits it),
                        encoded with each model's own tokenizer
  --dataset NAME        or a named one (tinyshakespeare)
  --encoding E          the encoding of --data
  --eval-iters N        validation batches of ${EVAL_BATCH} x block size, drawn with seed ${EVAL_SEED} (default 20)
  --tokens N            tokens generated for the decode speed (greedy, KV cache, best of ${SPEED_RUNS}; default 64)
  --threads N           CPU threads for both models (default: all cores)
  --json                print one JSON object instead of the table`;

export function compressReportCommand(bad: MakeUsageError): CliCommand {
  const str = { type: 'string' } as const;
  return {
    summary: 'compare a GPT and its compressed copy: size, parameters, sparsity, loss, speed',
    usage: COMPRESS_REPORT_USAGE,
    options: {
      model: str,
      compressed: str,
      data: str,
      dataset: str,
      encoding: str,
      'eval-iters': str,
      tokens: str,
      threads: str,
      json: { type: 'boolean' },
    },
    async run(values, positionals) {
      if (positionals.length > 0) throw bad(`${OP}: unexpected argument '${positionals[0]}'`);
      const model = values['model'];
      const compressed = values['compressed'];
      if (typeof model !== 'string' || model === '') throw bad(`${OP}: --model DIR is required`);
      if (typeof compressed !== 'string' || compressed === '') throw bad(`${OP}: --compressed DIR2 is required`);
      const { dataset, data, encoding } = dataFlags(OP, values, true, bad);
      await runCompressReport({
        model,
        compressed,
        ...(dataset !== undefined ? { dataset } : {}),
        ...(data !== undefined ? { data } : {}),
        ...(encoding !== undefined ? { encoding } : {}),
        evalIters: intFlag(bad, values, 'eval-iters', 20, 1),
        tokens: intFlag(bad, values, 'tokens', 64, 1),
        threads: intFlag(bad, values, 'threads', undefined, 1),
        json: values['json'] === true,
      });
    },
  };
}
