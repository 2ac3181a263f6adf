// The command-line face of `mox train lstm`, and `mox train` itself: one command whose first argument
// picks the model (gpt: gpt-cli.ts, lstm: here). Each model accepts only its own flags.

import { givenOptionKeys, intFlag, numFlag, type CliCommand, type MakeUsageError, type Values } from './gpt-cli.js';
import { LSTM_CHECKPOINT_FILES, runTrainLstm, type TrainLstmOptions } from './train-lstm.js';
import { checkRunDir } from './run-dir.js';
import { dataFlags } from './text-input.js';
import { SAMPLE_TOKENS } from './run-metrics.js';

const OP = 'train lstm';

const TRAIN_LSTM_USAGE = `usage: mox train lstm (--dataset tinyshakespeare | --data FILE) --out DIR [options]
       mox train lstm --out DIR --resume [--max-iters N ...]

Trains an LSTM language model (Embedding -> stacked LSTM -> Dense) on a text with the loop of
\`mox train gpt\`: random windows of --seq-len tokens from the first 90% of the tokens, each from a zero
state; the last 10% for validation. At each evaluation it prints the train/val loss, ms/iter and
tokens/s, and replaces the checkpoint in DIR (config.json with "model": "lstm", model.safetensors,
optimizer.safetensors, trainer_state.json with the step and RNG state, the tokenizer), each file
written atomically. \`mox generate --model DIR\` samples from it.

data:
  --dataset NAME        tinyshakespeare (input.txt in $MOX_DATA_DIR/tinyshakespeare/ or the cache)
  --data FILE           any text file, UTF-8 unless --encoding says otherwise (text that is not
                        valid UTF-8 is refused)
  --encoding E          the encoding of --data (e.g. latin1, windows-1252, utf-16le)
  --tokenizer T         char (default), gpt2, bpe:N, or a tokenizer folder (as mox train gpt)
model:
  --embed-dim N         embedding width (default 64)
  --hidden-size N       LSTM hidden size (default 256)
  --num-layers N        stacked LSTM layers (default 2)
  --dropout P           dropout on the embeddings, between layers and before the output (default 0)
  --tie-weights         the output layer shares the embedding matrix (needs --hidden-size = --embed-dim)
training:
  --seq-len N           tokens per window (backpropagation through time; default 64)
  --batch-size N        windows per iteration (default 32)
  --max-iters N         iterations (default 2000)
  --lr X                peak learning rate (default 3e-3)
  --min-lr X            learning rate at the end of the cosine decay (default 3e-4)
  --warmup-iters N      linear warmup iterations (default 100)
  --lr-decay-iters N    iterations of cosine decay (default --max-iters)
  --weight-decay X      AdamW weight decay on 2-D parameters (default 0)
  --beta1 X, --beta2 X  AdamW betas (default 0.9, 0.99)
  --grad-clip X         clip the gradient norm to X, 0 for none (default 1.0)
  --eval-interval N     evaluate and checkpoint every N iterations (default 250)
  --eval-iters N        batches per split in each evaluation (default 20)
  --log-interval N      print the training loss every N iterations, 0 for never (default 0)
  --sample-tokens N     tokens generated into OUT/metrics.jsonl at each evaluation, 0 for none (default ${SAMPLE_TOKENS})
  --seed S              seed for the weights, batches and dropout (default 1337)
  --threads N           CPU threads (default: all cores)
  --out DIR             checkpoint folder (created if needed)
  --overwrite           replace a checkpoint already in DIR
  --resume              continue from the checkpoint in DIR, exactly where it stopped; the model,
                        tokenizer and optimizer settings come from it, and so does the run's length
                        unless --max-iters is given`;

export function trainLstmCommand(bad: MakeUsageError): CliCommand {
  const str = { type: 'string' } as const;
  const bool = { type: 'boolean' } as const;
  return {
    args: 'lstm',
    summary: 'train an LSTM language model on a text, with checkpoints and --resume',
    usage: TRAIN_LSTM_USAGE,
    options: {
      dataset: str,
      data: str,
      tokenizer: str,
      'embed-dim': str,
      'hidden-size': str,
      'num-layers': str,
      dropout: str,
      'tie-weights': bool,
      'seq-len': str,
      'batch-size': str,
      'max-iters': str,
      lr: str,
      'min-lr': str,
      'warmup-iters': str,
      'lr-decay-iters': str,
      'weight-decay': str,
      beta1: str,
      beta2: str,
      'grad-clip': str,
      'eval-interval': str,
      'eval-iters': str,
      'log-interval': str,
      'sample-tokens': str,
      seed: str,
      threads: str,
      out: str,
      overwrite: bool,
      resume: bool,
      encoding: str,
    },
    async run(values: Values, positionals: string[]) {
      if (positionals.length > 1) throw bad(`train lstm: unexpected argument '${positionals[1]}'`);
      const resume = values['resume'] === true;
      const out = values['out'];
      if (typeof out !== 'string' || out === '') throw bad('train lstm: --out DIR is required');
      const { dataset, data, encoding } = dataFlags(OP, values, resume, bad);
      const pos = (x: number) => x > 0;
      const nonNeg = (x: number) => x >= 0;
      const unit = (x: number) => x >= 0 && x < 1;
      const opts: TrainLstmOptions = {
        dataset,
        data,
        encoding,
        tokenizer: (values['tokenizer'] as string | undefined) ?? 'char',
        embedDim: intFlag(bad, values, 'embed-dim', 64, 1),
        hiddenSize: intFlag(bad, values, 'hidden-size', 256, 1),
        numLayers: intFlag(bad, values, 'num-layers', 2, 1),
        dropout: numFlag(bad, values, 'dropout', 0, unit, 'in [0, 1)'),
        tieWeights: values['tie-weights'] === true,
        seqLen: intFlag(bad, values, 'seq-len', 64, 1),
        batchSize: intFlag(bad, values, 'batch-size', 32, 1),
        maxIters: intFlag(bad, values, 'max-iters', 2000, 0),
        lr: numFlag(bad, values, 'lr', 3e-3, pos, 'a positive number'),
        minLr: numFlag(bad, values, 'min-lr', 3e-4, nonNeg, 'a number >= 0'),
        warmupIters: intFlag(bad, values, 'warmup-iters', 100, 0),
        lrDecayIters: intFlag(bad, values, 'lr-decay-iters', undefined, 1),
        weightDecay: numFlag(bad, values, 'weight-decay', 0, nonNeg, 'a number >= 0'),
        beta1: numFlag(bad, values, 'beta1', 0.9, unit, 'in [0, 1)'),
        beta2: numFlag(bad, values, 'beta2', 0.99, unit, 'in [0, 1)'),
        gradClip: numFlag(bad, values, 'grad-clip', 1.0, nonNeg, 'a number >= 0'),
        evalInterval: intFlag(bad, values, 'eval-interval', 250, 1),
        evalIters: intFlag(bad, values, 'eval-iters', 20, 1),
        logInterval: intFlag(bad, values, 'log-interval', 0, 0),
        sampleTokens: intFlag(bad, values, 'sample-tokens', SAMPLE_TOKENS, 0),
        seed: intFlag(bad, values, 'seed', 1337, 0),
        threads: intFlag(bad, values, 'threads', undefined, 1),
        out,
        resume,
        overwrite: values['overwrite'] === true,
      };
      if (opts.tieWeights && opts.hiddenSize !== opts.embedDim)
        throw bad(`--tie-weights needs --hidden-size (${opts.hiddenSize}) = --embed-dim (${opts.embedDim})`);
      const given = givenOptionKeys(values) as Set<keyof TrainLstmOptions>;
      checkRunDir(OP, out, LSTM_CHECKPOINT_FILES, { resume, overwrite: opts.overwrite }, bad);
      await runTrainLstm(opts, given);
    },
  };
}

/**
 * `mox train MODEL`: dispatches on the first argument to the model's command, after checking that
 * every flag given is one of that model's (parseArgs sees the union of both).
 */
export function trainCommand(bad: MakeUsageError, models: Record<string, CliCommand>): CliCommand {
  const names = Object.keys(models);
  const options: CliCommand['options'] = {};
  for (const m of Object.values(models)) Object.assign(options, m.options);
  return {
    args: names.join('|'),
    summary: `train a model on a text (${names.join(', ')}), with checkpoints and --resume`,
    usage: Object.values(models)
      .map((m) => m.usage)
      .join('\n\n'),
    options,
    run(values, positionals) {
      const name = positionals[0];
      if (name === undefined) throw bad(`train: missing the model to train (mox train ${names.join('|')} ...)`);
      const cmd = Object.hasOwn(models, name) ? models[name]! : undefined;
      if (!cmd) throw bad(`train: unknown model '${name}' (${names.join(', ')})`);
      for (const k of Object.keys(values)) {
        if (values[k] !== undefined && k !== 'help' && !Object.hasOwn(cmd.options, k)) throw bad(`train ${name}: unknown option '--${k}'`);
      }
      return cmd.run(values, positionals);
    },
  };
}
