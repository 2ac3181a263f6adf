#!/usr/bin/env node
// Builds the browser playground (`mox playground`) into dist/playground/: compiles src/web/ with the
// DOM's types (src/web/tsconfig.json; it imports mox/browser's declarations from dist/, so the package
// is compiled first), bundles dist/src/web/playground.js with esbuild -- mox/browser resolved to
// dist/src/browser.js, the package's own build -- and copies index.html, style.css and the kernels'
// .wasm files (dist/wasm/) beside it.
// `npm run build` runs it after tsc.

import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'playground');
const tmp = `${out}.tmp`;
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'src', 'web', 'tsconfig.json')], { stdio: 'inherit' });
if (r.status !== 0) {
  console.error('build-playground: tsc failed on src/web/');
  process.exit(1);
}
rmSync(tmp, { recursive: true, force: true });
mkdirSync(tmp, { recursive: true });
const result = await build({
  entryPoints: [join(root, 'dist', 'src', 'web', 'playground.js')],
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  alias: { 'mox/browser': join(root, 'dist', 'src', 'browser.js') },
  outfile: join(tmp, 'playground.js'),
  sourcemap: 'linked',
  minify: true,
  metafile: true,
  logLevel: 'error',
});
for (const f of ['index.html', 'style.css']) copyFileSync(join(root, 'src', 'web', f), join(tmp, f));
// the CPU kernels, which the page fetches and compiles (mox.loadWasmKernels); built by build-wasm.mjs
for (const f of ['mox-relaxed.wasm', 'mox-simd.wasm']) {
  const from = join(root, 'dist', 'wasm', f);
  if (existsSync(from)) copyFileSync(from, join(tmp, f));
  else console.warn(`build-playground: no ${from} (run node scripts/build-wasm.mjs): the page's CPU runs the TypeScript kernels`);
}
// the whole folder replaces the old one at once: a running server never reads half a build
rmSync(out, { recursive: true, force: true });
renameSync(tmp, out);
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
console.log(`build-playground: dist/playground/ (${(bytes / 1024).toFixed(0)} KiB with the source map)`);
