// Compiles the AssemblyScript kernels in assembly/ to dist/wasm/: once with plain SIMD and once with
// relaxed SIMD (fused multiply-add). Runs as part of `npm run build`, so `npm ci` on a fresh clone
// produces them from source; nothing is downloaded.

import asc from 'assemblyscript/asc';
import { mkdirSync, readFileSync } from 'node:fs';
import { BINDING_FILE, bindingProblems } from './check-wasm-binding.mjs';

// The TypeScript callers are checked by tsc against the binding; the binding must say what the
// kernels export, or a wrong argument list would reach a kernel unchecked.
const problems = bindingProblems(readFileSync(BINDING_FILE, 'utf8'));
if (problems.length) {
  for (const p of problems) console.error(`build-wasm: ${p}`);
  console.error(`build-wasm: ${BINDING_FILE} disagrees with assembly/index.ts; update one to match the other`);
  process.exit(1);
}

const common = [
  'assembly/index.ts',
  '-O3',
  '--noAssert',
  '--runtime',
  'stub',
  '--enable',
  'simd',
  '--enable',
  'threads',
  '--importMemory',
  '--sharedMemory',
  '--initialMemory',
  '16',
  '--maximumMemory',
  '65536',
  // our own allocator owns everything above 1 MiB; the module's static data stays below it
  '--memoryBase',
  '1024',
];
const variants = [
  ['dist/wasm/mox-simd.wasm', []],
  ['dist/wasm/mox-relaxed.wasm', ['--enable', 'relaxed-simd']],
];

mkdirSync('dist/wasm', { recursive: true });
for (const [out, extra] of variants) {
  const { error, stderr } = await asc.main([...common, ...extra, '-o', out], {});
  if (error) {
    console.error(stderr.toString());
    console.error(`build-wasm: ${out}: ${error.message}`);
    process.exit(1);
  }
}
