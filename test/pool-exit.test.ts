// The worker pool must never keep the process alive: a script that used every thread exits as soon
// as its own work is done.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

test('a script that ran multi-threaded kernels exits on its own', () => {
  const entry = pathToFileURL(path.resolve('dist/src/index.js')).href;
  const script = `
    const mox = await import(${JSON.stringify(entry)});
    mox.setNumThreads(2);
    const a = mox.randn([512, 512]);
    const c = a.matmul(a);
    console.log(JSON.stringify({ threads: mox.getNumThreads(), kernels: mox.backendInfo().kernels, sum: Number.isFinite(c.sum().item()) }));
  `;
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim());
  assert.equal(out.sum, true);
  assert.equal(out.threads, 2);
  // a kept-alive pool would hit the 30 s timeout (status null) instead of exiting
  assert.ok(Date.now() - t0 < 25_000);
});
