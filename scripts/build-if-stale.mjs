// Runs `npm run build` only when dist/ is missing or older than the sources, so a one-second command
// (an example, `npm run demo`) does not pay the ~20 s build each time. Shared by the scripts that run
// compiled programs (run-example.mjs, run-cli.mjs, run-results.mjs).

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The newest modification time of the files under `path` (recursively), or of `path` itself when a file. */
function newest(path) {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let t = 0;
  for (const e of readdirSync(path)) t = Math.max(t, newest(join(path, e)));
  return t;
}

/** True when every output exists and is newer than every source (paths relative to the root). */
function fresh(outputs, sources) {
  if (!outputs.every((p) => existsSync(join(root, p)))) return false;
  const built = Math.min(...outputs.map((p) => newest(join(root, p))));
  return Math.max(...sources.map((p) => newest(join(root, p)))) <= built;
}

/**
 * Whether dist/ is current: tsc's outputs (`outputs`, e.g. the program to run, and the library entry)
 * against the TypeScript sources, the kernels against the AssemblyScript sources.
 */
export function upToDate(outputs) {
  return (
    fresh([...outputs, 'dist/src/index.js'], ['src', 'examples', 'tsconfig.json']) &&
    fresh(['dist/wasm/mox-simd.wasm', 'dist/wasm/mox-relaxed.wasm'], ['assembly', 'scripts/build-wasm.mjs'])
  );
}

/** Builds (npm run build) unless `upToDate(outputs)`; exits with the build's code when it fails. */
export function buildIfStale(outputs) {
  if (upToDate(outputs)) return;
  console.error('building (npm run build) ...');
  const b = spawnSync(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });
  if (b.status !== 0) process.exit(b.status ?? 1);
}
