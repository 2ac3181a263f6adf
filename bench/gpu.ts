// `npm run bench:gpu`: mox on WebGPU beside PyTorch on CUDA, in one invocation.
//   GEMM 1024/2048/4096 fp32, and a training step of nanoGPT's Shakespeare GPU configuration
//   (6 layers, 6 heads, 384 wide, block 256, batch 64, dropout 0.2; AdamW + clipping as train-gpt).
// PyTorch (bench/torch_gpu.py) runs when `$MOX_TORCH_PYTHON` (else python3, else /usr/bin/python3)
// imports torch, and measures when torch sees CUDA; it reports fp32 with TF32 off (the comparison) and with TF32 on (for reference).
// Prints a table and writes bench/results/gpu.json. Options: --sizes 1024,2048 --gpt L,H,C,T,B
// --gpt-reps N --no-torch, and --tune: time every candidate matmul tile at the largest size first and
// report them (the tile table in src/backend/webgpu/kernels/matmul.ts is where a winner goes). On a software adapter (lavapipe) use small sizes, e.g.
//   npm run bench:gpu -- --sizes 256 --gpt 2,2,64,64,4 --gpt-reps 3

import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as mox from '../src/index.js';
import type { Tensor } from '../src/index.js';
import { matmulTuning, tileProblem, type MatmulTile } from '../src/backend/webgpu/kernels/matmul.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
};
const sizes = arg('sizes', '1024,2048,4096').split(',').map(Number);
const [L, H, C, T, B] = arg('gpt', '6,6,384,256,64').split(',').map(Number) as [number, number, number, number, number];
const gptReps = Number(arg('gpt-reps', '20'));
const log = (s: string): void => void process.stderr.write(`${s}\n`);

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Times `step` (which returns a tensor to wait on) after warmup; the wait is a read of that tensor. */
async function timed(step: () => Tensor, reps: number, warmup: number): Promise<{ medianMs: number; minMs: number; reps: number }> {
  for (let i = 0; i < warmup; i++) {
    const t = step();
    await t.data();
    t.dispose();
  }
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const s = performance.now();
    const t = step();
    await mox.sync('webgpu');
    times.push(performance.now() - s);
    t.dispose();
  }
  return { medianMs: median(times), minMs: Math.min(...times), reps };
}

async function moxGemm(n: number): Promise<Record<string, number>> {
  const a = mox.randn([n, n]);
  const b = mox.randn([n, n]);
  const reps = Math.max(5, Math.min(100, Math.round(2e12 / (2 * n ** 3))));
  const t = await timed(() => a.matmul(b), reps, 3);
  a.dispose();
  b.dispose();
  return { ...t, tflops: (2 * n ** 3) / (t.medianMs / 1000) / 1e12 };
}

async function moxGpt(): Promise<Record<string, number>> {
  mox.seed(1234);
  // built on the CPU (initialisation draws from the seeded generator there), then moved
  mox.setDevice('cpu');
  const model = new mox.models.GPT({ vocabSize: 65, blockSize: T, nLayer: L, nHead: H, nEmbd: C, dropout: 0.2, bias: true });
  model.to('webgpu');
  mox.setDevice('webgpu');
  const named = model.namedParameters();
  const opt = new mox.optim.AdamW(
    [
      { params: named.filter(([, p]) => p.ndim >= 2).map(([, p]) => p), weightDecay: 0.1 },
      { params: named.filter(([, p]) => p.ndim < 2).map(([, p]) => p), weightDecay: 0 },
    ],
    { lr: 1e-3, betas: [0.9, 0.99] },
  );
  const x = mox.randint(0, 65, [B, T], { dtype: 'int32' });
  const y = mox.randint(0, 65, [B, T], { dtype: 'int32' });
  const step = (): Tensor =>
    mox.scope(() => {
      const loss = model.forward(x, y).loss!;
      loss.backward();
      mox.optim.clipGradNorm(model.parameters(), 1.0);
      opt.step();
      opt.zeroGrad();
      return mox.keep(loss.detach());
    });
  const t = await timed(step, gptReps, 3);
  opt.dispose();
  return { ...t, tokensPerSecond: (B * T) / (t.medianMs / 1000) };
}

interface TorchRun {
  info?: Record<string, unknown>;
  results?: Record<string, Record<string, number>>;
  error?: string;
}

/** The first Python that imports torch: $MOX_TORCH_PYTHON, else python3 on PATH, else Debian's. */
function torchPython(): string | null {
  const candidates = process.env['MOX_TORCH_PYTHON'] ? [process.env['MOX_TORCH_PYTHON']] : ['python3', '/usr/bin/python3'];
  return candidates.find((py) => spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore', timeout: 120_000 }).status === 0) ?? null;
}

function runTorch(): TorchRun {
  if (process.argv.includes('--no-torch')) return { error: 'not run (--no-torch)' };
  const py = torchPython();
  if (!py) return { error: 'no Python here imports torch (set MOX_TORCH_PYTHON)' };
  log(`torch: ${py} bench/torch_gpu.py`);
  const r = spawnSync(
    py,
    [
      path.join(root, 'bench', 'torch_gpu.py'),
      '--sizes',
      sizes.join(','),
      '--gpt',
      [L, H, C, T, B].join(','),
      '--gpt-reps',
      String(gptReps),
    ],
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      cwd: path.join(root, 'bench'),
      timeout: 1_200_000,
    },
  );
  if (r.status !== 0) return { error: `torch_gpu.py failed (${r.error?.message ?? `exit ${r.status ?? r.signal}`})` };
  try {
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as TorchRun;
  } catch {
    return { error: 'torch_gpu.py printed no JSON' };
  }
}

/** Candidate tiles for --tune: every (BM, BN, BK, TM, TN) of a small grid the generator accepts. */
function candidateTiles(): MatmulTile[] {
  const out: MatmulTile[] = [];
  for (const BM of [32, 64, 128])
    for (const BN of [32, 64, 128])
      for (const BK of [8, 16, 32]) {
        for (const TM of [4, 8])
          for (const TN of [4, 8]) {
            const t = { BM, BN, BK, TM, TN };
            const threads = (BM / TM) * (BN / TN);
            if (threads >= 64 && threads <= 256 && tileProblem(t) === null) out.push(t);
          }
      }
  return out;
}

/** Times GEMM n with each candidate tile alone in the table; restores the table after. */
async function tune(n: number): Promise<{ tile: MatmulTile; tflops: number }[]> {
  const saved = matmulTuning.tiles;
  const results: { tile: MatmulTile; tflops: number }[] = [];
  try {
    for (const tile of candidateTiles()) {
      matmulTuning.tiles = [tile];
      try {
        const r = await moxGemm(n);
        results.push({ tile, tflops: r.tflops! });
        log(`  tile ${JSON.stringify(tile)}: ${r.tflops!.toPrecision(3)} TFLOP/s`);
      } catch (e) {
        log(`  tile ${JSON.stringify(tile)}: ${(e as Error).message}`);
      }
    }
  } finally {
    matmulTuning.tiles = saved;
  }
  return results.sort((a, b) => b.tflops - a.tflops);
}

const backend = await mox.initDevice('webgpu');
mox.setDevice('webgpu');
const adapter = String(backend.info?.().adapter ?? 'unknown adapter');
log(`mox webgpu on ${adapter}`);
const tuning = process.argv.includes('--tune') ? await tune(Math.max(...sizes)) : null;
if (tuning)
  console.log(
    `matmul tiles at ${Math.max(...sizes)}², best first:\n${tuning.map((r) => `  ${JSON.stringify(r.tile)}  ${r.tflops.toPrecision(3)} TFLOP/s`).join('\n')}`,
  );
const mox_: Record<string, Record<string, number>> = {};
for (const n of sizes) {
  mox_[`gemm-${n}`] = await moxGemm(n);
  log(`  mox gemm ${n}: ${mox_[`gemm-${n}`]!.tflops!.toPrecision(3)} TFLOP/s`);
}
mox_['gpt-step'] = await moxGpt();
log(`  mox gpt step: ${mox_['gpt-step']!.medianMs!.toFixed(1)} ms`);
const torch = runTorch();
const tr = torch.results ?? {};

const rows: string[][] = [['workload', 'mox webgpu', 'PyTorch fp32 (TF32 off)', 'mox / PyTorch', 'PyTorch TF32']];
const f = (v: number | undefined, d = 1): string => (v === undefined ? '—' : v >= 10 ** (3 - d) ? v.toFixed(d) : v.toPrecision(3));
for (const n of sizes) {
  const m = mox_[`gemm-${n}`]!.tflops!;
  const p = tr[`gemm-${n}-fp32`]?.tflops;
  rows.push([
    `GEMM ${n}² fp32 (TFLOP/s)`,
    f(m, 2),
    f(p, 2),
    p ? `${(m / p).toFixed(2)}x the speed` : '—',
    f(tr[`gemm-${n}-tf32`]?.tflops, 2),
  ]);
}
{
  const m = mox_['gpt-step']!.medianMs!;
  const p = tr['gpt-step-fp32']?.medianMs;
  rows.push([
    `GPT step ${L}L ${H}H ${C}, block ${T}, batch ${B} (ms)`,
    f(m),
    f(p),
    p ? `${(m / p).toFixed(2)}x the time` : '—',
    f(tr['gpt-step-tf32']?.medianMs),
  ]);
}
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
const line = (r: string[]): string => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
console.log([line(rows[0]!), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n'));
if (torch.error) console.log(`\nPyTorch: ${torch.error}`);

const out = {
  date: new Date().toISOString(),
  machine: { adapter, cpu: os.cpus()[0]?.model, node: process.version },
  config: { sizes, gpt: { nLayer: L, nHead: H, nEmbd: C, blockSize: T, batch: B, dropout: 0.2 }, gptReps },
  mox: mox_,
  torch,
  ...(tuning ? { matmulTiles: tuning } : {}),
};
mkdirSync(path.join(root, 'bench', 'results'), { recursive: true });
writeFileSync(path.join(root, 'bench', 'results', 'gpu.json'), JSON.stringify(out, null, 2) + '\n');
log('wrote bench/results/gpu.json');
