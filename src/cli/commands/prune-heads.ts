// `mox prune-heads`: loads a GPT checkpoint folder (mox's or a Hugging Face GPT-2 one), removes attention
// heads (the ones named by --heads, or the --amount / --count of lowest score: with a text, the loss
// increase of removing each head alone on windows of its training split, mox.prune.headImportance;
// without, the weight norms of mox.prune.headScores, per layer), and
// writes the smaller model into another folder of the same kind: a mox checkpoint (config.json with
// gpt.prunedHeads, model.safetensors) or a Hugging Face folder (config.json with pruned_heads), with the
// tokenizer files copied, so that `mox generate`, `mox finetune gpt`, `mox export-hf` and
// `mox compress-report` take it.

import '../../ops/tensor-methods.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as mox from '../../index.js';
import { DataError } from '../../errors.js';
import { Generator } from '../../tensor/random.js';
import type { Tensor } from '../../tensor/tensor.js';
import { loadGPT, saveGPTWeights } from '../../models/gpt-checkpoint.js';
import { exportHuggingFaceGPT2, isHuggingFaceGPT2Dir } from '../../models/hf-gpt2.js';
import { writeFileAtomicSync } from '../../io/atomic.js';
import { type HeadScore, type HeadsToPrune, headImportance, pruneAttentionHeads, pruneHeads } from '../../prune/heads.js';
import { type CliCommand, type MakeUsageError, intFlag, numFlag } from './gpt-cli.js';
import { type DataSpec, batch, readCorpus } from './train-gpt.js';
import { encodeCorpus } from './finetune-gpt.js';
import { loadModelTokenizer } from './gpt-tokenizer.js';
import { dataFlags } from './text-input.js';

/** The seed of the generator that draws the scoring windows. */
export const SCORE_SEED = 1337;
/** Sequences per scoring batch, as `train gpt`'s default --batch-size. */
const SCORE_BATCH = 12;

const OP = 'prune-heads';

/** The files of a model folder that describe its tokenizer (and generation settings), copied as they are. */
const TOKENIZER_FILES = [
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'encoder.json',
  'vocab.bpe',
  'vocab.json',
  'merges.txt',
  'generation_config.json',
];

export interface PruneHeadsOptions extends DataSpec {
  model: string;
  /** Scoring batches of SCORE_BATCH x block size from the training split (the first 90%) of the text (default 8). */
  batches?: number;
  threads?: number;
  out: string;
  /** Heads to remove, per layer (unpruned numbering); or amount / count by score. */
  heads?: HeadsToPrune;
  amount?: number;
  count?: number;
  /** Rank heads within each layer (true) or across all (false); default: across all with a text, per layer without. */
  perLayer?: boolean;
  norm?: 1 | 2;
  overwrite?: boolean;
}

export interface PruneHeadsResult {
  /** How the heads were chosen: 'heads' (named), 'loss' (headImportance on the text), 'norm' (headScores). */
  score: 'heads' | 'loss' | 'norm';
  /** The scores of the heads before pruning (none for named heads). */
  scores: HeadScore[];
  /** The heads this run removed, per layer. */
  pruned: Record<number, number[]>;
  /** All the removed heads, per layer (those of the input too). */
  prunedHeads: Record<number, number[]>;
  before: number;
  after: number;
  paramsBefore: number;
  paramsAfter: number;
}

const countHeads = (h: Record<number, number[]>): number => Object.values(h).reduce((n, l) => n + l.length, 0);

export async function runPruneHeads(
  opts: PruneHeadsOptions,
  log: (line: string) => void = (l) => console.log(l),
): Promise<PruneHeadsResult> {
  if (path.resolve(opts.model) === path.resolve(opts.out))
    throw new DataError(OP, `--out must be another folder than --model (${opts.model}): its weights would be replaced`);
  if (fs.existsSync(opts.out) && !fs.statSync(opts.out).isDirectory()) throw new DataError(OP, `${opts.out} exists and is not a folder`);
  if (!opts.overwrite && fs.existsSync(path.join(opts.out, 'model.safetensors')))
    throw new DataError(OP, `${opts.out} already holds a model (model.safetensors): give --overwrite to replace it`);
  const hf = isHuggingFaceGPT2Dir(opts.model);
  await mox.initDevice('cpu');
  if (opts.threads !== undefined) mox.setNumThreads(opts.threads);
  const corpus =
    opts.heads === undefined && (opts.data !== undefined || opts.dataset !== undefined)
      ? await readCorpus(opts).catch((e: unknown) => {
          throw e instanceof DataError ? new DataError(OP, e.message.replace(/^train gpt: /, '')) : e;
        })
      : null;
  const { model, config } = loadGPT(opts.model);
  const held: Tensor[] = [];
  try {
    let scores: HeadScore[] = [];
    if (corpus) {
      const tok = loadModelTokenizer(opts.model);
      if (!tok) throw new DataError(OP, `--model ${opts.model} has no tokenizer, so the text cannot be encoded to score the heads`);
      const { ids } = encodeCorpus(OP, tok, corpus.text, { kind: 'error' }, corpus.source);
      const { vocabSize, blockSize } = model.config;
      for (const id of ids)
        if (id >= vocabSize)
          throw new DataError(OP, `the tokenizer of ${opts.model} gives token ${id}, outside the model's vocabulary [0, ${vocabSize})`);
      const trainData = ids.subarray(0, Math.floor(ids.length * 0.9));
      if (trainData.length <= blockSize)
        throw new DataError(
          OP,
          `${corpus.source} is too short: its training split (the first 90%, ${trainData.length} tokens) needs more than the block size (${blockSize})`,
        );
      const gen = new Generator(SCORE_SEED);
      const batches: [Tensor, Tensor][] = [];
      for (let k = 0; k < (opts.batches ?? 8); k++) {
        const { x, y } = batch(trainData, blockSize, SCORE_BATCH, gen, 'cpu');
        held.push(mox.keep(x), mox.keep(y));
        batches.push([x, y]);
      }
      scores = headImportance(model, batches);
    }
    const nLayer = model.config.nLayer;
    const before = nLayer * model.config.nHead - countHeads(model.config.prunedHeads ?? {});
    const paramsBefore = model.getNumParams(false);
    let pruned: Record<number, number[]>;
    if (opts.heads) pruned = pruneHeads(model, opts.heads);
    else {
      const r = pruneAttentionHeads(model, {
        ...(opts.amount !== undefined ? { amount: opts.amount } : {}),
        ...(opts.count !== undefined ? { count: opts.count } : {}),
        ...(opts.perLayer !== undefined ? { global: !opts.perLayer } : {}),
        ...(opts.norm !== undefined ? { norm: opts.norm } : {}),
        ...(corpus ? { scores } : {}),
      });
      pruned = r.pruned;
      scores = r.scores;
    }
    const score = opts.heads ? 'heads' : corpus ? 'loss' : 'norm';
    const prunedHeads = model.config.prunedHeads ?? {};
    try {
      fs.mkdirSync(opts.out, { recursive: true });
    } catch (e) {
      throw new DataError(OP, `cannot create ${opts.out}: ${(e as Error).message}`);
    }
    for (const f of TOKENIZER_FILES) {
      const src = path.join(opts.model, f);
      if (fs.existsSync(src)) writeFileAtomicSync(path.join(opts.out, f), fs.readFileSync(src));
    }
    if (hf) {
      exportHuggingFaceGPT2(model, opts.out);
    } else {
      await saveGPTWeights(opts.out, model, { prunedHeads: JSON.stringify(prunedHeads) });
      // the model and its tokenizer as the input describes them; not its training run (optimizer, steps)
      const { train: _train, finetune: _finetune, distill: _distill, ...rest } = config;
      const out = { ...rest, model: 'gpt', gpt: model.config, prune: { from: path.resolve(opts.model), heads: prunedHeads } };
      writeFileAtomicSync(path.join(opts.out, 'config.json'), JSON.stringify(out, null, 2) + '\n');
    }
    const after = before - countHeads(pruned);
    const paramsAfter = model.getNumParams(false);
    const list = Object.entries(pruned)
      .map(([l, hs]) => `${l}: [${hs.join(', ')}]`)
      .join(', ');
    if (score !== 'heads')
      log(
        score === 'loss'
          ? `scored the heads by the loss increase of removing each alone: ${opts.batches ?? 8} batches of ${SCORE_BATCH} x ${model.config.blockSize} from the first 90% of ${corpus!.source}, seed ${SCORE_SEED}`
          : 'scored the heads by ||W_V,h|| * ||W_O,h|| (weights only; give --data or --dataset to score them by the loss)',
      );
    log(
      `removed ${countHeads(pruned)} of ${before} attention heads (${list || 'none'}); ${after} remain, ` +
        `parameters ${paramsBefore.toLocaleString('en-US')} -> ${paramsAfter.toLocaleString('en-US')}`,
    );
    log(
      `wrote ${opts.out} (${hf ? 'a Hugging Face GPT-2 folder, pruned_heads' : 'a mox checkpoint, gpt.prunedHeads'} ${JSON.stringify(prunedHeads)})`,
    );
    return { score, scores, pruned, prunedHeads, before, after, paramsBefore, paramsAfter };
  } finally {
    for (const p of model.parameters()) p.dispose();
    for (const t of held) t.dispose();
  }
}

/** --heads: JSON in Hugging Face's pruned_heads form, {"0": [1, 2], "3": [0]}. */
function parseHeads(bad: MakeUsageError, v: string): HeadsToPrune {
  let o: unknown;
  try {
    o = JSON.parse(v);
  } catch {
    throw bad(`${OP}: --heads must be JSON mapping layers to heads, e.g. '{"0": [1, 2]}', got '${v}'`);
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o) || !Object.values(o).every((h) => Array.isArray(h)))
    throw bad(`${OP}: --heads must map layers to lists of heads, e.g. '{"0": [1, 2]}', got '${v}'`);
  return o as HeadsToPrune;
}

const PRUNE_HEADS_USAGE = `usage: mox prune-heads --model DIR --out DIR2 (--amount X | --count N | --heads JSON) [options]

Removes whole attention heads from a GPT (a mox checkpoint folder or a Hugging Face GPT-2 folder), as
Hugging Face's prune_heads: each head's query, key and value rows of c_attn and its input columns of
c_proj go, so the model is smaller and faster. Writes a folder of the same kind into DIR2 (config.json
records the removed heads per layer, numbered as in the unpruned model: gpt.prunedHeads, or
pruned_heads for Hugging Face) with the tokenizer files. Heads already removed stay removed; each
layer keeps at least one head. Fine-tune the result with \`mox finetune gpt --from DIR2\`.

  --model DIR      the GPT to prune
  --out DIR2       where the pruned model goes (another folder)
  --amount X       the fraction (0..1) of the remaining heads to remove, those of lowest score
  --count N        or that many heads
  --heads JSON     or these heads, e.g. '{"0": [1, 2], "3": [0]}' (layer: heads)
scores (with --amount or --count):
  --data FILE      score each head by how much the loss rises when it alone is removed, on windows
  --dataset NAME   of the text's training split (its first 90%, as \`mox train gpt\` splits it), or
                   of a named one (tinyshakespeare); heads ranked across layers. Without a text:
                   ||W_V,h|| * ||W_O,h||, the norm of the head's value rows of c_attn times that of
                   its columns of c_proj, ranked within each layer (across layers it misleads)
  --encoding E     the encoding of --data
  --batches N      scoring batches of ${SCORE_BATCH} x block size, drawn with seed ${SCORE_SEED} (default 8)
  --per-layer      remove --amount / --count of each layer's heads
  --global         rank the heads across layers
  --norm 1|2       the norm of the weight score (default 2)
  --threads N      CPU threads (default: all cores)
  --overwrite      replace a model already in DIR2`;

export function pruneHeadsCommand(bad: MakeUsageError): CliCommand {
  const str = { type: 'string' } as const;
  return {
    summary: "remove a GPT's attention heads (by score, or the ones named) into a smaller model",
    usage: PRUNE_HEADS_USAGE,
    options: {
      model: str,
      out: str,
      amount: str,
      count: str,
      heads: str,
      norm: str,
      data: str,
      dataset: str,
      encoding: str,
      batches: str,
      threads: str,
      'per-layer': { type: 'boolean' },
      global: { type: 'boolean' },
      overwrite: { type: 'boolean' },
    },
    async run(values, positionals) {
      if (positionals.length > 0) throw bad(`${OP}: unexpected argument '${positionals[0]}'`);
      const model = values['model'];
      const out = values['out'];
      if (typeof model !== 'string' || model === '') throw bad(`${OP}: --model DIR is required`);
      if (typeof out !== 'string' || out === '') throw bad(`${OP}: --out DIR2 is required`);
      const given = ['amount', 'count', 'heads'].filter((k) => values[k] !== undefined);
      if (given.length !== 1)
        throw bad(
          `${OP}: give one of --amount, --count or --heads${given.length ? ` (got ${given.map((k) => `--${k}`).join(', ')})` : ''}`,
        );
      const heads = values['heads'] !== undefined;
      for (const k of ['per-layer', 'global', 'data', 'dataset', 'batches', 'norm'])
        if (heads && values[k] !== undefined) throw bad(`${OP}: --${k} goes with --amount or --count, not --heads`);
      if (values['per-layer'] === true && values['global'] === true) throw bad(`${OP}: give --per-layer or --global, not both`);
      const { dataset, data, encoding } = dataFlags(OP, values, true, bad);
      const norm = numFlag(bad, values, 'norm', 2, (x) => x === 1 || x === 2, '1 or 2') as 1 | 2;
      await runPruneHeads({
        model,
        out,
        ...(typeof values['heads'] === 'string' ? { heads: parseHeads(bad, values['heads']) } : {}),
        ...(values['amount'] !== undefined
          ? { amount: numFlag(bad, values, 'amount', 0, (x) => x >= 0 && x <= 1, 'a fraction in [0, 1]') }
          : {}),
        ...(values['count'] !== undefined ? { count: intFlag(bad, values, 'count', 0, 0) } : {}),
        ...(values['per-layer'] === true ? { perLayer: true } : values['global'] === true ? { perLayer: false } : {}),
        norm,
        ...(dataset !== undefined ? { dataset } : {}),
        ...(data !== undefined ? { data } : {}),
        ...(encoding !== undefined ? { encoding } : {}),
        batches: intFlag(bad, values, 'batches', 8, 1),
        threads: intFlag(bad, values, 'threads', undefined, 1),
        overwrite: values['overwrite'] === true,
      });
    },
  };
}
