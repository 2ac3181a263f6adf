// The native kernels as built for arm64 (NEON, the baseline level there), checked on this x86-64
// machine: cross-compiled with aarch64-linux-gnu-gcc and run under qemu-user against plain C loops
// (native/check/arm64-harness.c). Node itself is not emulated, so this checks the kernels' C, not
// the Node-API module; the module's build is the same command with the native compiler.
//
//   apt-get install gcc-aarch64-linux-gnu qemu-user     (Debian)
//   node scripts/check-native-arm64.mjs

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'native');
const cc = process.env.CC_ARM64 || 'aarch64-linux-gnu-gcc';
const qemu = process.env.QEMU_ARM64 || 'qemu-aarch64';
for (const tool of [cc, qemu]) {
  if (spawnSync(tool, ['--version']).status !== 0) {
    console.error(`check-native-arm64: ${tool} not found (Debian: apt-get install gcc-aarch64-linux-gnu qemu-user)`);
    process.exit(2);
  }
}
const work = mkdtempSync(join(tmpdir(), 'mox-arm64-'));
try {
  const files = readdirSync(src)
    .filter((f) => f.endsWith('.c') && f !== 'binding.c')
    .map((f) => join(src, f));
  const exe = join(work, 'harness');
  const args = [
    '-O3',
    '-std=gnu11',
    '-fno-math-errno',
    '-Wall',
    '-DMOX_LEVEL_base',
    '-I',
    src,
    ...files,
    join(src, 'check', 'arm64-harness.c'),
    '-o',
    exe,
    '-lm',
  ];
  const c = spawnSync(cc, args, { encoding: 'utf8' });
  if (c.status !== 0) {
    console.error(`check-native-arm64: the cross compile failed:\n${c.stderr}`);
    process.exit(1);
  }
  const r = spawnSync(qemu, ['-L', '/usr/aarch64-linux-gnu', exe], { encoding: 'utf8', timeout: 600_000 });
  process.stdout.write(r.stdout);
  if (r.stderr) process.stderr.write(r.stderr);
  console.log(r.status === 0 ? 'check-native-arm64: NEON kernels agree with the C loops' : `check-native-arm64: FAILED (exit ${r.status})`);
  process.exit(r.status === 0 ? 0 : 1);
} finally {
  rmSync(work, { recursive: true, force: true });
}
