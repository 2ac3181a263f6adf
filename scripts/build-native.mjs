// Builds the native CPU kernels (native/*.c) into dist/native/mox-native.node with the machine's C
// compiler and the Node-API headers of the npm package node-api-headers: no download, no node-gyp.
// Run by `npm install` (the package's install script) and by `npm run build`.
//
// It never fails an install: without a compiler, on a platform it does not build for, or when a
// compile fails, it says why, writes that reason to dist/native/build.json and exits 0, and mox runs
// on its WebAssembly kernels (mox.backendInfo() and `mox info` repeat the reason).
//
// Each kernel file is compiled once per dispatch level (x86-64: avx512, avx2, base; arm64: neon as
// the base), binding.c once; the loader picks the level at run time (MOX_CPU_KERNELS overrides).
// A build whose inputs (sources, flags, compiler, Node's ABI) match the last one is skipped.
//
//   CC=clang node scripts/build-native.mjs    another compiler (default: $CC, else cc)
//   MOX_NATIVE_BUILD=0                        skip the build (mox then runs on WebAssembly)
//   --force                                   rebuild even when nothing changed
//   --out DIR                                 write the module and build.json there (tests)

import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'native');
const outArg = process.argv.indexOf('--out');
const outDir = outArg > 0 && process.argv[outArg + 1] ? process.argv[outArg + 1] : join(root, 'dist', 'native');
const outFile = join(outDir, 'mox-native.node');
const statusFile = join(outDir, 'build.json');
const started = Date.now();

function finish(status) {
  mkdirSync(outDir, { recursive: true });
  // a failed rebuild must not leave the module of older sources to be loaded as if it were current
  if (!status.ok) rmSync(outFile, { force: true });
  const tmp = `${statusFile}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify({ ...status, builtAt: new Date().toISOString() }, null, 2)}\n`);
  renameSync(tmp, statusFile);
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  if (status.ok) console.log(`mox: native CPU kernels built (${status.levels.join(', ')}) in ${secs} s: ${outFile}`);
  else console.log(`mox: native CPU kernels not built (${status.reason}); mox will run on its WebAssembly kernels`);
  process.exit(0);
}

const LEVEL_FLAGS = {
  avx512: ['-mavx512f', '-mavx512bw', '-mavx512dq', '-mavx512vl', '-mavx2', '-mfma', '-mf16c'],
  avx2: ['-mavx2', '-mfma', '-mf16c'],
  base: [],
};

function levelsFor(arch) {
  if (arch === 'x64') return ['base', 'avx2', 'avx512'];
  return ['base']; // arm64: NEON is the baseline, 4-wide vectors; elsewhere plain vector code
}

function run(cmd, args) {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => {
      err += d;
    });
    const timer = setTimeout(() => p.kill('SIGKILL'), 180_000);
    p.on('error', (e) => {
      clearTimeout(timer);
      resolve({ ok: false, err: e.message });
    });
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ ok: code === 0, err });
    });
  });
}

async function main() {
  if (process.env.MOX_NATIVE_BUILD === '0') finish({ ok: false, reason: 'MOX_NATIVE_BUILD=0 skipped the build' });
  if (process.platform !== 'linux' && process.platform !== 'darwin') {
    finish({ ok: false, reason: `no native build for ${process.platform} yet` });
  }
  const cc = process.env.CC || 'cc';
  const probe = spawnSync(cc, ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) finish({ ok: false, reason: `no C compiler (${cc} --version failed)` });
  const compiler = probe.stdout.split('\n')[0].trim();
  let headers;
  try {
    headers = join(dirname(createRequire(import.meta.url).resolve('node-api-headers/package.json')), 'include');
  } catch {
    finish({ ok: false, reason: 'the node-api-headers package is not installed' });
  }
  const files = readdirSync(src)
    .filter((f) => f.endsWith('.c') || f.endsWith('.h'))
    .sort();
  const families = files.filter((f) => f.endsWith('.c') && f !== 'binding.c');
  const levels = levelsFor(process.arch);
  const common = ['-O3', '-fPIC', '-std=gnu11', '-fno-math-errno', '-fvisibility=hidden', '-Wall', '-I', src, '-I', headers];
  if (process.arch === 'x64') common.push('-DMOX_X86_LEVELS');

  const hash = createHash('sha256');
  for (const f of files) hash.update(f).update(readFileSync(join(src, f)));
  hash.update(
    JSON.stringify({ common: common.slice(0, 6), LEVEL_FLAGS, levels, compiler, abi: process.versions.napi, arch: process.arch }),
  );
  const digest = hash.digest('hex').slice(0, 16);
  if (!process.argv.includes('--force') && existsSync(outFile) && existsSync(statusFile)) {
    try {
      const last = JSON.parse(readFileSync(statusFile, 'utf8'));
      if (last.ok && last.inputs === digest) {
        console.log(`mox: native CPU kernels up to date (${last.levels.join(', ')})`);
        return;
      }
    } catch {
      /* rebuild */
    }
  }

  const work = join(tmpdir(), `mox-native-${process.pid}`);
  mkdirSync(work, { recursive: true });
  try {
    const jobs = [{ args: [...common, '-c', join(src, 'binding.c'), '-o', join(work, 'binding.o')], obj: join(work, 'binding.o') }];
    for (const level of levels) {
      for (const f of families) {
        const obj = join(work, `${f.replace(/\.c$/, '')}.${level}.o`);
        jobs.push({ args: [...common, ...LEVEL_FLAGS[level], `-DMOX_LEVEL_${level}`, '-c', join(src, f), '-o', obj], obj });
      }
    }
    // compile on every core; the first failure ends the build with its message
    const queue = [...jobs];
    const failures = [];
    await Promise.all(
      Array.from({ length: Math.max(1, availableParallelism()) }, async () => {
        for (let j = queue.shift(); j && failures.length === 0; j = queue.shift()) {
          const r = await run(cc, j.args);
          if (!r.ok) failures.push(`${cc} ${j.args.slice(-3).join(' ')}: ${r.err.trim().split('\n').slice(0, 6).join(' | ')}`);
        }
      }),
    );
    if (failures.length) finish({ ok: false, reason: `the compile failed: ${failures[0]}`, compiler });
    const linkTmp = join(work, 'mox-native.node');
    const link = ['-shared', '-o', linkTmp, ...jobs.map((j) => j.obj), '-lm', '-pthread'];
    if (process.platform === 'darwin') link.push('-undefined', 'dynamic_lookup');
    const r = await run(cc, link);
    if (!r.ok) finish({ ok: false, reason: `the link failed: ${r.err.trim().split('\n').slice(0, 4).join(' | ')}`, compiler });
    mkdirSync(outDir, { recursive: true });
    // a temporary name, then rename: a process that has the old module loaded keeps its copy intact
    const staged = `${outFile}.${process.pid}.tmp`;
    writeFileSync(staged, readFileSync(linkTmp));
    renameSync(staged, outFile);
    finish({ ok: true, levels: levels.map((l) => (process.arch === 'arm64' && l === 'base' ? 'neon' : l)), compiler, inputs: digest });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => finish({ ok: false, reason: `the build script failed: ${e?.message ?? e}` }));
