// The typed binding of the WebAssembly kernels and the MOX_TRACE_KERNELS switch: the binding must say
// what assembly/index.ts exports (the build fails otherwise, and so does this), and the trace must
// name the tier that ran each backend call.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

interface BindingCheck {
  BINDING_FILE: string;
  bindingProblems(bindingText: string, read?: (file: string) => string): string[];
}

const check = (await import(pathToFileURL(path.resolve('scripts/check-wasm-binding.mjs')).href)) as BindingCheck;
const binding = readFileSync(check.BINDING_FILE, 'utf8');

test('the binding agrees with assembly/index.ts', () => {
  assert.deepEqual(check.bindingProblems(binding), []);
});

test('the binding check names a parameter that disagrees, a missing kernel and an extra one', () => {
  const renamed = binding.replace(/(sgemmBatched\(\s*)nb: i32/, '$1batches: i32');
  assert.notEqual(renamed, binding);
  assert.match(check.bindingProblems(renamed).join('\n'), /sgemmBatched: parameters \(batches: i32/);
  const retyped = binding.replace(/(unaryF32\([^)]*)p0: f32/, '$1p0: i32');
  assert.match(check.bindingProblems(retyped).join('\n'), /unaryF32: parameters/);
  const missing = binding.replace(/\n\s*vexp\([^)]*\): void;/, '');
  assert.match(check.bindingProblems(missing).join('\n'), /vexp: exported by assembly\/index.ts .* but missing/);
  const extra = binding.replace('export interface KernelExports {', 'export interface KernelExports {\n  notAKernel(x: i32): void;');
  assert.match(check.bindingProblems(extra).join('\n'), /notAKernel: in .* but not exported/);
});

test('MOX_TRACE_KERNELS=1 prints the tier of each CPU backend call', () => {
  const entry = pathToFileURL(path.resolve('dist/src/index.js')).href;
  const script = `
    const mox = await import(${JSON.stringify(entry)});
    mox.setNumThreads(2);
    const a = mox.randn([512, 512]);
    a.matmul(a);
    mox.randn([4, 4]).matmul(mox.randn([4, 4]));
    mox.tensor([1, 2, 3], { dtype: 'float64' }).exp();
    console.log(mox.backendInfo().kernels);
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, MOX_DEVICE: 'cpu', MOX_TRACE_KERNELS: '1' },
  });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('mox kernels: '));
  if (!r.stdout.startsWith('wasm')) return; // no WASM SIMD here: everything is the reference tier
  assert.ok(lines.includes('mox kernels: cpu.matmul: wasm sgemmBatched split over 2 threads'), lines.join('\n'));
  assert.ok(lines.includes('mox kernels: cpu.matmul: wasm sgemmBatched on the calling thread'), lines.join('\n'));
  assert.ok(lines.includes('mox kernels: cpu.unary: typescript reference'), lines.join('\n'));
  assert.ok(!lines.some((l) => l.includes('cpu.alloc')), 'memory methods are left out');
  // off by default
  const quiet = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, MOX_DEVICE: 'cpu', MOX_TRACE_KERNELS: '' },
  });
  assert.equal(quiet.status, 0, quiet.stderr);
  assert.ok(!quiet.stderr.includes('mox kernels:'));
});
