// The command-line faces of `mox train gpt` and `mox generate`: usage text, flags, and their checks.
// main.ts registers them; a bad flag value raises main's usage error (exit 2).

import type { ParseArgsConfig } from 'node:util';
import { runTrainGpt, GPT_CHECKPOINT_FILES, TRAIN_GPT_DEFAULTS, type TrainGptOptions } from './train-gpt.js';
import { checkRunDir } from './run-dir.js';
import { dataFlags } from './text-input.js';
import { SAMPLE_TOKENS } from './run-metrics.js';
import { runGenerate } from './generate.js';
import { runExportHf } from './export-hf.js';

type Options = NonNullable<ParseArgsConfig['options']>;
export type Values = Record<string, string | boolean | undefined>;

export interface CliCommand {
  args?: string;
  summary: string;
  usage: string;
  options: Options;
  run(values: Values, positionals: string[]): void;
}

export type MakeUsageError = (message: string) => Error;

export function intFlag(bad: MakeUsageError, values: Values, name: string, fallback: number, min: number): number;
export function intFlag(bad: MakeUsageError, values: Values, name: string, fallback: undefined, min: number): number | undefined;
export function intFlag(bad: MakeUsageError, values: Values, name: string, fallback: number | undefined, min: number): number | undefined {
  const v = values[name];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (typeof v !== 'string' || !/^-?\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min) {
    throw bad(`--${name} must be an integer >= ${min}, got '${String(v)}'`);
  }
  return n;
}

export function numFlag(
  bad: MakeUsageError,
  values: Values,
  name: string,
  fallback: number,
  check: (x: number) => boolean,
  what: string,
): number;
export function numFlag(
  bad: MakeUsageError,
  values: Values,
  name: string,
  fallback: undefined,
  check: (x: number) => boolean,
  what: string,
): number | undefined;
export function numFlag(
  bad: MakeUsageError,
  values: Values,
  name: string,
  fallback: number | undefined,
  check: (x: number) => boolean,
  what: string,
): number | undefined {
  const v = values[name];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n) || !check(n))
    throw bad(`--${name} must be ${what}, got '${String(v)}'`);
  return n;
}

/** The flags `train gpt` and `finetune gpt` share: data, the optimizer and schedule, the run folder. */
export const RUN_FLAGS: Options = Object.fromEntries(
  [
    'dataset',
    'data',
    'encoding',
    'batch-size',
    'grad-accum',
    'max-iters',
    'lr',
    'min-lr',
    'warmup-iters',
    'lr-decay-iters',
    'weight-decay',
    'beta1',
    'beta2',
    'grad-clip',
    'eval-interval',
    'eval-iters',
    'log-interval',
    'sample-tokens',
    'seed',
    'threads',
    'out',
    'device',
  ].map((k) => [k, { type: 'string' }] as const),
);
RUN_FLAGS['resume'] = { type: 'boolean' };
RUN_FLAGS['overwrite'] = { type: 'boolean' };

/** The defaults that differ between pretraining and fine-tuning. */
export interface RunDefaults {
  maxIters: number;
  lr: number;
  minLr: number;
  warmupIters: number;
  evalInterval: number;
}

const D = TRAIN_GPT_DEFAULTS;
const TRAIN_DEFAULTS: RunDefaults = {
  maxIters: D.maxIters,
  lr: D.lr,
  minLr: D.minLr,
  warmupIters: D.warmupIters,
  evalInterval: D.evalInterval,
};

type RunFlagOptions = Omit<TrainGptOptions, 'tokenizer' | 'nLayer' | 'nHead' | 'nEmbd' | 'blockSize' | 'dropout' | 'bias'>;

/** Parses RUN_FLAGS (the data flags and --out, --resume, --overwrite already checked by the caller). */
export function runFlags(
  bad: MakeUsageError,
  values: Values,
  fixed: Pick<TrainGptOptions, 'dataset' | 'data' | 'encoding' | 'out' | 'resume' | 'overwrite'>,
  d: RunDefaults,
): RunFlagOptions {
  const pos = (x: number) => x > 0;
  const nonNeg = (x: number) => x >= 0;
  const unit = (x: number) => x >= 0 && x < 1;
  return {
    ...fixed,
    batchSize: intFlag(bad, values, 'batch-size', D.batchSize, 1),
    gradAccum: intFlag(bad, values, 'grad-accum', 1, 1),
    maxIters: intFlag(bad, values, 'max-iters', d.maxIters, 0),
    lr: numFlag(bad, values, 'lr', d.lr, pos, 'a positive number'),
    minLr: numFlag(bad, values, 'min-lr', d.minLr, nonNeg, 'a number >= 0'),
    warmupIters: intFlag(bad, values, 'warmup-iters', d.warmupIters, 0),
    lrDecayIters: intFlag(bad, values, 'lr-decay-iters', undefined, 1),
    weightDecay: numFlag(bad, values, 'weight-decay', D.weightDecay, nonNeg, 'a number >= 0'),
    beta1: numFlag(bad, values, 'beta1', D.beta1, unit, 'in [0, 1)'),
    beta2: numFlag(bad, values, 'beta2', D.beta2, unit, 'in [0, 1)'),
    gradClip: numFlag(bad, values, 'grad-clip', D.gradClip, nonNeg, 'a number >= 0'),
    evalInterval: intFlag(bad, values, 'eval-interval', d.evalInterval, 1),
    evalIters: intFlag(bad, values, 'eval-iters', D.evalIters, 1),
    logInterval: intFlag(bad, values, 'log-interval', D.logInterval, 0),
    sampleTokens: intFlag(bad, values, 'sample-tokens', SAMPLE_TOKENS, 0),
    seed: intFlag(bad, values, 'seed', D.seed, 0),
    threads: intFlag(bad, values, 'threads', undefined, 1),
    device: deviceFlag(bad, values['device']),
  };
}

/**
 * The usage lines of RUN_FLAGS for a command that starts from another model (finetune, distill): the
 * defaults as text (`lr` may say more, e.g. '3e-4; 1e-3 with --lora'), what the seed seeds, and what
 * --resume takes from the checkpoint.
 */
export function runFlagsUsage(
  title: string,
  d: { maxIters: string; lr: string; minLr: string; warmupIters: string; evalInterval: string },
  seeds: string,
  resumeTakes: string,
): string {
  return `training (${title}):
  --max-iters N         iterations (default ${d.maxIters})
  --lr X                peak learning rate (default ${d.lr})
  --min-lr X            learning rate at the end of the cosine decay (default ${d.minLr})
  --warmup-iters N      linear warmup iterations (default ${d.warmupIters})
  --lr-decay-iters N    iterations of cosine decay (default --max-iters)
  --batch-size N        sequences per micro-batch (default ${D.batchSize})
  --grad-accum N        micro-batches per step (default 1)
  --weight-decay X      AdamW weight decay on 2-D parameters (default ${D.weightDecay})
  --beta1 X, --beta2 X  AdamW betas (default ${D.beta1}, ${D.beta2})
  --grad-clip X         clip the gradient norm to X, 0 for none (default ${D.gradClip.toFixed(1)})
  --eval-interval N     evaluate and checkpoint every N iterations (default ${d.evalInterval})
  --eval-iters N        batches per split in each evaluation (default ${D.evalIters})
  --log-interval N      print the training loss every N iterations, 0 for never (default 0)
  --sample-tokens N     tokens generated into OUT/metrics.jsonl at each evaluation, 0 for none (default ${SAMPLE_TOKENS})
  --seed S              seed for ${seeds} (default ${D.seed})
  --threads N           CPU threads (default: all cores)
  --device D            cpu (default) or webgpu
  --out DIR2            the run's folder; one holding a checkpoint needs --resume or --overwrite
  --resume              continue the run in DIR2 exactly where it stopped
                        (${resumeTakes} come from its checkpoint)
  --overwrite           start a new run in DIR2, replacing the checkpoint it holds`;
}

/** The settings the command line gave explicitly (--resume checks them against the checkpoint's). */
export function givenFlags(values: Values): Set<keyof TrainGptOptions> {
  return givenOptionKeys(values) as Set<keyof TrainGptOptions>;
}

/** A flag's option key: its camelCase ('n-layer' is nLayer), --no-X setting X. */
export function flagKey(flag: string): string {
  return (flag.startsWith('no-') ? flag.slice(3) : flag).replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** The option keys of every flag given on the command line (a resumed run compares some with its checkpoint). */
export function givenOptionKeys(values: Values): Set<string> {
  return new Set(
    Object.keys(values)
      .filter((k) => values[k] !== undefined)
      .map(flagKey),
  );
}

const TRAIN_USAGE = `usage: mox train gpt (--dataset tinyshakespeare | --data FILE) --out DIR [--overwrite] [options]
       mox train gpt --out DIR --resume [--max-iters N [--lr-decay-iters N]] [options]

Pretrains a GPT (nanoGPT's model and training loop) on a text: the first 90% of its tokens for
training, the last 10% for validation. At each evaluation it prints the train/val loss, ms/iter and
tokens/s, and writes a checkpoint (config.json, model.safetensors, optimizer.safetensors,
trainer_state.json with the step, RNG state and losses, the tokenizer) as DIR/checkpoints/step-N,
committed whole by a manifest and a rename; the two newest are kept and the newest's files are
linked into DIR. A run killed at any moment resumes exactly (see docs/checkpoints.md).

data:
  --dataset NAME        tinyshakespeare: input.txt from $MOX_DATA_DIR/tinyshakespeare/ or the cache
                        (~/.cache/mox/tinyshakespeare/), else downloaded there (sha256-checked)
  --data FILE           any text file, UTF-8 unless --encoding says otherwise
  --encoding E          the encoding of --data (e.g. latin1, windows-1252, utf-16le); without it a
                        file that is not valid UTF-8 is refused (--encoding utf-8 reads it anyway,
                        each bad byte as U+FFFD)
  --tokenizer T         char (default), gpt2 (GPT-2's encoder.json + vocab.bpe from $MOX_DATA_DIR/gpt2-bpe
                        or the cache, else downloaded there), bpe:N (byte-level BPE trained on the text
                        to N tokens), or a tokenizer folder
model (defaults: nanoGPT's CPU Shakespeare configuration):
  --n-layer N           Transformer blocks (default 4)
  --n-head N            attention heads (default 4)
  --n-embd N            width, a multiple of --n-head (default 128)
  --block-size N        context length (default 64)
  --dropout P           dropout probability (default 0)
  --no-bias             no biases in Linear layers and LayerNorms
training:
  --batch-size N        sequences per iteration (default 12)
  --max-iters N         iterations (default 2000; with --resume, the run's own unless given)
  --lr X                peak learning rate (default 1e-3)
  --min-lr X            learning rate at the end of the cosine decay (default 1e-4)
  --warmup-iters N      linear warmup iterations (default 100)
  --lr-decay-iters N    iterations of cosine decay (default --max-iters)
  --weight-decay X      AdamW weight decay on 2-D parameters (default 0.1)
  --beta1 X, --beta2 X  AdamW betas (default 0.9, 0.99)
  --grad-clip X         clip the gradient norm to X, 0 for none (default 1.0)
  --grad-accum N        sum the gradients of N batches of --batch-size into each step, the same
                        step as one batch N times as large (default 1)
  --eval-interval N     evaluate and checkpoint every N iterations (default 250)
  --eval-iters N        batches per split in each evaluation (default 20)
  --log-interval N      print the training loss every N iterations, 0 for never (default 0)
  --sample-tokens N     tokens generated into OUT/metrics.jsonl at each evaluation, 0 for none (default ${SAMPLE_TOKENS})
  --seed S              seed for the weights, batches and dropout (default 1337)
  --threads N           CPU threads (default: all cores; with --workers, per process: cores / N)
  --workers N           processes that split each batch's rows and sum their gradients, as PyTorch's
                        DDP on one node; the same losses as one process (default 1;
                        docs/data-parallel.md says when it pays)
  --device D            cpu (default) or webgpu (the GPU, through WebGPU)
  --out DIR             checkpoint folder (created if needed); one that holds a checkpoint needs
                        --resume or --overwrite
  --resume              continue from the checkpoint in DIR, exactly where it stopped; the model,
                        tokenizer, data and optimizer settings come from it (a larger --max-iters
                        extends the run, with a new --lr-decay-iters if given)
  --overwrite           start a new run in DIR, replacing the checkpoint it holds`;

export function trainGptCommand(bad: MakeUsageError): CliCommand {
  const str = { type: 'string' } as const;
  return {
    args: 'gpt',
    summary: 'pretrain a GPT on a text (nanoGPT), with checkpoints and --resume',
    usage: TRAIN_USAGE,
    options: {
      ...RUN_FLAGS,
      tokenizer: str,
      'n-layer': str,
      'n-head': str,
      'n-embd': str,
      'block-size': str,
      dropout: str,
      'no-bias': { type: 'boolean' },
      workers: str,
    },
    async run(values, positionals) {
      if (positionals.length === 0) throw bad('train: missing the model to train (mox train gpt ...)');
      if (positionals[0] !== 'gpt') throw bad(`train: unknown model '${positionals[0]}' (gpt)`);
      if (positionals.length > 1) throw bad(`train gpt: unexpected argument '${positionals[1]}'`);
      const resume = values['resume'] === true;
      const overwrite = values['overwrite'] === true;
      const out = values['out'];
      if (typeof out !== 'string' || out === '') throw bad('train gpt: --out DIR is required');
      const { dataset, data, encoding } = dataFlags('train gpt', values, resume, bad);
      const unit = (x: number) => x >= 0 && x < 1;
      const opts: TrainGptOptions = {
        ...runFlags(bad, values, { dataset, data, encoding, out, resume, overwrite }, TRAIN_DEFAULTS),
        tokenizer: (values['tokenizer'] as string | undefined) ?? D.tokenizer,
        nLayer: intFlag(bad, values, 'n-layer', D.nLayer, 1),
        nHead: intFlag(bad, values, 'n-head', D.nHead, 1),
        nEmbd: intFlag(bad, values, 'n-embd', D.nEmbd, 1),
        blockSize: intFlag(bad, values, 'block-size', D.blockSize, 1),
        dropout: numFlag(bad, values, 'dropout', D.dropout, unit, 'in [0, 1)'),
        bias: values['no-bias'] !== true,
        workers: intFlag(bad, values, 'workers', 1, 1),
      };
      if (opts.nEmbd % opts.nHead !== 0) throw bad(`--n-embd (${opts.nEmbd}) must be a multiple of --n-head (${opts.nHead})`);
      const given = givenFlags(values);
      checkRunDir('train gpt', out, GPT_CHECKPOINT_FILES, { resume, overwrite }, bad);
      await runTrainGpt(opts, given);
    },
  };
}

const GENERATE_USAGE = `usage: mox generate --model DIR (--prompt TEXT | --prompt-ids 1,2,3) [options]

Continues a prompt with a GPT checkpoint folder (what \`mox train gpt --out DIR\` writes), sampling
with a key/value cache. Prints the prompt and its continuation (or, with --json, the token ids as a
JSON array); the speed in tokens/s goes to stderr.

  --model DIR           checkpoint folder: config.json, model.safetensors, tokenizer.json; or a
                        Hugging Face GPT-2 folder (config.json, model.safetensors, and vocab.json +
                        merges.txt for --prompt); or a LoRA run's folder (\`mox finetune gpt --lora\`),
                        whose base model is read from where its adapter_config.json says
  --adapter DIR         load the LoRA adapter in DIR (PEFT's adapter_model.safetensors and
                        adapter_config.json) onto --model, merged into its weights
  --prompt TEXT         the text to continue (encoded with the checkpoint's tokenizer)
  --prompt-ids IDS      or the token ids, comma-separated
  --max-new-tokens N    tokens to generate (default 200)
  --temperature T       softmax temperature; 0 is greedy (default 0.8)
  --top-k K             sample among the K most likely tokens only
  --top-p P             nucleus sampling: the fewest most likely tokens with probability >= P
  --seed S              seed for the sampling (default 1337)
  --no-cache            recompute the whole context for every token (same tokens, slower)
  --json                print the prompt's and the new token ids as a JSON array
  --device D            cpu (default) or webgpu (the GPU, through WebGPU)`;

export function generateCommand(bad: MakeUsageError): CliCommand {
  const str = { type: 'string' } as const;
  return {
    summary: 'continue a prompt with a trained GPT (KV cache, top-k/top-p)',
    usage: GENERATE_USAGE,
    options: {
      model: str,
      adapter: str,
      prompt: str,
      'prompt-ids': str,
      'max-new-tokens': str,
      temperature: str,
      'top-k': str,
      'top-p': str,
      seed: str,
      json: { type: 'boolean' },
      'no-cache': { type: 'boolean' },
      device: str,
    },
    async run(values, positionals) {
      if (positionals.length > 0) throw bad(`generate: unexpected argument '${positionals[0]}'`);
      const model = values['model'];
      if (typeof model !== 'string' || model === '') throw bad('generate: --model DIR is required');
      const prompt = values['prompt'] as string | undefined;
      const idsText = values['prompt-ids'] as string | undefined;
      if (prompt !== undefined && idsText !== undefined) throw bad('generate: give --prompt or --prompt-ids, not both');
      if (prompt === undefined && idsText === undefined) throw bad('generate: give --prompt TEXT or --prompt-ids 1,2,3');
      let promptIds: number[] | undefined;
      if (idsText !== undefined) {
        const parts = idsText.split(',').map((s) => s.trim());
        if (parts.length === 0 || parts.some((s) => !/^\d+$/.test(s) || !Number.isSafeInteger(Number(s)))) {
          throw bad(`--prompt-ids must be comma-separated non-negative integers, got '${idsText}'`);
        }
        promptIds = parts.map(Number);
      }
      const adapter = values['adapter'] as string | undefined;
      if (adapter === '') throw bad('generate: --adapter needs a folder');
      await runGenerate({
        model,
        ...(adapter !== undefined ? { adapter } : {}),
        prompt,
        promptIds,
        device: deviceFlag(bad, values['device']),
        maxNewTokens: intFlag(bad, values, 'max-new-tokens', 200, 0),
        temperature: numFlag(bad, values, 'temperature', 0.8, (x) => x >= 0, 'a number >= 0'),
        topK: intFlag(bad, values, 'top-k', undefined, 1),
        topP: numFlag(bad, values, 'top-p', undefined, (x) => x > 0 && x <= 1, 'in (0, 1]'),
        seed: intFlag(bad, values, 'seed', 1337, 0),
        json: values['json'] === true,
        useCache: values['no-cache'] !== true,
      });
    },
  };
}

const EXPORT_HF_USAGE = `usage: mox export-hf --model DIR --out DIR

Writes a GPT checkpoint folder (what \`mox train gpt --out DIR\` writes, or a Hugging Face GPT-2
folder) as a Hugging Face GPT-2 folder: config.json for GPT2LMHeadModel and model.safetensors with
transformers' key names and Conv1D ([in, out]) weights, each file written atomically. The result loads
with transformers' GPT2LMHeadModel.from_pretrained(DIR) and with \`mox generate --model DIR\`.
A GPT-2 BPE tokenizer (encoder.json + vocab.bpe) is copied as vocab.json + merges.txt.

  --model DIR           the checkpoint folder to read
  --out DIR             the folder to write (created if needed; must not be --model)`;

export function exportHfCommand(bad: MakeUsageError): CliCommand {
  const str = { type: 'string' } as const;
  return {
    summary: 'write a GPT checkpoint as a Hugging Face GPT-2 folder (transformers)',
    usage: EXPORT_HF_USAGE,
    options: { model: str, out: str },
    run(values, positionals) {
      if (positionals.length > 0) throw bad(`export-hf: unexpected argument '${positionals[0]}'`);
      const model = values['model'];
      const out = values['out'];
      if (typeof model !== 'string' || model === '') throw bad('export-hf: --model DIR is required');
      if (typeof out !== 'string' || out === '') throw bad('export-hf: --out DIR is required');
      runExportHf({ model, out });
    },
  };
}

export function deviceFlag(bad: MakeUsageError, v: string | boolean | undefined): string {
  if (v === undefined) return 'cpu';
  if (v !== 'cpu' && v !== 'webgpu') throw bad(`--device must be cpu or webgpu, got '${String(v)}'`);
  return v;
}
