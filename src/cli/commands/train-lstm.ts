// `mox train lstm`: trains an LSTM language model (mox.models.LSTMLanguageModel: Embedding -> stacked
// LSTM -> Dense) on a text, with the loop of `mox train gpt` (train-gpt.ts, whose data, batch and
// optimizer-checkpoint helpers it uses): AdamW, linear warmup then cosine decay, gradient clipping,
// random windows of --seq-len tokens from the first 90% of the tokens, each started from a zero state,
// and evaluation on the last 10%. At each evaluation the checkpoint in --out is replaced (config.json
// with "model": "lstm", model.safetensors, optimizer.safetensors, the tokenizer, and trainer_state.json
// last: each file written atomically and stamped with its step, so a torn checkpoint is detected).
// --resume continues exactly: the losses are those of a run that was never interrupted.

import '../../ops/tensor-methods.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as mox from '../../index.js';
import { DataError, MoxError, ValueError } from '../../errors.js';
import { Generator, globalGenerator } from '../../tensor/random.js';
import type { Tensor } from '../../tensor/tensor.js';
import { LSTMLanguageModel, type LSTMLanguageModelConfig } from '../../models/lstm-lm.js';
import { loadLSTM, saveLSTM } from '../../models/lstm-checkpoint.js';
import { writeFileAtomic } from '../../io/files.js';
import { LiveProgress } from '../../train/live-progress.js';
import {
  batch,
  GPT_CHECKPOINT_FILES,
  loadOptimizer,
  lrAt,
  readCorpus,
  saveOptimizer,
  type DataSpec,
  type EvalRecord,
} from './train-gpt.js';
import { removeCheckpointFiles, resumedMaxIters, resumedSettings, resumedStep } from './run-dir.js';
import { readTrainerState, type TrainerState } from './trainer-state.js';
import { resolveDataPath } from './text-input.js';
import { stopOnNonFinite } from './non-finite.js';
import { buildTokenizer, loadCheckpointTokenizer, saveTokenizerAtomic, type GptTokenizer } from './gpt-tokenizer.js';
import { RunLog } from '../../train/run-log.js';
import { logSamples, SAMPLE_TOKENS, samplePrompt } from './run-metrics.js';

const OP = 'train lstm';

/** The settings of a `mox train lstm` run. */
export interface TrainLstmOptions {
  dataset?: string;
  data?: string;
  /** The encoding of --data (default: strict UTF-8). */
  encoding?: string;
  tokenizer: string;
  embedDim: number;
  hiddenSize: number;
  numLayers: number;
  dropout: number;
  tieWeights: boolean;
  seqLen: number;
  batchSize: number;
  maxIters: number;
  lr: number;
  minLr: number;
  warmupIters: number;
  /** Iterations of cosine decay (default maxIters). */
  lrDecayIters?: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  gradClip: number;
  evalInterval: number;
  evalIters: number;
  /** Print the training loss every this many iterations (0: only at evaluations). */
  logInterval: number;
  /** Tokens generated into metrics.jsonl's samples at each evaluation (default 100; 0: none). */
  sampleTokens?: number;
  seed: number;
  threads?: number;
  out: string;
  resume: boolean;
  /** Replace a checkpoint already in --out (without it, and without --resume, that is an error). */
  overwrite: boolean;
}

/** The flags given explicitly, so --resume knows which settings come from the command line. */
export type GivenLstmFlags = ReadonlySet<keyof TrainLstmOptions>;

/** What a `mox train lstm` run did: its evaluations, the last step, its speed and the model's size. */
export interface TrainLstmResult {
  history: EvalRecord[];
  step: number;
  msPerIter: number;
  tokensPerSecond: number;
  numParams: number;
}

/** The settings a checkpoint fixes: a resumed run takes them from it, and the command line may not contradict them. */
const TRAIN_KEYS = [
  'tokenizer',
  'embedDim',
  'hiddenSize',
  'numLayers',
  'dropout',
  'tieWeights',
  'seqLen',
  'batchSize',
  'lr',
  'minLr',
  'warmupIters',
  'lrDecayIters',
  'weightDecay',
  'beta1',
  'beta2',
  'gradClip',
  'seed',
] as const;

/** Runs a train-gpt helper, its errors relabelled as this command's. */
function asLstm<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw relabel(e);
  }
}

async function asLstmAsync<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw relabel(e);
  }
}

/** A checkpoint of this command holds the same files as a GPT's (config.json says which model). */
export const LSTM_CHECKPOINT_FILES = GPT_CHECKPOINT_FILES;

function relabel(e: unknown): unknown {
  if (!(e instanceof MoxError) || e.op !== 'train gpt') return e;
  const Cls = e.constructor as new (op: string, message: string) => MoxError;
  return new Cls(OP, e.message.slice('train gpt: '.length).replace('mox train gpt', 'mox train lstm'));
}

/** Runs `mox train lstm`: trains, evaluates, checkpoints, prints its lines with `log`, a bar on stderr. */
export async function runTrainLstm(
  opts: TrainLstmOptions,
  given: GivenLstmFlags = new Set(),
  log: (line: string) => void = console.log,
): Promise<TrainLstmResult> {
  const device = 'cpu';
  const out = opts.out;
  const stateFile = path.join(out, 'trainer_state.json');
  if (opts.threads !== undefined) mox.setNumThreads(opts.threads);
  let o: TrainLstmOptions & { lrDecayIters: number };
  let model: LSTMLanguageModel;
  let tok: GptTokenizer;
  let startStep = 0;
  let maxIters = opts.maxIters;
  let history: EvalRecord[] = [];
  let trainerState: TrainerState | null = null;
  let dataSpec: DataSpec;
  const batchGen = new Generator(opts.seed);

  if (opts.resume) {
    if (!fs.existsSync(stateFile)) throw new DataError(OP, `--resume: there is no checkpoint in ${out} (no trainer_state.json)`);
    trainerState = readTrainerState(stateFile, OP);
    const loaded = loadLSTM(out);
    model = loaded.model;
    const saved = (loaded.config['train'] ?? {}) as Record<string, unknown>;
    o = resumedSettings(OP, opts, saved, TRAIN_KEYS, given) as TrainLstmOptions & { lrDecayIters: number };
    dataSpec = given.has('data') || given.has('dataset') ? dataOf(opts) : ((saved['data'] ?? {}) as DataSpec);
    tok = loadCheckpointTokenizer(out);
    startStep = resumedStep(OP, stateFile, { step: trainerState.step }, path.join(out, 'model.safetensors'), loaded.metadata['step']);
    // without --max-iters the run keeps its own length; a length already reached is an error
    const savedMax = typeof saved['maxIters'] === 'number' ? saved['maxIters'] : undefined;
    maxIters = resumedMaxIters(OP, startStep, savedMax, given.has('maxIters') ? opts.maxIters : undefined);
    if (o.lrDecayIters === undefined) o.lrDecayIters = maxIters;
    history = trainerState.history;
  } else {
    if (!opts.overwrite && (fs.existsSync(stateFile) || fs.existsSync(path.join(out, 'config.json')))) {
      throw new ValueError(OP, `${out} already holds a checkpoint: continue it with --resume, or replace it with --overwrite`);
    }
    fs.mkdirSync(out, { recursive: true });
    if (opts.overwrite) removeCheckpointFiles(out, LSTM_CHECKPOINT_FILES, 'trainer_state.json');
    o = { ...opts, lrDecayIters: opts.lrDecayIters ?? opts.maxIters };
    dataSpec = dataOf(opts);
    tok = null as unknown as GptTokenizer; // built from the text below
    model = null as unknown as LSTMLanguageModel;
  }

  const { text, source } = await asLstmAsync(() => readCorpus(dataSpec));
  if (text.length === 0) throw new DataError(OP, `the data file ${source} is empty`);
  if (!opts.resume) tok = await asLstmAsync(() => buildTokenizer(o.tokenizer, text));
  const ids = Int32Array.from(tok.encode(text));
  const nTrain = Math.floor(ids.length * 0.9);
  const trainData = ids.subarray(0, nTrain);
  const valData = ids.subarray(nTrain);
  if (valData.length <= o.seqLen || trainData.length <= o.seqLen) {
    throw new DataError(
      OP,
      `${source} has ${ids.length} tokens: the validation split (the last 10%, ${valData.length} tokens) ` +
        `needs more than --seq-len (${o.seqLen}); use a longer text or a smaller --seq-len`,
    );
  }

  const cfg: LSTMLanguageModelConfig = {
    vocabSize: tok.vocabSize,
    embedDim: o.embedDim,
    hiddenSize: o.hiddenSize,
    numLayers: o.numLayers,
    dropout: o.dropout,
    tieWeights: o.tieWeights,
  };
  if (!opts.resume) model = new LSTMLanguageModel({ ...cfg, generator: new Generator(o.seed) });
  model.train();
  // dropout draws from the model's generator when it has one: give it the run's, so --resume restores it
  model.drop.generator = globalGenerator;
  model.rnn.generator = globalGenerator;

  const named = model.namedParameters();
  const opt = new mox.optim.AdamW(
    [
      { params: named.filter(([, p]) => p.ndim >= 2).map(([, p]) => p), weightDecay: o.weightDecay },
      { params: named.filter(([, p]) => p.ndim < 2).map(([, p]) => p), weightDecay: 0 },
    ],
    { lr: o.lr, betas: [o.beta1, o.beta2], eps: 1e-8 },
  );

  if (trainerState) {
    const state = trainerState;
    asLstm(() => loadOptimizer(out, opt, state.optimizer, startStep, device));
    globalGenerator.setState(state.rng.global);
    batchGen.setState(state.rng.batch);
  } else {
    fs.mkdirSync(out, { recursive: true });
    globalGenerator.seed(o.seed + 1); // dropout's stream, apart from the initial weights'
  }

  const numParams = model.parameters().reduce((n, p) => n + p.size, 0);
  const tokensPerIter = o.batchSize * o.seqLen;
  log(
    `${opts.resume ? `resuming from ${out} at step ${startStep}` : 'training'}: LSTM ${o.numLayers} layers, hidden ${o.hiddenSize}, embedding ${o.embedDim}` +
      `${o.tieWeights ? ' (tied)' : ''}, vocab ${tok.vocabSize} (${tok.kind}); ${(numParams / 1e6).toFixed(2)}M parameters`,
  );
  log(
    `data: ${source}: ${ids.length} tokens, ${trainData.length} for training, ${valData.length} for validation; ` +
      `batch ${o.batchSize} x ${o.seqLen} = ${tokensPerIter} tokens/iter, ${maxIters} iterations, threads ${mox.getNumThreads()}`,
  );

  const lossOf = (data: Int32Array): Tensor => {
    const { x, y } = batch(data, o.seqLen, o.batchSize, batchGen, device);
    return model.loss(x, y).loss;
  };

  const evaluate = (): { train: number; val: number } => {
    model.eval();
    const res = { train: 0, val: 0 };
    for (const split of ['train', 'val'] as const) {
      let sum = 0;
      for (let k = 0; k < o.evalIters; k++)
        sum += mox.scope(() => mox.noGrad(() => lossOf(split === 'train' ? trainData : valData).item()));
      res[split] = sum / o.evalIters;
    }
    model.train();
    return res;
  };

  let tokenizerSaved = opts.resume;
  const saveCheckpoint = async (step: number): Promise<void> => {
    const extra = {
      train: {
        ...Object.fromEntries(TRAIN_KEYS.map((k) => [k, o[k]])),
        maxIters,
        evalInterval: o.evalInterval,
        evalIters: o.evalIters,
        logInterval: o.logInterval,
        data: dataSpec,
      },
      tokenizer: { type: tok.kind, vocabSize: tok.vocabSize, file: 'tokenizer.json' },
    };
    if (!tokenizerSaved) saveTokenizerAtomic(tok, out); // it does not change during the run
    tokenizerSaved = true;
    await saveLSTM(out, model, extra, { step: String(step) });
    const optimizer = await saveOptimizer(out, opt, step);
    const state = { step, history, optimizer, rng: { global: globalGenerator.getState(), batch: batchGen.getState() } };
    writeFileAtomic(stateFile, JSON.stringify(state) + '\n'); // last: the commit
  };

  // --out/metrics.jsonl: a resume keeps the records up to its checkpoint's step and goes on from there
  const runLog = new RunLog(out, {
    kind: 'lstm',
    config: {
      model: { ...cfg, parameters: numParams },
      train: {
        ...Object.fromEntries(TRAIN_KEYS.map((k) => [k, o[k]])),
        maxIters,
        evalInterval: o.evalInterval,
        evalIters: o.evalIters,
        tokensPerIter,
      },
      data: { ...dataSpec, source, tokens: ids.length, trainTokens: trainData.length, valTokens: valData.length },
      tokenizer: { type: tok.kind, vocabSize: tok.vocabSize },
      device,
    },
    resumeFrom: opts.resume ? startStep : undefined,
  });
  const prompt = samplePrompt(tok, valData, 32);
  const sampleTokens = opts.sampleTokens ?? SAMPLE_TOKENS;
  const sample = async (p: number[], so: { maxNewTokens: number; temperature: number; topK: number; seed: number }) =>
    (await model.generateAsync(p, so))[0]!;

  let iterMs = 0;
  let iters = 0;
  let windowMs = 0;
  let windowIters = 0;
  const fmtRate = (ms: number, n: number) =>
    n > 0 ? `, ${(ms / n).toFixed(1)} ms/iter, ${Math.round(tokensPerIter / (ms / n / 1000))} tokens/s` : '';
  let lastCheckpoint: number | null = opts.resume ? startStep : null; // what a NaN message points to
  // a bar on stderr (plain lines when it is not a terminal); the loop's own lines go above it
  const bar = new LiveProgress({ desc: OP, total: maxIters, initial: startStep });
  const say = bar.through(log);
  for (let step = startStep; ; step++) {
    const isEval = (step % o.evalInterval === 0 || step === maxIters) && !(opts.resume && step === startStep);
    if (isEval) {
      const t0 = performance.now();
      const { train, val } = evaluate();
      stopOnNonFinite(OP, 'evaluation loss', Number.isFinite(train) ? val : train, step, out, lastCheckpoint);
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
    if (step >= maxIters) break;
    const lr = lrAt(step, o);
    for (const g of opt.paramGroups) g.lr = lr;
    const t0 = performance.now();
    const loss = mox.scope(() => {
      const l = lossOf(trainData);
      l.backward();
      if (o.gradClip > 0) mox.optim.clipGradNorm(model.parameters(), o.gradClip);
      opt.step();
      opt.zeroGrad();
      return l.item();
    });
    const dt = performance.now() - t0;
    iterMs += dt;
    iters++;
    windowMs += dt;
    windowIters++;
    // step + 1: the optimizer steps taken once this one is done; recorded before a non-finite loss stops the run
    runLog.scalars(step + 1, 'train', {
      loss,
      lr,
      tokens_per_s: Math.round(tokensPerIter / (dt / 1000)),
      ms_per_step: Math.round(dt * 10) / 10,
    });
    stopOnNonFinite(OP, 'loss', loss, step, out, lastCheckpoint);
    bar.update(step + 1, `loss ${loss.toFixed(4)}, ${Math.round((tokensPerIter * windowIters) / (windowMs / 1000))} tokens/s`);
    if (o.logInterval > 0 && step % o.logInterval === 0)
      say(`iter ${step}: loss ${loss.toFixed(4)}, lr ${lr.toExponential(2)}, ${dt.toFixed(1)} ms`);
  }
  bar.close();
  const msPerIter = iters > 0 ? iterMs / iters : 0;
  log(
    `done: ${iters} iterations, ${msPerIter.toFixed(1)} ms/iter, ${Math.round(iters > 0 ? tokensPerIter / (msPerIter / 1000) : 0)} tokens/s; checkpoint in ${out}`,
  );
  opt.dispose();
  return {
    history,
    step: Math.max(startStep, maxIters),
    msPerIter,
    tokensPerSecond: msPerIter > 0 ? tokensPerIter / (msPerIter / 1000) : 0,
    numParams,
  };
}

/** The data as the checkpoint records it: a file by its absolute path, so a resume from elsewhere finds it. */
function dataOf(opts: Pick<TrainLstmOptions, 'dataset' | 'data' | 'encoding'>): DataSpec {
  if (opts.data === undefined) return { dataset: opts.dataset };
  return { data: resolveDataPath(opts.data), ...(opts.encoding !== undefined ? { encoding: opts.encoding } : {}) };
}
