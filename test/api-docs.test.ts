// The API reference (npm run docs): TypeDoc over the two entry points (src/index.ts, src/browser.ts) with
// validation as errors, so an export without a doc comment, a broken {@link} or a type that is
// referenced but not exported fails the suite, not just the docs build. Runs TypeDoc as a child with
// --emit none (no HTML written) and without type-checking (typedoc.json's skipErrorChecking: the build's
// tsc does that): about 11 s of CPU, 36-47 s of wall time on a 2-core machine shared with four builds.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const config = JSON.parse(readFileSync(`${root}typedoc.json`, 'utf8')) as {
  entryPoints: string[];
  treatWarningsAsErrors: boolean;
  validation: Record<string, boolean>;
  requiredToBeDocumented: string[];
};

describe('API reference (TypeDoc)', () => {
  it('checks what the brief asks: both entry points, every kind of export, validation as errors', () => {
    // A config that quietly stopped validating would let the run below pass on anything.
    assert.deepEqual(config.entryPoints, ['src/index.ts', 'src/browser.ts']);
    assert.equal(config.treatWarningsAsErrors, true);
    assert.deepEqual(config.validation, { notExported: true, invalidLink: true, notDocumented: true });
    for (const kind of [
      'Function',
      'Class',
      'Constructor',
      'Method',
      'Property',
      'Accessor',
      'Interface',
      'TypeAlias',
      'Namespace',
      'Variable',
      'Enum',
    ]) {
      assert.ok(config.requiredToBeDocumented.includes(kind), `requiredToBeDocumented lacks ${kind}`);
    }
  });

  it('every exported name has a doc comment, every {@link} resolves, every referenced type is exported', () => {
    const typedoc = `${root}node_modules/typedoc/bin/typedoc`;
    const r = spawnSync(process.execPath, [typedoc, '--emit', 'none', '--logLevel', 'Warn'], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
    });
    // TypeDoc prints one line per undocumented name ("X (Method), defined in mox/src/..., does not have
    // any documentation"); show the first ones so the failure says what to document.
    const lines = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.trim() !== '');
    assert.equal(r.status, 0, `typedoc failed (${lines.length} lines):\n${lines.slice(0, 40).join('\n')}`);
  });
});
