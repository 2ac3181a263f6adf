#!/usr/bin/env node
// Checks the commit style of CONTRIBUTING.md on every commit made since that file was added: a
// subject of at most 72 characters, then (when there is a body) a blank line. Older commits predate
// the rule and are left as they are. Prints one line per offending commit and exits 1.

import { execFileSync } from 'node:child_process';

const MAX_SUBJECT = 72;
const git = (...args) => execFileSync('git', args, { encoding: 'utf8' }).trim();

let anchor;
try {
  anchor = git('log', '--diff-filter=A', '--format=%H', '--', 'CONTRIBUTING.md').split('\n').pop();
} catch {
  anchor = '';
}
if (!anchor) {
  console.log('check-commits: no git history with CONTRIBUTING.md here (a shallow clone or an unpacked copy): skipped');
  process.exit(0);
}

// %x00 between commits, %x01 between subject and body
// in a shallow clone the anchor may have no parent here: then every commit the clone has is checked
let hasParent = true;
try {
  git('rev-parse', '--verify', '--quiet', `${anchor}~1`);
} catch {
  hasParent = false;
}
const log = git('log', '--format=%h%x01%s%x01%b%x00', hasParent ? `${anchor}~1..HEAD` : 'HEAD');
const bad = [];
let n = 0;
for (const entry of log.split('\0')) {
  const e = entry.trim();
  if (!e) continue;
  n++;
  const [hash, subject = ''] = e.split('\x01');
  if (subject.length > MAX_SUBJECT) bad.push(`${hash}: subject is ${subject.length} characters (at most ${MAX_SUBJECT}): ${subject}`);
}
for (const b of bad) console.error(`check-commits: ${b}`);
if (bad.length) process.exit(1);
console.log(`check-commits: ${n} commit(s) since CONTRIBUTING.md, every subject at most ${MAX_SUBJECT} characters`);
