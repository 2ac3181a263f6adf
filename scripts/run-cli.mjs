// Runs the `mox` command (dist/src/cli/main.js) with the arguments, building first only when dist/ is
// missing or older than the sources. `npm run demo` is `node scripts/run-cli.mjs demo`.

import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { buildIfStale, root } from './build-if-stale.mjs';

buildIfStale(['dist/src/cli/main.js']);
const r = spawnSync(process.execPath, [join(root, 'dist/src/cli/main.js'), ...process.argv.slice(2)], { stdio: 'inherit' });
if (r.error) throw r.error;
process.exit(r.status ?? 1);
