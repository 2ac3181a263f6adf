// The command-line face of `mox finetune gpt`: usage text, flags and their checks. The run is
// `train gpt`'s (train-gpt.ts) started from a base model (finetune-gpt.ts).

import * as path from 'node:path';
import { type CliCommand, type MakeUsageError, RUN_FLAGS, type RunDefaults, givenFlags, runFlags, runFlagsUsage } from './gpt-cli.js';
import { GPT_CHECKPOINT_FILES, runTrainGpt } from './train-gpt.js';
import { checkRunDir } from './run-dir.js';
import { dataFlags } from './text-input.js';
import { type FinetuneSpec, checkFinetuneSpec, parseLoraSpec, parseUnknownPolicy } from './finetune-gpt.js';

const FINETUNE_DEFAULTS: RunDefaults = { maxIters: 500, lr: 3e-4, minLr: 3e-5, warmupIters: 50, evalInterval: 100 };
const LORA_LR = 1e-3;

const FINETUNE_USAGE = `usage: mox finetune gpt --from DIR (--data FILE | --dataset NAME) --out DIR2 [options]
       mox finetune gpt --out DIR2 --resume [--max-iters N] [options]

Fine-tunes a trained GPT on a new text: the base model's shape and tokenizer, a fresh AdamW
optimizer and warmup-cosine schedule, the first 90% of the text's tokens for training and the last
10% for validation (step 0's evaluation is the base model's loss on them). Checkpoints, --resume and
--overwrite work as in \`mox train gpt\`. Full fine-tuning writes a whole model into DIR2 (\`mox
generate --model DIR2\`); with --lora only the adapters are trained and saved, in Hugging Face PEFT's
layout (adapter_model.safetensors + adapter_config.json; \`mox generate --model DIR --adapter DIR2\`).

base and data:
  --from DIR            the base model: a mox checkpoint folder (\`mox train gpt --out\`) or a Hugging
                        Face GPT-2 folder (config.json, model.safetensors, vocab.json + merges.txt)
  --data FILE           the text to fine-tune on (UTF-8 unless --encoding says otherwise)
  --dataset NAME        or a named one (tinyshakespeare)
  --encoding E          the encoding of --data (e.g. windows-1252)
  --unknown P           what to do with characters the base model's character tokenizer lacks (it
                        cannot learn new ones): error (default: refuse, naming them), drop, or
                        replace:TEXT (e.g. replace:' '); a byte-level BPE encodes any text
what trains:
  --freeze PATTERN      freeze the parameters whose names match (glob, * spans dots), e.g.
                        'transformer.h.0.*' or 'transformer.wte.*'; repeat for more
  --lora SPEC           LoRA adapters instead of full fine-tuning, e.g.
                        r=8,alpha=16,dropout=0.05,targets=c_attn,c_proj (defaults r=8, alpha=8,
                        dropout=0, targets=c_attn); names match a module's last components
${runFlagsUsage(
  'defaults for fine-tuning',
  { maxIters: '500', lr: '3e-4; 1e-3 with --lora', minLr: 'lr / 10', warmupIters: '50', evalInterval: '100' },
  'the adapters, batches and dropout',
  'base, freezing and LoRA settings',
)}`;

export function finetuneCommand(bad: MakeUsageError): CliCommand {
  const str = { type: 'string' } as const;
  return {
    args: 'gpt',
    summary: 'fine-tune a trained GPT on a new text: full, frozen layers, or LoRA adapters',
    usage: FINETUNE_USAGE,
    options: { ...RUN_FLAGS, from: str, freeze: { type: 'string', multiple: true }, lora: str, unknown: str },
    async run(values, positionals) {
      if (positionals.length === 0) throw bad('finetune: missing the model to fine-tune (mox finetune gpt ...)');
      if (positionals[0] !== 'gpt') throw bad(`finetune: unknown model '${positionals[0]}' (gpt)`);
      if (positionals.length > 1) throw bad(`finetune gpt: unexpected argument '${positionals[1]}'`);
      const resume = values['resume'] === true;
      const overwrite = values['overwrite'] === true;
      const out = values['out'];
      if (typeof out !== 'string' || out === '') throw bad('finetune gpt: --out DIR is required');
      const from = values['from'] as string | undefined;
      const freeze = (values['freeze'] as unknown as string[] | undefined) ?? [];
      const loraText = values['lora'] as string | undefined;
      if (resume) {
        for (const f of ['from', 'freeze', 'lora', 'unknown'])
          if (values[f] !== undefined) throw bad(`finetune gpt --resume: --${f} comes from the checkpoint; leave it out`);
      } else if (from === undefined || from === '') throw bad('finetune gpt: --from DIR (the base model) is required');
      const { dataset, data, encoding } = dataFlags('finetune gpt', values, resume, bad);
      const lora = loraText !== undefined ? parseLoraSpec(loraText, bad) : null;
      const lr = lora && values['lr'] === undefined ? LORA_LR : undefined;
      const defaults = { ...FINETUNE_DEFAULTS, ...(lr !== undefined ? { lr } : {}) };
      const run = runFlags(bad, values, { dataset, data, encoding, out, resume, overwrite }, defaults);
      if (values['min-lr'] === undefined) run.minLr = run.lr / 10;
      const finetune: FinetuneSpec | undefined = resume
        ? undefined
        : { from: path.resolve(from!), freeze, lora, unknown: parseUnknownPolicy(values['unknown'] as string | undefined, bad) };
      if (finetune) checkFinetuneSpec(finetune, bad);
      checkRunDir('finetune gpt', out, GPT_CHECKPOINT_FILES, { resume, overwrite }, bad);
      // the model's shape comes from the base (or, resuming, the checkpoint): these are placeholders
      await runTrainGpt(
        { ...run, tokenizer: 'base', nLayer: 1, nHead: 1, nEmbd: 1, blockSize: 1, dropout: 0, bias: true, finetune },
        givenFlags(values),
      );
    },
  };
}
