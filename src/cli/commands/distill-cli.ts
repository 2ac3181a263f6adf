// The command-line face of `mox distill gpt`: usage text, flags and their checks. The run is
// `train gpt`'s (train-gpt.ts) with a teacher's loss (distill-gpt.ts).

import * as path from 'node:path';
import {
  type CliCommand,
  type MakeUsageError,
  RUN_FLAGS,
  type RunDefaults,
  givenFlags,
  intFlag,
  numFlag,
  runFlags,
  runFlagsUsage,
} from './gpt-cli.js';
import { GPT_CHECKPOINT_FILES, runTrainGpt } from './train-gpt.js';
import { checkRunDir } from './run-dir.js';
import { dataFlags } from './text-input.js';
import { parseUnknownPolicy } from './finetune-gpt.js';
import { type DistillSpec, checkDistillSpec } from './distill-gpt.js';

const DISTILL_DEFAULTS: RunDefaults = { maxIters: 2000, lr: 1e-3, minLr: 1e-4, warmupIters: 100, evalInterval: 250 };

const DISTILL_USAGE = `usage: mox distill gpt --teacher DIR (--data FILE | --dataset NAME) --out DIR2 [options]
       mox distill gpt --out DIR2 --resume [--max-iters N] [options]

Trains a new, smaller GPT (the student) on a trained one's outputs (knowledge distillation, Hinton,
Vinyals & Dean 2015). The student has the teacher's tokenizer, block size and vocabulary, and its own
depth and width (--n-layer, --n-head, --n-embd). Each step's loss is

  alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) * cross-entropy

over every position: the teacher's softened next-token distributions mixed with the true next tokens
(the teacher runs frozen, in eval mode). Evaluations report the student's plain cross-entropy, so they
compare with \`mox train gpt\` of the same student; alpha 0 is exactly that run. Checkpoints, --resume
and --overwrite work as in \`mox train gpt\`; DIR2 holds a GPT that \`mox generate --model DIR2\` reads.

teacher and data:
  --teacher DIR         the teacher: a mox GPT checkpoint folder or a Hugging Face GPT-2 folder
  --data FILE           the text to train on (UTF-8 unless --encoding says otherwise)
  --dataset NAME        or a named one (tinyshakespeare)
  --encoding E          the encoding of --data
  --unknown P           characters the teacher's character tokenizer lacks: error (default), drop,
                        or replace:TEXT
distillation:
  --temperature T       softening temperature, > 0 (default 2)
  --alpha A             weight of the teacher's term in [0, 1] (default 0.5); 0 is plain training
the student:
  --n-layer N           Transformer blocks (default 2)
  --n-head N            attention heads (default 4)
  --n-embd N            width (default 64)
  --dropout P           dropout probability (default 0)
  --no-bias             no biases in Linear layers and LayerNorms
${runFlagsUsage(
  'as `mox train gpt`',
  { maxIters: '2000', lr: '1e-3', minLr: '1e-4', warmupIters: '100', evalInterval: '250' },
  'the weights, batches and dropout',
  'teacher, temperature and alpha',
)}`;

export function distillCommand(bad: MakeUsageError): CliCommand {
  const str = { type: 'string' } as const;
  return {
    args: 'gpt',
    summary: "train a smaller GPT on a trained one's softened outputs (knowledge distillation)",
    usage: DISTILL_USAGE,
    options: {
      ...RUN_FLAGS,
      teacher: str,
      temperature: str,
      alpha: str,
      unknown: str,
      'n-layer': str,
      'n-head': str,
      'n-embd': str,
      dropout: str,
      'no-bias': { type: 'boolean' },
    },
    async run(values, positionals) {
      if (positionals.length === 0) throw bad('distill: missing the model to distil (mox distill gpt ...)');
      if (positionals[0] !== 'gpt') throw bad(`distill: unknown model '${positionals[0]}' (gpt)`);
      if (positionals.length > 1) throw bad(`distill gpt: unexpected argument '${positionals[1]}'`);
      const resume = values['resume'] === true;
      const overwrite = values['overwrite'] === true;
      const out = values['out'];
      if (typeof out !== 'string' || out === '') throw bad('distill gpt: --out DIR2 is required');
      const teacher = values['teacher'] as string | undefined;
      if (resume) {
        for (const f of ['teacher', 'temperature', 'alpha', 'unknown'])
          if (values[f] !== undefined) throw bad(`distill gpt --resume: --${f} comes from the checkpoint; leave it out`);
      } else if (teacher === undefined || teacher === '') throw bad('distill gpt: --teacher DIR is required');
      const { dataset, data, encoding } = dataFlags('distill gpt', values, resume, bad);
      const temperature = numFlag(bad, values, 'temperature', 2, (x) => x > 0, 'a number > 0');
      const alpha = numFlag(bad, values, 'alpha', 0.5, (x) => x >= 0 && x <= 1, 'in [0, 1]');
      const unit = (x: number) => x >= 0 && x < 1;
      const run = runFlags(bad, values, { dataset, data, encoding, out, resume, overwrite }, DISTILL_DEFAULTS);
      const nLayer = intFlag(bad, values, 'n-layer', 2, 1);
      const nHead = intFlag(bad, values, 'n-head', 4, 1);
      const nEmbd = intFlag(bad, values, 'n-embd', 64, 1);
      if (nEmbd % nHead !== 0) throw bad(`--n-embd (${nEmbd}) must be a multiple of --n-head (${nHead})`);
      const distill: DistillSpec | undefined = resume
        ? undefined
        : {
            teacher: path.resolve(teacher!),
            temperature,
            alpha,
            unknown: parseUnknownPolicy(values['unknown'] as string | undefined, bad),
          };
      if (distill) checkDistillSpec(distill, '--teacher');
      checkRunDir('distill gpt', out, GPT_CHECKPOINT_FILES, { resume, overwrite }, bad);
      // the tokenizer and block size come from the teacher (or, resuming, the checkpoint): placeholders here
      await runTrainGpt(
        {
          ...run,
          tokenizer: 'teacher',
          nLayer,
          nHead,
          nEmbd,
          blockSize: 1,
          dropout: numFlag(bad, values, 'dropout', 0, unit, 'in [0, 1)'),
          bias: values['no-bias'] !== true,
          distill,
        },
        givenFlags(values),
      );
    },
  };
}
