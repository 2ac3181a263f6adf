// npm run example:<name> -- [args]: builds the project when dist/ is missing or older than the sources,
// then runs node dist/examples/<name>.js with the arguments, and exits with its exit code.
//
//   node scripts/run-example.mjs mnist-mlp --epochs 1 --limit 1000

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const [name, ...args] = process.argv.slice(2);
const known = readdirSync(join(root, 'examples')).filter((f) => f.endsWith('.ts')).map((f) => f.slice(0, -3)).sort();
if (!name || !known.includes(name)) {
  console.error(`usage: node scripts/run-example.mjs <${known.join('|')}> [options]`);
  process.exit(2);
}

/** The newest modification time of the files under `dir` (recursively), or of `dir` itself when a file. */
function newest(path) {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let t = 0;
  for (const e of readdirSync(path)) t = Math.max(t, newest(join(path, e)));
  return t;
}

/** True when every output exists and is newer than every source. */
function fresh(outputs, sources) {
  if (!outputs.every((p) => existsSync(join(root, p)))) return false;
  const built = Math.min(...outputs.map((p) => newest(join(root, p))));
  return Math.max(...sources.map((p) => newest(join(root, p)))) <= built;
}

// tsc's outputs against the TypeScript sources, the kernels against the AssemblyScript sources
const upToDate =
  fresh([`dist/examples/${name}.js`, 'dist/src/index.js'], ['src', 'examples', 'tsconfig.json']) &&
  fresh(['dist/wasm/mox-simd.wasm', 'dist/wasm/mox-relaxed.wasm'], ['assembly', 'scripts/build-wasm.mjs']);
if (!upToDate) {
  console.error('building (npm run build) ...');
  const b = spawnSync(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });
  if (b.status !== 0) process.exit(b.status ?? 1);
}

const r = spawnSync(process.execPath, [join(root, 'dist/examples', `${name}.js`), ...args], { stdio: 'inherit' });
if (r.error) throw r.error;
process.exit(r.status ?? 1);
