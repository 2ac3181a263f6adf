// `mox train gpt`: pretrains a GPT on a text, as nanoGPT's train.py with config/train_shakespeare_char.py:
// AdamW (weight decay on 2-D parameters only), linear warmup then cosine decay of the learning rate,
// gradient clipping, random windows of blockSize tokens from the first 90% of the tokens, evaluation on
// the last 10%. At each evaluation a checkpoint is committed as its own folder, --out/checkpoints/step-N
// (io/checkpoint-dir.ts: written aside, flushed, listed with SHA-256s in manifest.json, renamed into
// place; the two newest are kept), and its files are linked into --out for `mox generate --model OUT`.
// --resume continues from the newest whole checkpoint (a torn one is reported and passed over)
// exactly: model, optimizer, RNG streams, data position, schedule and loss history end byte-identical
// to those of a run that was never interrupted (same machine and thread count), whenever a kill -9
// stopped it (see docs/checkpoints.md and test/crash-gpt.test.ts).

import '../../ops/tensor-methods.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as mox from '../../index.js';
import { DataError, ValueError } from '../../errors.js';
import { Generator, globalGenerator } from '../../tensor/random.js';
import type { Tensor } from '../../tensor/tensor.js';
import { GPT, type GPTConfig } from '../../models/gpt.js';
import { loadGPT, saveGPTWeights } from '../../models/gpt-checkpoint.js';
import { crashPoint } from '../../io/crash-point.js';
import { readJson } from '../../io/files.js';
import { LiveProgress } from '../../train/live-progress.js';
import {
  commitCheckpoint,
  listCheckpoints,
  publishCheckpoint,
  removeDir,
  sweepLeftovers,
  verifyCheckpoint,
  type CheckpointManifest,
} from '../../io/checkpoint-dir.js';
import type { OptimizerStateDict } from '../../optim/optimizer.js';
import { type OptimizerStateJson, optimizerStateOf, saveOptimizerState } from '../../io/optimizer-state.js';
import { readTextFile, resolveDataPath } from './text-input.js';
import { stopOnNonFinite } from './non-finite.js';
import { removeCheckpointFiles, resumedMaxIters, resumedSettings, resumedStep } from './run-dir.js';
import { buildTokenizer, loadCheckpointTokenizer, type GptTokenizer } from './gpt-tokenizer.js';
import { readTrainerState, type TrainerState } from './trainer-state.js';
import { formatTrainableParameters, saveLoraAdapter } from '../../adapters/index.js';
import { type FinetuneSpec, encodeCorpus, loadBase, loadLoraRun, prepareModel, readFinetuneSpec } from './finetune-gpt.js';
import { type DistillSpec, distillStepLoss, loadTeacher, readDistillSpec } from './distill-gpt.js';
import { RunLog } from '../../train/run-log.js';
import { generateAsync } from '../../models/gpt-generate.js';
import { logSamples, SAMPLE_TOKENS, samplePrompt } from './run-metrics.js';
import { batchOf, startGptDataParallel } from '../../distributed/gpt-replica.js';

/** The settings of a `mox train gpt` run (also of `finetune gpt` and `distill gpt`, which set `finetune` / `distill`). */
export interface TrainGptOptions {
  dataset?: string;
  data?: string;
  /** The encoding of --data (default: strict UTF-8). */
  encoding?: string;
  tokenizer: string;
  nLayer: number;
  nHead: number;
  nEmbd: number;
  blockSize: number;
  batchSize: number;
  maxIters: number;
  lr: number;
  minLr: number;
  warmupIters: number;
  /** Iterations of cosine decay (default maxIters), as nanoGPT's lr_decay_iters. */
  lrDecayIters?: number;
  dropout: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  gradClip: number;
  bias: boolean;
  evalInterval: number;
  evalIters: number;
  /** Print the training loss every this many iterations (0: only at evaluations). */
  logInterval: number;
  /** Tokens generated into metrics.jsonl's samples at each evaluation (default 100; 0: none). */
  sampleTokens?: number;
  /** The folder of the run's metrics.jsonl (default: out). */
  runDir?: string;
  seed: number;
  threads?: number;
  /** 'cpu' (default) or 'webgpu'. */
  device?: string;
  out: string;
  resume: boolean;
  /** Start a new run in a folder holding a checkpoint, removing its files first (the CLI refuses otherwise). */
  overwrite?: boolean;
  /** Micro-batches of batchSize whose gradients are summed into each step (default 1), as nanoGPT's gradient_accumulation_steps. */
  gradAccum?: number;
  /** Fine-tune from a base model instead of training a new one (`mox finetune gpt`); its shape and tokenizer win over the flags. */
  finetune?: FinetuneSpec;
  /**
   * Distil a teacher into the new model (`mox distill gpt`): the teacher's tokenizer, block size and
   * vocabulary win over the flags, and each step's loss mixes its softened outputs with the true tokens.
   */
  distill?: DistillSpec;
  /** Processes that split each batch (data parallel, as DDP on one node; default 1). See docs/data-parallel.md. */
  workers?: number;
}

/** `mox train gpt`'s defaults: nanoGPT's CPU configuration for Shakespeare (the flags and the examples share them). */
export const TRAIN_GPT_DEFAULTS = {
  tokenizer: 'char',
  nLayer: 4,
  nHead: 4,
  nEmbd: 128,
  blockSize: 64,
  batchSize: 12,
  maxIters: 2000,
  lr: 1e-3,
  minLr: 1e-4,
  warmupIters: 100,
  dropout: 0,
  weightDecay: 0.1,
  beta1: 0.9,
  beta2: 0.99,
  gradClip: 1,
  bias: true,
  evalInterval: 250,
  evalIters: 20,
  logInterval: 0,
  seed: 1337,
  resume: false,
} as const satisfies Omit<TrainGptOptions, 'out'>;

/** The options of a run: the defaults of `mox train gpt`, with `o` over them. */
export function trainGptOptions(o: Partial<TrainGptOptions> & { out: string }): TrainGptOptions {
  return { ...TRAIN_GPT_DEFAULTS, ...o };
}

/** The folder of --out that holds the checkpoints, one folder per step (step-N). */
export const CHECKPOINTS_DIR = 'checkpoints';

/**
 * What a GPT run folder holds: what --overwrite removes, and what makes the CLI refuse a fresh run into
 * --out. The files are links to the latest checkpoint's (in checkpoints/step-N, with manifest.json).
 */
export const GPT_CHECKPOINT_FILES = [
  'trainer_state.json',
  CHECKPOINTS_DIR,
  'config.json',
  'model.safetensors',
  'optimizer.safetensors',
  'tokenizer.json',
  'encoder.json',
  'vocab.bpe',
  'adapter_model.safetensors',
  'adapter_config.json',
] as const;

/** What the flags said explicitly, so --resume knows which settings to take from the command line. */
export type GivenFlags = ReadonlySet<keyof TrainGptOptions>;

/** One evaluation: the step and the mean train and validation losses. */
export interface EvalRecord {
  step: number;
  train: number;
  val: number;
}

/** What a run did: its evaluations, every step's loss, the last step, its speed and the model's size. */
export interface TrainGptResult {
  history: EvalRecord[];
  /** The training loss of every step from 0, resumed parts included. */
  losses: number[];
  step: number;
  msPerIter: number;
  tokensPerSecond: number;
  numParams: number;
}

const TRAIN_KEYS = [
  'tokenizer',
  'nLayer',
  'nHead',
  'nEmbd',
  'blockSize',
  'batchSize',
  'lr',
  'minLr',
  'warmupIters',
  'lrDecayIters',
  'dropout',
  'weightDecay',
  'beta1',
  'beta2',
  'gradClip',
  'bias',
  'seed',
  'gradAccum',
] as const;

/** Where the text comes from, as the checkpoint records it (data: an absolute path). */
export interface DataSpec {
  dataset?: string;
  data?: string;
  encoding?: string;
}

/** The text of a run: --data's file, or a named dataset (tinyshakespeare); DataError when it cannot be read. */
export async function readCorpus(opts: DataSpec): Promise<{ text: string; source: string }> {
  if (opts.data !== undefined) {
    const file = resolveDataPath(opts.data);
    return { text: readTextFile('train gpt', file, opts.encoding), source: file };
  }
  if (opts.dataset === 'tinyshakespeare') {
    // as loadDataset finds any named dataset: $MOX_DATA_DIR, the cache, else a sha256-checked download
    try {
      const ds = await mox.data.loadDataset('tinyshakespeare', { split: 'all' });
      return { text: ds.text, source: `tinyshakespeare (${ds.files[0]})` };
    } catch (e) {
      if (!(e instanceof DataError)) throw e;
      throw new DataError('train gpt', `${e.message.replace(/ \(see docs\/data\.md\)$/, '')}, or use --data FILE`);
    }
  }
  throw new ValueError('train gpt', `unknown dataset '${opts.dataset}' (tinyshakespeare, or --data FILE for any text file)`);
}

function newDataSpec(opts: TrainGptOptions): DataSpec {
  if (opts.data === undefined) return { dataset: opts.dataset };
  return { data: resolveDataPath(opts.data), ...(opts.encoding !== undefined ? { encoding: opts.encoding } : {}) };
}

/** nanoGPT's get_lr: linear warmup, cosine decay to minLr over lrDecayIters, then minLr. */
export function lrAt(it: number, o: Pick<TrainGptOptions, 'lr' | 'minLr' | 'warmupIters'> & { lrDecayIters: number }): number {
  if (it < o.warmupIters) return (o.lr * (it + 1)) / (o.warmupIters + 1);
  if (it > o.lrDecayIters) return o.minLr;
  const ratio = (it - o.warmupIters) / Math.max(1, o.lrDecayIters - o.warmupIters);
  return o.minLr + 0.5 * (1 + Math.cos(Math.PI * ratio)) * (o.lr - o.minLr);
}

/** batchSize random windows of blockSize tokens and their next tokens, drawn with `gen`, on `device`. */
export function batch(data: Int32Array, blockSize: number, batchSize: number, gen: Generator, device: string): { x: Tensor; y: Tensor } {
  const xs = new Int32Array(batchSize * blockSize);
  const ys = new Int32Array(batchSize * blockSize);
  for (let r = 0; r < batchSize; r++) {
    const i = gen.int(0, data.length - blockSize);
    xs.set(data.subarray(i, i + blockSize), r * blockSize);
    ys.set(data.subarray(i + 1, i + 1 + blockSize), r * blockSize);
  }
  return {
    x: mox.tensor(xs, { shape: [batchSize, blockSize], dtype: 'int32', device }),
    y: mox.tensor(ys, { shape: [batchSize, blockSize], dtype: 'int32', device }),
  };
}

/** Writes the optimizer's state as dir/optimizer.safetensors, marked with its step. */
export async function saveOptimizer(dir: string, opt: mox.optim.AdamW, step: number): Promise<OptimizerStateJson> {
  return saveOptimizerState(path.join(dir, 'optimizer.safetensors'), opt.stateDict(), { step: String(step) });
}

/** Loads dir/optimizer.safetensors into `opt`; DataError when it is from another step or does not fit the model. */
export function loadOptimizer(dir: string, opt: mox.optim.AdamW, saved: Record<string, unknown>, step: number, device: string): void {
  const file = path.join(dir, 'optimizer.safetensors');
  const { tensors, metadata } = mox.loadSafetensorsSync(file);
  try {
    if (metadata['step'] !== String(step))
      throw new DataError(
        'train gpt',
        `${file} is from step ${metadata['step']}, trainer_state.json from step ${step}: the checkpoint is torn; train again without --resume`,
      );
    const numbers = (saved['numbers'] ?? {}) as Record<string, Record<string, number>>;
    const state = optimizerStateOf('train gpt', file, tensors, numbers, device);
    const groups = saved['paramGroups'] as OptimizerStateDict['paramGroups'];
    if (!Array.isArray(groups)) throw new DataError('train gpt', `${path.join(dir, 'trainer_state.json')}: no optimizer parameter groups`);
    try {
      opt.loadStateDict({ state, paramGroups: groups });
    } catch (e) {
      throw new DataError('train gpt', `${file} does not fit the model: ${(e as Error).message}`);
    }
  } finally {
    for (const t of Object.values(tensors)) t.dispose();
  }
}

/** A checkpoint folder read for --resume. */
interface Resumable {
  dir: string;
  step: number;
  trainerState: TrainerState;
  loaded: ReturnType<typeof loadGPT>;
  tok: GptTokenizer;
  manifest: CheckpointManifest | null;
  finetune: FinetuneSpec | null;
}

/** Reads the checkpoint in dir (a step-N folder, or --out itself for a run written before those); DataError on any fault. */
function readResumable(dir: string, manifest: CheckpointManifest | null): Resumable {
  const stateFile = path.join(dir, 'trainer_state.json');
  if (!fs.existsSync(stateFile)) throw new DataError('train gpt', `--resume: there is no checkpoint in ${dir} (no trainer_state.json)`);
  const trainerState = readTrainerState(stateFile, 'train gpt');
  // a LoRA run keeps only its adapters: the model is the base's with them loaded (its step is in the manifest)
  const finetune = readFinetuneSpec(dir);
  const loaded = finetune?.lora
    ? { model: loadLoraRun(dir, finetune), config: readJson(path.join(dir, 'config.json')), metadata: { step: String(trainerState.step) } }
    : loadGPT(dir);
  try {
    if (finetune && !finetune.lora) prepareModel(loaded.model, finetune); // the same parameters frozen as before
    const tok = loadCheckpointTokenizer(dir);
    const step = resumedStep(
      'train gpt',
      stateFile,
      { step: trainerState.step },
      path.join(dir, finetune?.lora ? 'adapter_model.safetensors' : 'model.safetensors'),
      loaded.metadata['step'],
    );
    return { dir, step, trainerState, loaded, tok, manifest, finetune };
  } catch (e) {
    for (const p of loaded.model.parameters()) p.dispose();
    throw e;
  }
}

/**
 * The checkpoint --resume continues from: the newest whole one in --out/checkpoints. One that is not
 * whole (its files do not match its manifest, or do not load) gets a line saying so and is passed
 * over; those newer than the one used are then removed, since the run will write those steps again.
 * A folder written before checkpoints had their own folders is read from --out itself.
 */
function chooseCheckpoint(out: string, log: (line: string) => void): Resumable {
  const root = path.join(out, CHECKPOINTS_DIR);
  sweepLeftovers(out);
  sweepLeftovers(root);
  const list = listCheckpoints(root);
  if (list.length === 0) return readResumable(out, null);
  const torn: string[] = [];
  for (const c of list) {
    const v = verifyCheckpoint(c.dir);
    let reason = v.ok ? '' : v.reason;
    if (v.ok) {
      try {
        const r = readResumable(c.dir, v.manifest);
        if (torn.length > 0) log(`resuming from the last whole checkpoint, ${c.dir}`);
        for (const newer of list.filter((n) => n.step > c.step)) removeDir(newer.dir);
        return r;
      } catch (e) {
        if (!(e instanceof DataError)) throw e;
        reason = e.message;
      }
    }
    log(`checkpoint ${c.dir} is torn (${reason}): not used`);
    torn.push(`${path.basename(c.dir)}: ${reason}`);
  }
  throw new DataError('train gpt', `--resume: no whole checkpoint in ${root} (${torn.join('; ')}); train again without --resume`);
}

/** Runs `mox train gpt` (and finetune / distill): trains, evaluates, checkpoints, prints its lines with `log`, a bar on stderr. */
export async function runTrainGpt(
  opts: TrainGptOptions,
  given: GivenFlags = new Set(),
  log: (line: string) => void = console.log,
): Promise<TrainGptResult> {
  const device = opts.device ?? 'cpu';
  await mox.initDevice(device); // at once for the CPU, which is always open
  const out = opts.out;
  let o: TrainGptOptions & { lrDecayIters: number };
  let model: GPT;
  let tok: GptTokenizer;
  let startStep = 0;
  let history: EvalRecord[] = [];
  let losses: number[] = [];
  let trainerState: TrainerState | null = null;
  let resumedDir = out;
  let dataSpec: DataSpec;
  let finetune: FinetuneSpec | null = opts.finetune ?? null;
  let distill: DistillSpec | null = opts.distill ?? null;
  if (finetune && distill) throw new ValueError('train gpt', 'a run either fine-tunes (finetune) or distils (distill), not both');
  const batchGen = new Generator(opts.seed);

  if (opts.threads !== undefined) mox.setNumThreads(opts.threads);

  if (opts.resume) {
    const r = chooseCheckpoint(out, log);
    // the run folder shows this checkpoint again (a kill may have left it part-way to a newer one),
    // also when the resume is refused below (a complete run, a flag that disagrees)
    if (r.manifest) publishCheckpoint(r.dir, r.manifest, out);
    resumedDir = r.dir;
    trainerState = r.trainerState;
    const loaded = r.loaded;
    model = loaded.model;
    const saved = (loaded.config['train'] ?? {}) as Record<string, unknown>;
    o = resumedSettings('train gpt', opts, saved, TRAIN_KEYS, given) as TrainGptOptions & { lrDecayIters: number };
    const savedData = (saved['data'] ?? {}) as DataSpec;
    dataSpec = given.has('data') || given.has('dataset') ? newDataSpec(opts) : savedData;
    tok = r.tok;
    finetune = r.finetune;
    distill = readDistillSpec(r.dir);
    startStep = r.step;
    const savedMax = typeof saved['maxIters'] === 'number' ? saved['maxIters'] : undefined;
    o.maxIters = resumedMaxIters('train gpt', startStep, savedMax, given.has('maxIters') ? opts.maxIters : undefined);
    if (o.lrDecayIters === undefined) o.lrDecayIters = o.maxIters;
    history = trainerState.history;
    losses = trainerState.losses ?? [];
    if (losses.length !== startStep)
      throw new DataError(
        'train gpt',
        `${path.join(r.dir, 'trainer_state.json')}: "losses" must hold the ${startStep} losses of steps 0 to ${startStep - 1}`,
      );
  } else if (finetune) {
    // the base model's shape and tokenizer; a fresh optimizer and schedule
    const base = loadBase('finetune gpt', finetune.from);
    model = base.model;
    tok = base.tok;
    const bc = model.config;
    o = {
      ...opts,
      lrDecayIters: opts.lrDecayIters ?? opts.maxIters,
      tokenizer: `base (${tok.kind})`,
      nLayer: bc.nLayer,
      nHead: bc.nHead,
      nEmbd: bc.nEmbd,
      blockSize: bc.blockSize,
      dropout: bc.dropout,
      bias: bc.bias,
    };
    dataSpec = newDataSpec(opts);
  } else {
    o = { ...opts, lrDecayIters: opts.lrDecayIters ?? opts.maxIters };
    dataSpec = newDataSpec(opts);
    tok = null as unknown as GptTokenizer; // built from the text below
    model = null as unknown as GPT;
  }
  const gradAccum = o.gradAccum ?? 1;
  // the teacher (also when resuming: the checkpoint names it); a fresh run takes its tokenizer and block size
  let teacher: GPT | null = null;
  if (distill) {
    const t = loadTeacher(distill, device);
    teacher = t.teacher;
    if (!opts.resume) {
      tok = t.tok;
      o.tokenizer = `teacher (${tok.kind})`;
      o.blockSize = teacher.config.blockSize;
    }
  }

  const { text, source } = await readCorpus(dataSpec);
  if (text.length === 0) throw new DataError('train gpt', `the data file ${source} is empty`);
  if (!opts.resume && !finetune && !distill) tok = await buildTokenizer(o.tokenizer, text);
  let ids: Int32Array;
  if (finetune || distill) {
    const cmd = distill ? 'distill gpt' : opts.resume ? 'train gpt' : 'finetune gpt';
    const enc = encodeCorpus(cmd, tok, text, (finetune ?? distill)!.unknown, source);
    if (enc.note) log(enc.note);
    ids = enc.ids;
  } else {
    ids = Int32Array.from(tok.encode(text));
  }
  const nTrain = Math.floor(ids.length * 0.9);
  const trainData = ids.subarray(0, nTrain);
  const valData = ids.subarray(nTrain);
  if (valData.length <= o.blockSize || trainData.length <= o.blockSize) {
    throw new DataError(
      'train gpt',
      `${source} has ${ids.length} tokens: the validation split (the last 10%, ${valData.length} tokens) ` +
        `needs more than --block-size (${o.blockSize}); use a longer text or a smaller --block-size`,
    );
  }

  const cfg: GPTConfig = finetune
    ? model.config
    : {
        // a student's logits must line up with its teacher's, whose vocabulary may be padded past the tokenizer's
        vocabSize: distill && teacher ? teacher.config.vocabSize : tok.vocabSize,
        blockSize: o.blockSize,
        nLayer: o.nLayer,
        nHead: o.nHead,
        nEmbd: o.nEmbd,
        dropout: o.dropout,
        bias: o.bias,
        tiedEmbeddings: true,
      };
  if (!opts.resume && !finetune) {
    mox.seed(o.seed);
    model = new GPT(cfg);
  }
  if (!opts.resume && finetune) {
    mox.seed(o.seed); // the adapters' initial weights
    const { adapted, frozen } = prepareModel(model, finetune);
    if (adapted.length)
      log(
        `LoRA (r ${finetune.lora!.r}, alpha ${finetune.lora!.alpha}) on ${adapted.length} layers: ${adapted.slice(0, 4).join(', ')}${adapted.length > 4 ? ', ...' : ''}`,
      );
    if (frozen.length) log(`frozen: ${frozen.length} parameters (${frozen.slice(0, 4).join(', ')}${frozen.length > 4 ? ', ...' : ''})`);
  }
  model.train();
  model.to(device);

  // weight decay on every 2-D parameter (matmul weights and embeddings), none on biases and norms
  // only what trains: frozen weights (and a LoRA run's base) are not the optimizer's
  const named = model.namedParameters().filter(([, p]) => p.requiresGrad);
  const opt = new mox.optim.AdamW(
    [
      { params: named.filter(([, p]) => p.ndim >= 2).map(([, p]) => p), weightDecay: o.weightDecay },
      { params: named.filter(([, p]) => p.ndim < 2).map(([, p]) => p), weightDecay: 0 },
    ],
    { lr: o.lr, betas: [o.beta1, o.beta2], eps: 1e-8 },
  );

  if (trainerState) {
    loadOptimizer(resumedDir, opt, trainerState.optimizer, startStep, device);
    globalGenerator.setState(trainerState.rng.global);
    batchGen.setState(trainerState.rng.batch);
  } else {
    fs.mkdirSync(out, { recursive: true });
    sweepLeftovers(out);
    if (opts.overwrite) removeCheckpointFiles(out, GPT_CHECKPOINT_FILES, 'trainer_state.json');
    globalGenerator.seed(o.seed + 1); // dropout's stream, apart from the initial weights'
  }

  const dp = await startGptDataParallel(model, { workers: opts.workers, threads: opts.threads, seed: o.seed + 1, finetune, distill });
  const numParams = model.getNumParams();
  const tokensPerIter = o.batchSize * o.blockSize * gradAccum;
  const prunedHeads = Object.values(model.config.prunedHeads ?? {}).reduce((n, h) => n + h.length, 0);
  const headsNote = prunedHeads ? ` (${prunedHeads} of ${o.nLayer * o.nHead} pruned)` : '';
  log(
    `${opts.resume ? `resuming from ${resumedDir} at step ${startStep}` : finetune ? `fine-tuning ${finetune.from}` : distill ? `distilling ${distill.teacher} into` : 'training'}: GPT ${o.nLayer} layers, ${o.nHead} heads${headsNote}, width ${o.nEmbd}, ` +
      `block ${o.blockSize}, vocab ${tok.vocabSize} (${tok.kind}); ${(numParams / 1e6).toFixed(2)}M parameters (without position embeddings)`,
  );
  log(
    `data: ${source}: ${ids.length} tokens, ${trainData.length} for training, ${valData.length} for validation; ` +
      `batch ${o.batchSize} x ${o.blockSize}${gradAccum > 1 ? ` x ${gradAccum} micro-batches` : ''} = ${tokensPerIter} tokens/iter, ${o.maxIters} iterations, ${device === 'cpu' ? `threads ${mox.getNumThreads()}${dp ? ` in each of ${dp.world} processes` : ''}` : `device ${device} (${String(mox.getBackend(device).info?.().adapter ?? '')})`}`,
  );

  if (finetune) log(formatTrainableParameters(model));
  if (distill && teacher)
    log(
      `teacher: ${distill.teacher}: GPT ${teacher.config.nLayer} layers, width ${teacher.config.nEmbd}, ${(teacher.getNumParams() / 1e6).toFixed(2)}M parameters; ` +
        `loss ${distill.alpha} * T^2 * KL(teacher || student) at T ${distill.temperature} + ${Number((1 - distill.alpha).toFixed(6))} * cross-entropy (evaluations: the student's cross-entropy)`,
    );

  const evaluate = async (): Promise<{ train: number; val: number }> => {
    model.eval();
    const res = { train: 0, val: 0 };
    for (const split of ['train', 'val'] as const) {
      // the losses stay on the device until the end of the split: one read, not evalIters
      const losses: Tensor[] = [];
      for (let k = 0; k < o.evalIters; k++) {
        losses.push(
          mox.scope(() =>
            mox.noGrad(() => {
              const { x, y } = batch(split === 'train' ? trainData : valData, o.blockSize, o.batchSize, batchGen, device);
              return mox.keep(model.forward(x, y).loss!.detach());
            }),
          ),
        );
      }
      const all = mox.stack(losses);
      res[split] = Array.from(await all.data()).reduce((a, b) => a + b, 0) / o.evalIters;
      all.dispose();
      for (const l of losses) l.dispose();
    }
    model.train();
    return res;
  };

  const saveCheckpoint = async (step: number): Promise<void> => {
    const meta = { step: String(step) };
    const config = {
      model: 'gpt',
      gpt: cfg,
      train: {
        ...Object.fromEntries(TRAIN_KEYS.map((k) => [k, o[k]])),
        maxIters: o.maxIters,
        evalInterval: o.evalInterval,
        evalIters: o.evalIters,
        logInterval: o.logInterval,
        data: dataSpec,
      },
      tokenizer: { type: tok.kind, vocabSize: tok.vocabSize, file: 'tokenizer.json' },
      ...(finetune ? { finetune } : {}),
      ...(distill ? { distill } : {}),
    };
    // each file goes into the checkpoint's staging folder; commitCheckpoint flushes them, lists them in
    // manifest.json and renames the folder into place, the moment the checkpoint exists
    const { dir, manifest } = await commitCheckpoint(path.join(out, CHECKPOINTS_DIR), step, async (d) => {
      fs.writeFileSync(path.join(d, 'config.json'), JSON.stringify(config, null, 2) + '\n');
      crashPoint('checkpoint-file');
      tok.save(d);
      crashPoint('checkpoint-file');
      // a LoRA run keeps its adapters alone, in PEFT's layout; the base stays where --from is
      if (finetune?.lora) await saveLoraAdapter(model, d, { baseModelNameOrPath: finetune.from, taskType: 'CAUSAL_LM' });
      else await saveGPTWeights(d, model, meta);
      crashPoint('checkpoint-file');
      const optimizer = await saveOptimizer(d, opt, step);
      crashPoint('checkpoint-file');
      const state = { step, history, losses, optimizer, rng: { global: globalGenerator.getState(), batch: batchGen.getState() } };
      fs.writeFileSync(path.join(d, 'trainer_state.json'), JSON.stringify(state) + '\n');
      crashPoint('checkpoint-file');
    });
    publishCheckpoint(dir, manifest, out);
  };

  // --out/metrics.jsonl: a resume keeps the records up to its checkpoint's step and goes on from there
  const runLog = new RunLog(opts.runDir ?? out, {
    kind: finetune ? 'finetune' : distill ? 'distill' : 'gpt',
    config: {
      model: { ...cfg, parameters: numParams },
      train: {
        ...Object.fromEntries(TRAIN_KEYS.map((k) => [k, o[k]])),
        maxIters: o.maxIters,
        lrDecayIters: o.lrDecayIters,
        evalInterval: o.evalInterval,
        evalIters: o.evalIters,
        tokensPerIter,
      },
      data: { ...dataSpec, source, tokens: ids.length, trainTokens: trainData.length, valTokens: valData.length },
      tokenizer: { type: tok.kind, vocabSize: tok.vocabSize },
      device,
      ...(finetune ? { finetune } : {}),
      ...(distill ? { distill } : {}),
    },
    resumeFrom: opts.resume ? startStep : undefined,
  });
  const prompt = samplePrompt(tok, valData, Math.min(32, Math.max(1, o.blockSize >> 1)));
  const sampleTokens = opts.sampleTokens ?? SAMPLE_TOKENS;
  const sample = async (p: number[], so: { maxNewTokens: number; temperature: number; topK: number; seed: number }) =>
    (await generateAsync(model, [p], so)).newTokens[0]!;

  let iterMs = 0;
  let iters = 0;
  let windowMs = 0;
  let windowIters = 0;
  const fmtRate = (ms: number, n: number) =>
    n > 0 ? `, ${(ms / n).toFixed(1)} ms/iter, ${Math.round(tokensPerIter / (ms / n / 1000))} tokens/s` : '';
  let lastCheckpoint: number | null = opts.resume ? startStep : null; // what a NaN message points to
  // a bar on stderr (plain lines when it is not a terminal); the loop's own lines go above it
  const bar = new LiveProgress({
    desc: distill ? 'distill gpt' : finetune ? 'finetune gpt' : 'train gpt',
    total: o.maxIters,
    initial: startStep,
  });
  const say = bar.through(log);
  for (let step = startStep; ; step++) {
    const isEval = (step % o.evalInterval === 0 || step === o.maxIters) && !(opts.resume && step === startStep);
    if (isEval) {
      const t0 = performance.now();
      const { train, val } = await evaluate();
      stopOnNonFinite('train gpt', 'evaluation loss', Number.isFinite(train) ? val : train, step, out, lastCheckpoint);
      history.push({ step, train, val });
      runLog.scalars(step, 'train', { eval_loss: train });
      runLog.scalars(step, 'val', { loss: val });
      const evalSeconds = (performance.now() - t0) / 1000; // the losses' time, not the sample's
      await logSamples(runLog, step, tok, prompt, sampleTokens, sample);
      say(
        `step ${step}: train loss ${train.toFixed(4)}, val loss ${val.toFixed(4)}${fmtRate(windowMs, windowIters)} (eval ${evalSeconds.toFixed(1)} s)`,
      );
      windowMs = 0;
      windowIters = 0;
      await saveCheckpoint(step);
      lastCheckpoint = step;
    }
    if (step >= o.maxIters) break;
    const lr = lrAt(step, o);
    for (const g of opt.paramGroups) g.lr = lr;
    const t0 = performance.now();
    // --workers: the micro-batches' rows split across the processes, their gradients summed here
    const dpLoss = dp ? await dp.accumulate(gradAccum, () => batchOf(batch(trainData, o.blockSize, o.batchSize, batchGen, device))) : null;
    const lossT = mox.scope(() => {
      // gradAccum micro-batches, each loss scaled by 1/gradAccum: the summed gradient is that of their
      // mean, one batch of gradAccum x batchSize (the windows are drawn in the same order as one batch's)
      let sum: Tensor | null = dpLoss === null ? null : mox.tensor(dpLoss);
      for (let k = 0; dpLoss === null && k < gradAccum; k++) {
        const { x, y } = batch(trainData, o.blockSize, o.batchSize, batchGen, device);
        const l = teacher ? distillStepLoss(model, teacher, distill!, x, y) : model.forward(x, y).loss!;
        (gradAccum > 1 ? l.div(gradAccum) : l).backward();
        sum = sum ? sum.add(l.detach()) : l.detach();
      }
      if (o.gradClip > 0) mox.optim.clipGradNorm(model.parameters(), o.gradClip);
      opt.step();
      opt.zeroGrad();
      return mox.keep(gradAccum > 1 && dpLoss === null ? sum!.div(gradAccum) : sum!);
    });
    // reading the loss waits for the step to finish on the device, so the time below is the step's
    const loss = await lossT.itemAsync();
    lossT.dispose();
    const dt = performance.now() - t0;
    iterMs += dt;
    iters++;
    windowMs += dt;
    windowIters++;
    // at step + 1, the optimizer steps taken once this one is done (an evaluation at step S follows S of
    // them); recorded before a non-finite loss stops the run, so the report shows it
    runLog.scalars(step + 1, 'train', {
      loss,
      lr,
      tokens_per_s: Math.round(tokensPerIter / (dt / 1000)),
      ms_per_step: Math.round(dt * 10) / 10,
    });
    stopOnNonFinite('train gpt', 'loss', loss, step, out, lastCheckpoint);
    losses.push(loss);
    crashPoint('step');
    bar.update(step + 1, `loss ${loss.toFixed(4)}, ${Math.round((tokensPerIter * windowIters) / (windowMs / 1000))} tokens/s`);
    if (o.logInterval > 0 && step % o.logInterval === 0)
      say(`iter ${step}: loss ${loss.toFixed(4)}, lr ${lr.toExponential(2)}, ${dt.toFixed(1)} ms`);
  }
  bar.close();
  const msPerIter = iters > 0 ? iterMs / iters : 0;
  log(
    `done: ${iters} iterations, ${msPerIter.toFixed(1)} ms/iter, ${Math.round(iters > 0 ? tokensPerIter / (msPerIter / 1000) : 0)} tokens/s; checkpoint in ${out}`,
  );
  await dp?.close();
  opt.dispose();
  if (teacher) for (const p of teacher.parameters()) p.dispose();
  return {
    history,
    losses,
    step: Math.max(startStep, o.maxIters),
    msPerIter,
    tokensPerSecond: msPerIter > 0 ? tokensPerIter / (msPerIter / 1000) : 0,
    numParams,
  };
}
