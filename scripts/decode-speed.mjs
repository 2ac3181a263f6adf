// Decode speed of GPT checkpoint folders, measured in alternation so that each sees the same machine:
// round r generates --tokens tokens (greedy, KV cache, from the one-token prompt [0], as
// `mox compress-report`) with model 1, then model 2, ..., and times one forward pass of a batch of 12
// windows of the block size (no gradient: the work of an evaluation or a prompt's prefill); after
// --rounds rounds it prints each model's best and median of both and the ratios to the first model. On a machine shared with other jobs a
// single best-of-3 (compress-report's) can be off by 2x; the best of many alternated rounds is the
// figure least disturbed by them.
//
//   node scripts/decode-speed.mjs [--rounds 20] [--tokens 48] [--threads 1] DIR1 DIR2 [...]
//
// Keep --tokens below the block size: past it the window slides and each step recomputes the context.
//
// Uses dist/ (npm run build first).

import { parseArgs } from 'node:util';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const mox = await import(path.join(root, 'dist/src/index.js'));
const { loadGPT } = await import(path.join(root, 'dist/src/models/gpt-checkpoint.js'));
const { generateAsync } = await import(path.join(root, 'dist/src/models/gpt-generate.js'));

const { values, positionals } = parseArgs({
  options: { rounds: { type: 'string' }, tokens: { type: 'string' }, threads: { type: 'string' } },
  allowPositionals: true,
});
const int = (name, fallback) => {
  const v = values[name] === undefined ? fallback : Number(values[name]);
  if (!Number.isInteger(v) || v < 1) {
    console.error(`decode-speed: --${name} must be a positive integer, got '${values[name]}'`);
    process.exit(2);
  }
  return v;
};
const rounds = int('rounds', 20);
const tokens = int('tokens', 48);
if (positionals.length === 0) {
  console.error('usage: node scripts/decode-speed.mjs [--rounds 20] [--tokens 48] [--threads 1] DIR1 [DIR2 ...]');
  process.exit(2);
}
await mox.initDevice('cpu');
mox.setNumThreads(int('threads', 1));

const models = positionals.map((dir) => {
  const { model } = loadGPT(dir);
  model.eval();
  return { dir, model, heads: model.transformer.h.reduce((n, b) => n + b.attn.nHead, 0), speeds: [], forward: [] };
});
for (const m of models) (await generateAsync(m.model, [[0]], { maxNewTokens: 8, temperature: 0 })).ids.dispose(); // warm-up
for (let r = 0; r < rounds; r++) {
  for (const m of models) {
    const res = await generateAsync(m.model, [[0]], { maxNewTokens: tokens, temperature: 0, useCache: true });
    res.ids.dispose();
    m.speeds.push(res.tokensPerSecond);
    const { blockSize, vocabSize } = m.model.config;
    const x = mox.tensor(
      Int32Array.from({ length: 12 * blockSize }, (_, i) => (i * 7) % vocabSize),
      { shape: [12, blockSize], dtype: 'int32' },
    );
    const t0 = performance.now();
    mox.scope(() => mox.noGrad(() => m.model.forward(x).logits.dataSync()));
    m.forward.push((12 * blockSize) / ((performance.now() - t0) / 1000));
    x.dispose();
  }
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const first = models[0];
console.log(`decode: ${rounds} alternated rounds of ${tokens} tokens (greedy, KV cache, prompt [0]), threads ${mox.getNumThreads()}`);
for (const m of models) {
  const best = Math.max(...m.speeds);
  const med = median(m.speeds);
  const rb = best / Math.max(...first.speeds);
  const rm = med / median(first.speeds);
  const fb = Math.max(...m.forward);
  const fm = median(m.forward);
  console.log(
    `${m.dir}: ${m.model.getNumParams(false).toLocaleString('en-US')} parameters, ${m.heads} heads\n` +
      `  decode:  best ${best.toFixed(1)} tokens/s (${rb.toFixed(3)}x), median ${med.toFixed(1)} (${rm.toFixed(3)}x)\n` +
      `  forward: best ${fb.toFixed(0)} tokens/s (${(fb / Math.max(...first.forward)).toFixed(3)}x), median ${fm.toFixed(0)} (${(fm / median(first.forward)).toFixed(3)}x)`,
  );
}
