// The native CPU tier as a whole: its kernels stand in for WebAssembly kernels of the same name and
// arity; MOX_CPU_KERNELS selects each level (and WebAssembly, and the reference); backendInfo and the
// trace say which runs, workers included; and the build never fails an install, whatever the machine
// lacks. The kernels' numbers are checked by native-*.test.ts and, on every tier, by the fast-* and
// golden tests (scripts/run-tests.mjs runs those once per tier).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as mox from '../src/index.js';
import { wasmRuntime } from '../src/backend/cpu/wasm/runtime.js';
import { openNative } from '../src/backend/cpu/native/loader.js';

const rt = wasmRuntime();
const native = rt?.native ?? null;
const notRunning = `native kernels not running: ${rt?.nativeReason ?? 'no WebAssembly runtime'}`;

function child(code: string, env: Record<string, string | undefined>): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], {
    encoding: 'utf8',
    env: { ...process.env, MOX_TRACE_KERNELS: undefined, ...env },
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const INFO = `import('${path.resolve('dist/src/index.js')}').then((m) => console.log(JSON.stringify(m.backendInfo())))`;

test('each native kernel has a WebAssembly twin of the same name and arity', (t) => {
  if (!native) return t.skip(notRunning);
  const m = openNative(native.path);
  const arity = m.arity();
  assert.deepEqual(Object.keys(native.kernels).sort(), Object.keys(arity).sort());
  assert.ok(Object.keys(arity).includes('sgemmBatched'));
  const header = readFileSync('native/kernels.h', 'utf8');
  for (const [name, n] of Object.entries(arity)) {
    const twin = (rt!.wasmExports as unknown as Record<string, unknown>)[name];
    assert.equal(typeof twin, 'function', `${name} has no WebAssembly twin`);
    assert.equal(
      (twin as (...a: number[]) => void).length,
      n,
      `${name}: native takes ${n} arguments, WebAssembly ${(twin as () => void).length}`,
    );
    assert.match(header, new RegExp(`X\\(${name}, ${n}\\)`));
  }
  // a wrong call is a JavaScript error, not a crash
  assert.throws(() => (m.sgemm as (...a: unknown[]) => void)(1, 2), /sgemm takes 14 arguments, got 2/);
  assert.throws(() => (m.sgemm as (...a: unknown[]) => void)(...Array(13).fill(0), 'x'), /argument 13 is not a number/);
});

test('MOX_CPU_KERNELS selects every native level this CPU runs, WebAssembly and the reference', (t) => {
  if (!native) return t.skip(notRunning);
  for (const level of native.levels) {
    const r = child(INFO, { MOX_CPU_KERNELS: `native-${level}` });
    assert.equal(r.status, 0, r.stderr);
    const info = JSON.parse(r.stdout) as Record<string, string>;
    assert.equal(info.kernels, `native-${level}`);
    assert.equal(info.nativeLevels, native.levels.join(','));
  }
  const best = JSON.parse(child(INFO, { MOX_CPU_KERNELS: 'native' }).stdout) as Record<string, string>;
  assert.equal(best.kernels, `native-${native.levels[native.levels.length - 1]}`);
  for (const [want, kernels] of [
    ['relaxed-simd', 'wasm-relaxed-simd'],
    ['simd', 'wasm-simd'],
    ['typescript', 'typescript'],
  ]) {
    const info = JSON.parse(child(INFO, { MOX_CPU_KERNELS: want }).stdout) as Record<string, string>;
    assert.equal(info.kernels, kernels, want);
  }
  // a level the CPU or the architecture lacks: a warning, and WebAssembly runs everything
  const r = child(INFO, { MOX_CPU_KERNELS: 'native-sve' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /MOX_CPU_KERNELS=native-sve: no level 'sve' on this architecture; running the WebAssembly kernels/);
  assert.equal((JSON.parse(r.stdout) as Record<string, string>).kernels, 'wasm-relaxed-simd');
});

test('worker threads run the native kernels too, with the same results as one thread', (t) => {
  if (!native) return t.skip(notRunning);
  const code = `
    const mox = await import('${path.resolve('dist/src/index.js')}');
    const g = new mox.Generator(5);
    const a = mox.randn([300, 257], { generator: g }), b = mox.randn([257, 129], { generator: g });
    mox.setNumThreads(1); const one = a.matmul(b).to('float64');
    mox.setNumThreads(2); const two = a.matmul(b).to('float64');
    const exact = a.to('float64').matmul(b.to('float64'));
    console.log(JSON.stringify({ split: two.sub(one).abs().max().item(), err: two.sub(exact).abs().max().item() }));`;
  const r = child(code, { MOX_TRACE_KERNELS: '1' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`cpu\\.matmul: native-${native.level} sgemmBatched split over 2 threads`));
  const { split, err } = JSON.parse(r.stdout) as { split: number; err: number };
  assert.equal(split, 0, 'a split must not change any result');
  assert.ok(err < 1e-3, `error against float64: ${err}`);
});

test('the native build never fails an install: no compiler, a failing compiler, switched off', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mox-native-build-'));
  try {
    const build = (env: Record<string, string>): { status: number | null; reason: string; ok: boolean } => {
      const out = path.join(dir, 'out');
      rmSync(out, { recursive: true, force: true });
      const r = spawnSync(process.execPath, ['scripts/build-native.mjs', '--out', out, '--force'], {
        encoding: 'utf8',
        env: { ...process.env, ...env },
        timeout: 120_000,
      });
      const status = JSON.parse(readFileSync(path.join(out, 'build.json'), 'utf8')) as { ok: boolean; reason?: string };
      return { status: r.status, reason: status.reason ?? '', ok: status.ok };
    };
    const none = build({ CC: path.join(dir, 'no-such-cc') });
    assert.equal(none.status, 0);
    assert.equal(none.ok, false);
    assert.match(none.reason, /no C compiler/);
    // a compiler that answers --version and then fails every compile
    const fake = path.join(dir, 'broken-cc');
    writeFileSync(
      fake,
      '#!/bin/sh\nif [ "$1" = --version ]; then echo broken-cc 1.0; exit 0; fi\necho "broken-cc: internal error" >&2\nexit 1\n',
    );
    chmodSync(fake, 0o755);
    const broken = build({ CC: fake });
    assert.equal(broken.status, 0);
    assert.equal(broken.ok, false);
    assert.match(broken.reason, /the compile failed: .*broken-cc: internal error/);
    const off = build({ MOX_NATIVE_BUILD: '0' });
    assert.equal(off.status, 0);
    assert.match(off.reason, /MOX_NATIVE_BUILD=0/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('without the native module, mox runs on WebAssembly and says why', () => {
  assert.ok(mox.backendInfo().device === 'cpu' || process.env.MOX_DEVICE === 'webgpu');
  const r = child(INFO, { MOX_CPU_KERNELS: 'relaxed-simd' });
  const info = JSON.parse(r.stdout) as Record<string, string>;
  assert.equal(info.native, 'not running: MOX_CPU_KERNELS=relaxed-simd');
});
