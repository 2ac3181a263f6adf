// Compiles the AssemblyScript kernels in assembly/ to dist/wasm/: once with plain SIMD and once with
// relaxed SIMD (fused multiply-add). Runs as part of `npm run build`, so `npm ci` on a fresh clone
// produces them from source; nothing is downloaded.

import asc from 'assemblyscript/asc';
import { mkdirSync } from 'node:fs';

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
