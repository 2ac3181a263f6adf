// npm run example:<name> -- [args]: builds the project when dist/ is missing or older than the sources,
// then runs node dist/examples/<name>.js with the arguments, and exits with its exit code.
//
//   node scripts/run-example.mjs mnist-mlp --epochs 1 --limit 1000
//
// The examples are the `example:<name>` scripts of package.json (examples/ also holds the modules
// they share, which are not programs).

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildIfStale, root } from './build-if-stale.mjs';

const [name, ...args] = process.argv.slice(2);
const scripts = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts;
const known = Object.keys(scripts)
  .filter((k) => k.startsWith('example:'))
  .map((k) => k.slice('example:'.length))
  .sort();
if (!name || !known.includes(name)) {
  console.error(`usage: node scripts/run-example.mjs <${known.join('|')}> [options]`);
  process.exit(2);
}

buildIfStale([`dist/examples/${name}.js`]);
const r = spawnSync(process.execPath, [join(root, 'dist/examples', `${name}.js`), ...args], { stdio: 'inherit' });
if (r.error) throw r.error;
process.exit(r.status ?? 1);
