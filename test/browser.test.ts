// mox in a web page: test-support/browser-smoke.ts, bundled with `mox/browser` by esbuild, runs in
// headless Chromium (WebGPU on its SwiftShader adapter) and posts its results here. It must train on
// the CPU and on the GPU with the same losses and generate the same tokens on both. The test runner
// runs this file in its browser phase, when Chromium is found ($MOX_CHROMIUM, else /usr/bin/chromium).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { build } from 'esbuild';

const chromium = process.env['MOX_CHROMIUM'] ?? '/usr/bin/chromium';

test('mox/browser trains on the CPU and on WebGPU in headless Chromium, with the same numbers', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mox-browser-'));
  try {
    await build({
      entryPoints: ['dist/test-support/browser-smoke.js'],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      outfile: path.join(dir, 'smoke.js'),
      logLevel: 'error',
    });
    const page = '<!doctype html><meta charset="utf-8"><title>mox</title><script type="module" src="/smoke.js"></script>';
    let resolveResult!: (v: Record<string, unknown>) => void;
    const result = new Promise<Record<string, unknown>>((r) => (resolveResult = r));
    const server = http.createServer((req, res) => {
      if (req.method === 'POST' && req.url === '/result') {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString()));
        req.on('end', () => {
          res.end('ok');
          resolveResult(JSON.parse(body) as Record<string, unknown>);
        });
        return;
      }
      if (req.url === '/smoke.js') {
        res.setHeader('content-type', 'text/javascript');
        res.end(fs.readFileSync(path.join(dir, 'smoke.js')));
        return;
      }
      res.setHeader('content-type', 'text/html');
      res.end(page);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const browser = spawn(
      chromium,
      [
        '--headless=new',
        '--no-sandbox',
        '--enable-unsafe-webgpu',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        `--user-data-dir=${path.join(dir, 'profile')}`,
        `http://127.0.0.1:${port}/`,
      ],
      { stdio: 'ignore', detached: true },
    ); // its own process group, so all of Chromium's processes end together
    try {
      const timeout = new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error('the page posted no result within 120 s')), 120_000).unref(),
      );
      const r = await Promise.race([result, timeout]);
      assert.equal(r['ok'], true, String(r['error']));
      t.diagnostic(`adapter: ${String(r['adapter'])}; losses ${JSON.stringify(r['losses'])}; tokens ${JSON.stringify(r['gpuTokens'])}`);
      assert.equal(r['hasNavigatorGpu'], true);
      assert.equal(r['cpuKernels'], 'typescript', 'a page has no synchronous .wasm read: the CPU runs the TypeScript kernels');
      assert.ok(typeof r['adapter'] === 'string' && r['adapter'].length > 0, 'the adapter is named');
      const losses = r['losses'] as Record<string, number[]>;
      assert.equal(losses['webgpu']!.length, 3);
      losses['cpu']!.forEach((l, i) =>
        assert.ok(Math.abs(l - losses['webgpu']![i]!) < 1e-4, `step ${i}: cpu ${l}, webgpu ${losses['webgpu']![i]}`),
      );
      assert.ok(losses['cpu']![2]! < losses['cpu']![0]!, 'the loss falls');
      assert.deepEqual(r['gpuTokens'], r['cpuTokens']);
    } finally {
      const exited = new Promise((r) => browser.once('exit', r));
      try {
        process.kill(-browser.pid!, 'SIGKILL');
      } catch {
        browser.kill('SIGKILL');
      }
      await exited; // before its profile folder is removed
      server.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
  }
});
