// More kills than `npm test` runs: kill -9 at seeded moments, resume, and compare with the
// uninterrupted run, for `mox train gpt` and for model.fit with train.BackupAndRestore.
//
//   node scripts/crash-kills.mjs [--kills N] [--seed S] [--only gpt|fit]
//
// Needs a build (npm run build). Prints each kill (where, and which checkpoints were on disk after it)
// and a summary; exits 1 at the first checkpoint that is unreadable or run that differs.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { kills: { type: 'string' }, seed: { type: 'string' }, only: { type: 'string' } } });
const kills = Number(values.kills ?? 100);
const seed = Number(values.seed ?? 1);
const { runKillChain } = await import('../dist/test-support/kill-chain.js');
const { gptKillChainSpec, gptReference } = await import('../dist/test-support/crash-gpt.js');
const { fitKillChainSpec, fitReference } = await import('../dist/test-support/crash-fit.js');

const suites = {
  gpt: (dir) => gptKillChainSpec(dir, gptReference(dir)),
  fit: (dir) => fitKillChainSpec(dir, fitReference(dir, '3'), '3'),
};
let failed = false;
for (const [name, make] of Object.entries(suites)) {
  if (values.only && values.only !== name) continue;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `mox-crash-${name}-`));
  const t0 = Date.now();
  try {
    const report = await runKillChain(make(dir), kills, seed);
    const byPoint = {};
    for (const k of report.kills) {
      const key = k.how.startsWith('SIGKILL') ? 'from outside' : k.how.replace(/^MOX_TEST_CRASH_AT=/, '').replace(/:\d+$/, '');
      byPoint[key] = (byPoint[key] ?? 0) + 1;
      console.log(`${name}: ${k.how}: ${k.onDisk}`);
    }
    console.log(
      `${name}: ${report.kills.length} kills (${Object.entries(byPoint)
        .map(([k, v]) => `${k} ${v}`)
        .join(
          ', ',
        )}), every checkpoint whole after each; ${report.completed} completed runs, all byte-identical to the uninterrupted run (${((Date.now() - t0) / 1000).toFixed(0)} s)`,
    );
  } catch (e) {
    console.error(`${name}: FAILED: ${e.message}`);
    failed = true;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
process.exit(failed ? 1 : 0);
