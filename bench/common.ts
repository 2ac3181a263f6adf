// Shared by every peer of the CPU benchmark: the workload list, seeded data, and a time-boxed timer.
// Each peer (mox, tfjs-wasm, tfjs-cpu, bench/torch_bench.py) runs the same workloads on the same
// shapes; only the layout differs (mox and PyTorch NCHW, TensorFlow.js NHWC).

export type Unit = 'GFLOP/s' | 'ms';

export interface WorkloadDef {
  id: string;
  group: 'gemm' | 'conv' | 'mlp' | 'cnn' | 'gpt' | 'epoch';
  title: string;
  /** Label for the table's first column. */
  short: string;
  unit: Unit;
  /** Floating-point operations of one rep, for GFLOP/s. */
  flops?: number;
  /** Samples per rep, for samples/s. */
  batch?: number;
}

export const GEMM_SIZES = [256, 512, 1024] as const;
export const MLP_BATCH = 32;
export const CNN_BATCH = 64;
export const CONV_BATCH = 64;
/** nanoGPT's CPU Shakespeare configuration (character level, vocab 65). */
export const GPT_CONFIG = { vocabSize: 65, blockSize: 64, nLayer: 4, nHead: 4, nEmbd: 128, batch: 12 } as const;

/** Images in one epoch of the epoch workloads: MNIST's training set (`--quick` takes fewer). */
export const EPOCH_IMAGES = 60000;
export const EPOCH_IMAGES_QUICK = 6400;

/** The two conv2d layers: [in channels, out channels, input H (=W)]; 3x3, stride 1, no padding. */
export const CONV_LAYERS = {
  conv1: { cin: 1, cout: 32, hw: 28, inputGrad: false },
  conv2: { cin: 32, cout: 64, hw: 13, inputGrad: true },
} as const;
export type ConvLayer = keyof typeof CONV_LAYERS;

export const WORKLOADS: WorkloadDef[] = [
  ...GEMM_SIZES.map(
    (n): WorkloadDef => ({
      id: `gemm-${n}`,
      group: 'gemm',
      title: `GEMM ${n}x${n}x${n} fp32`,
      short: `GEMM ${n} (GFLOP/s)`,
      unit: 'GFLOP/s',
      flops: 2 * n * n * n,
    }),
  ),
  {
    id: 'conv1-fwd',
    group: 'conv',
    title: 'conv2d 64x1x28x28 -> 32, 3x3: forward',
    short: 'conv 1->32 28x28 fwd (ms)',
    unit: 'ms',
    batch: CONV_BATCH,
  },
  {
    id: 'conv1-fwdbwd',
    group: 'conv',
    title: 'conv2d 64x1x28x28 -> 32, 3x3: forward+backward (dW, db)',
    short: 'conv 1->32 28x28 fwd+bwd (ms)',
    unit: 'ms',
    batch: CONV_BATCH,
  },
  {
    id: 'conv2-fwd',
    group: 'conv',
    title: 'conv2d 64x32x13x13 -> 64, 3x3: forward',
    short: 'conv 32->64 13x13 fwd (ms)',
    unit: 'ms',
    batch: CONV_BATCH,
  },
  {
    id: 'conv2-fwdbwd',
    group: 'conv',
    title: 'conv2d 64x32x13x13 -> 64, 3x3: forward+backward (dx, dW, db)',
    short: 'conv 32->64 13x13 fwd+bwd (ms)',
    unit: 'ms',
    batch: CONV_BATCH,
  },
  {
    id: 'mlp-step',
    group: 'mlp',
    title: `MLP 784-128-10 train step, batch ${MLP_BATCH} (fwd+bwd+Adam)`,
    short: 'MLP train step (ms)',
    unit: 'ms',
    batch: MLP_BATCH,
  },
  {
    id: 'gpt-step',
    group: 'gpt',
    title: `GPT 4 layers x 4 heads x 128, block 64, batch 12 train step (fwd+bwd+AdamW+clip)`,
    short: 'GPT train step (ms)',
    unit: 'ms',
    batch: GPT_CONFIG.batch,
  },
  ...(
    [
      ['mlp-epoch-loop', 'plain loop', 'a permutation, then x[idx] per batch, as a fast user writes it'],
      ['mlp-epoch-dataloader', 'DataLoader loop', 'DataLoader(TensorDataset(x, y), batch 32, shuffle), as a typical user writes it'],
      ['mlp-epoch-fit', 'fit verbose 0', 'model.fit(x, y, { epochs: 1, batchSize: 32, verbose: 0 }): mox only'],
      ['mlp-epoch-fit-v1', 'fit verbose 1', 'model.fit with the progress bar (verbose 1) written to a null stream: mox only'],
    ] as const
  ).map(
    ([id, how, title]): WorkloadDef => ({
      id,
      group: 'epoch',
      title: `One epoch of the MNIST MLP (Flatten, Dense 128 relu, Dense 10; Adam, batch 32, shuffled, no metrics): ${title}`,
      short: `MLP epoch, ${how} (ms)`,
      unit: 'ms',
    }),
  ),
  {
    id: 'cnn-step',
    group: 'cnn',
    title: `CNN conv32-pool-conv64-pool-conv64-dense64-dense10 train step, batch ${CNN_BATCH}`,
    short: 'CNN train step (ms)',
    unit: 'ms',
    batch: CNN_BATCH,
  },
];

export function selectWorkloads(only: string[] | null): WorkloadDef[] {
  if (!only || only.length === 0) return WORKLOADS;
  const picked = WORKLOADS.filter((w) => only.includes(w.group) || only.includes(w.id));
  if (picked.length === 0) {
    throw new Error(
      `--only ${only.join(',')}: matches no workload (groups: gemm, conv, mlp, cnn, gpt, epoch; ids: ${WORKLOADS.map((w) => w.id).join(', ')})`,
    );
  }
  return picked;
}

// ---- seeded data (mulberry32 + Box-Muller), identical for mox and TensorFlow.js ----

export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  uniform(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  normal(n: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i += 2) {
      const u = Math.max(this.uniform(), 1e-12);
      const r = Math.sqrt(-2 * Math.log(u));
      const th = 2 * Math.PI * this.uniform();
      out[i] = r * Math.cos(th);
      if (i + 1 < n) out[i + 1] = r * Math.sin(th);
    }
    return out;
  }
  /** U(-bound, bound): PyTorch's default Linear/Conv init has bound 1/sqrt(fan_in). */
  uniformArray(n: number, bound: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = (2 * this.uniform() - 1) * bound;
    return out;
  }
  labels(n: number, classes: number): Int32Array {
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = Math.floor(this.uniform() * classes);
    return out;
  }
}

// ---- timing ----

export interface TimingOptions {
  /** Time budget for the timed reps, in ms (a slow step still gets at least one rep). */
  budgetMs: number;
  warmup: number;
  minReps: number;
  maxReps: number;
  /** A first (warmup) step slower than this is the only sample: reported as one cold rep. */
  slowMs: number;
}

export interface Timing {
  medianMs: number;
  meanMs: number;
  minMs: number;
  reps: number;
  warmup: number;
  /** True when the figure is a single cold step (the step took longer than slowMs). */
  cold?: boolean;
}

export function timingOptions(quick: boolean, budgetS?: number): TimingOptions {
  const budgetMs = (budgetS ?? (quick ? 0.4 : 2.5)) * 1000;
  return quick
    ? { budgetMs, warmup: 1, minReps: 1, maxReps: 20, slowMs: 3000 }
    : { budgetMs, warmup: 2, minReps: 5, maxReps: 500, slowMs: Math.max(10_000, 4 * budgetMs) };
}

/**
 * When to stop warming up and timing, shared by timeSync and timeAsync (which differ only in whether
 * a step is awaited): `warmed(dt)` after each warmup step, `timed(dt)` after each timed one.
 */
class RepPlan {
  private warm = 0;
  private warming = true;
  private readonly times: number[] = [];
  private start = 0;
  constructor(private readonly o: TimingOptions) {
    this.warming = o.warmup > 0;
    if (!this.warming) this.start = performance.now();
  }
  /** Whether a warmup step is due (when not, the timed reps start now). */
  get warmingUp(): boolean {
    return this.warming;
  }
  /** After a warmup step: a first step slower than slowMs is the only sample, returned as one cold rep. */
  warmed(dt: number): Timing | null {
    if (this.warm === 0 && dt > this.o.slowMs) return { medianMs: dt, meanMs: dt, minMs: dt, reps: 1, warmup: 0, cold: true };
    this.warm++;
    if (this.warm >= this.o.warmup || dt > this.o.budgetMs / 2) {
      this.warming = false;
      this.start = performance.now();
    }
    return null;
  }
  /** After a timed step: whether to time another. */
  timed(dt: number): boolean {
    this.times.push(dt);
    if (this.times.length >= this.o.maxReps) return false;
    const elapsed = performance.now() - this.start;
    return !(elapsed >= this.o.budgetMs && (this.times.length >= this.o.minReps || elapsed >= 2 * this.o.budgetMs));
  }
  result(): Timing {
    return summarize(this.times, this.warm);
  }
}

/**
 * Runs step() `warmup` times (fewer if one warmup already eats half the budget), then times reps
 * until the budget is spent and minReps are done; a step slower than the budget stops at two reps,
 * and a first step slower than slowMs is the only sample (TensorFlow.js's cpu backend takes tens of
 * seconds for a conv backward).
 */
export function timeSync(step: () => void, o: TimingOptions): Timing {
  const plan = new RepPlan(o);
  while (plan.warmingUp) {
    const s = performance.now();
    step();
    const cold = plan.warmed(performance.now() - s);
    if (cold) return cold;
  }
  for (;;) {
    const s = performance.now();
    step();
    if (!plan.timed(performance.now() - s)) return plan.result();
  }
}

function summarize(times: number[], warmup: number): Timing {
  const sorted = [...times].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return {
    medianMs: median,
    meanMs: times.reduce((a, b) => a + b, 0) / times.length,
    minMs: sorted[0]!,
    reps: times.length,
    warmup,
  };
}

/** timeSync for an asynchronous step (fit): the same warmup, budget and statistics. */
export async function timeAsync(step: () => Promise<void>, o: TimingOptions): Promise<Timing> {
  const plan = new RepPlan(o);
  while (plan.warmingUp) {
    const s = performance.now();
    await step();
    const cold = plan.warmed(performance.now() - s);
    if (cold) return cold;
  }
  for (;;) {
    const s = performance.now();
    await step();
    if (!plan.timed(performance.now() - s)) return plan.result();
  }
}

// ---- results ----

/** One peer's figure for one workload: value in the workload's unit, or null with the reason. */
export interface Measurement {
  value: number | null;
  timing?: Timing;
  samplesPerSec?: number;
  note?: string;
}

export type PeerResults = Record<string, Measurement>;

/** Turns a timing into a measurement in the workload's unit (GFLOP/s from the median time). */
export function toMeasurement(w: WorkloadDef, t: Timing): Measurement {
  const m: Measurement = {
    value: w.unit === 'GFLOP/s' ? w.flops! / (t.medianMs * 1e6) : t.medianMs,
    timing: t,
  };
  if (w.batch && w.unit === 'ms') m.samplesPerSec = (w.batch * 1000) / t.medianMs;
  return m;
}

/** 'n/a (missing kernel X)' for TensorFlow.js's unregistered-kernel error, else the message. */
export function failure(e: unknown): Measurement {
  const msg = e instanceof Error ? e.message : String(e);
  const k = /Kernel '([^']+)' not registered for backend '([^']+)'/.exec(msg);
  return { value: null, note: k ? `n/a (missing kernel ${k[1]})` : `error: ${msg.split('\n')[0]!.slice(0, 160)}` };
}

export const RESULT_MARKER = '@@MOXBENCH ';
