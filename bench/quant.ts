// `npm run bench:quant`: decoding with GPT-2 small's shape (12 layers, 768 wide, 12 heads, vocab 50257,
// block 1024, random weights, batch 1, greedy, KV cache) in fp32 and quantized (int8, dynamic-int8,
// int4), at 1 and 2 threads, all in this one process, with each scheme's checkpoint size beside the
// fp32 one's; PyTorch's fp32 and quantize_dynamic decode (bench/torch_quant.py) in the same run when
// /usr/bin/python3 has torch. Ratios are quantized / fp32 (speed: > 1 is faster; size: < 1 is smaller).
// Prints a markdown table and writes bench/results/quant.md and quant.json.
//
//   node dist/bench/quant.js [--tokens N] [--runs N] [--threads 1,2] [--schemes int8,int4,dynamic-int8] [--no-torch]

import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as mox from '../src/index.js';
import { writeFileAtomicSync as writeFileAtomic } from '../src/io/atomic.js';
import { GPT } from '../src/models/gpt.js';
import { generate } from '../src/models/gpt-generate.js';
import { saveGPTWeights } from '../src/models/gpt-checkpoint.js';
import type { QuantScheme } from '../src/backend/quant-format.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const TORCH_PY = '/usr/bin/python3';
const SHAPE = { vocabSize: 50257, blockSize: 1024, nLayer: 12, nHead: 12, nEmbd: 768 };

const { values } = parseArgs({
  options: {
    tokens: { type: 'string', default: '32' },
    runs: { type: 'string', default: '3' },
    threads: { type: 'string', default: '1,2' },
    schemes: { type: 'string', default: 'int8,dynamic-int8,int4' },
    'no-torch': { type: 'boolean', default: false },
  },
});
const TOKENS = Number(values.tokens);
const RUNS = Number(values.runs);
const THREADS = String(values.threads).split(',').map(Number);
const SCHEMES = String(values.schemes).split(',') as QuantScheme[];

/** Best tokens/s of `runs` greedy decodes of TOKENS tokens from the one-token prompt [0]. */
function decodeSpeed(model: GPT): number {
  mox.noGrad(() => generate(model, [[0]], { maxNewTokens: 4, temperature: 0, useCache: true })); // warm up
  let best = 0;
  for (let r = 0; r < RUNS; r++) {
    const t0 = performance.now();
    mox.scope(() => mox.noGrad(() => generate(model, [[0]], { maxNewTokens: TOKENS, temperature: 0, useCache: true })));
    best = Math.max(best, TOKENS / ((performance.now() - t0) / 1000));
  }
  return best;
}

async function fileBytes(model: GPT, tmp: string, name: string): Promise<number> {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  await saveGPTWeights(dir, model);
  const n = statSync(join(dir, 'model.safetensors')).size;
  rmSync(dir, { recursive: true, force: true });
  return n;
}

interface Row {
  scheme: string;
  bytes: number;
  tokensPerSecond: Record<number, number>;
}

function torchPeer(threads: number): Record<string, number> | null {
  if (values['no-torch']) return null;
  const r = spawnSync(
    TORCH_PY,
    [join(root, 'bench', 'torch_quant.py'), '--threads', String(threads), '--tokens', String(TOKENS), '--runs', String(RUNS)],
    {
      encoding: 'utf8',
      timeout: 900_000,
    },
  );
  if (r.status !== 0) {
    console.error(`bench:quant: PyTorch peer failed at ${threads} threads: ${r.stderr?.trim().split('\n').pop() ?? r.error?.message}`);
    return null;
  }
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, number>;
}

async function main(): Promise<void> {
  const tmp = mkdtempSync(join(os.tmpdir(), 'mox-bench-quant-'));
  const rows: Row[] = [];
  try {
    for (const scheme of ['fp32', ...SCHEMES]) {
      const model = new GPT({ ...SHAPE, generator: new mox.Generator(0) }).eval();
      if (scheme !== 'fp32') mox.quantize(model, { scheme: scheme as QuantScheme });
      const row: Row = { scheme, bytes: await fileBytes(model, tmp, scheme), tokensPerSecond: {} };
      for (const t of THREADS) {
        mox.setNumThreads(t);
        row.tokensPerSecond[t] = decodeSpeed(model);
        console.error(`bench:quant: ${scheme} at ${t} thread(s): ${row.tokensPerSecond[t]!.toFixed(2)} tokens/s`);
      }
      rows.push(row);
      for (const [, b] of model.namedBuffers()) b.dispose();
      for (const p of model.parameters()) p.dispose();
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  const torch = THREADS.map((t) => [t, torchPeer(t)] as const);
  const fp32 = rows[0]!;
  const lines = [
    `GPT-2 small's shape (12 x 768, vocab 50257), random weights, batch 1, greedy decode of ${TOKENS} tokens with the KV cache, best of ${RUNS}; ${os.cpus()[0]?.model ?? 'CPU'}, mox kernels ${mox.backendInfo()['kernels']}.`,
    '',
    `| scheme | model.safetensors | size / fp32 | ${THREADS.map((t) => `tokens/s, ${t} thread${t > 1 ? 's' : ''} | x fp32`).join(' | ')} |`,
    `|---|---|---|${THREADS.map(() => '---|---').join('|')}|`,
    ...rows.map(
      (r) =>
        `| mox ${r.scheme} | ${(r.bytes / 1024 / 1024).toFixed(1)} MiB | ${(r.bytes / fp32.bytes).toFixed(3)} | ${THREADS.map((t) => `${r.tokensPerSecond[t]!.toFixed(2)} | ${(r.tokensPerSecond[t]! / fp32.tokensPerSecond[t]!).toFixed(2)}`).join(' | ')} |`,
    ),
  ];
  if (torch.some(([, p]) => p)) {
    const v = (k: string) =>
      THREADS.map((t, i) => {
        const p = torch[i]![1];
        return p ? `${p[k]!.toFixed(2)} | ${(p[k]! / fp32.tokensPerSecond[t]!).toFixed(2)}` : '- | -';
      }).join(' | ');
    lines.push(`| PyTorch fp32 | | | ${v('fp32')} |`, `| PyTorch quantize_dynamic int8 | | | ${v('dynamic_int8')} |`);
    lines.push(
      '',
      `PyTorch ${torch.find(([, p]) => p)?.[1]?.['torch']} (bench/torch_quant.py, its own thread setting per column); its "x fp32" is against mox fp32.`,
    );
  }
  const md = lines.join('\n');
  console.log(md);
  mkdirSync(join(root, 'bench', 'results'), { recursive: true });
  writeFileAtomic(join(root, 'bench', 'results', 'quant.md'), `${md}\n`);
  writeFileAtomic(
    join(root, 'bench', 'results', 'quant.json'),
    `${JSON.stringify({ tokens: TOKENS, runs: RUNS, rows, torch: Object.fromEntries(torch) }, null, 2)}\n`,
  );
}

await main();
