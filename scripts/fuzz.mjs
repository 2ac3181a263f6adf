// `npm run fuzz`: the seeded fuzzer of mox's file readers (test-support/fuzz/, run from dist/).
//
//   node scripts/fuzz.mjs [--iterations N] [--seed S] [--reader NAME[,NAME...]] [--input I] [--save DIR] [--json FILE]
//
// Each reader gets N inputs (default 100,000), each one to three mutations of a valid seed file. Every
// input must end in success or a MoxError naming the file, within 1 s of CPU time, with heap growth under 16x its
// size + 32 MiB; anything else is a finding (listed, and the exit status is 1). --input I replays one
// input of one reader; --save DIR keeps the files of every finding there; --json FILE writes the counts.

import * as fs from 'node:fs';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = args[i + 1];
  if (v === undefined) {
    console.error(`fuzz: --${name} needs a value`);
    process.exit(2);
  }
  return v;
};
const int = (name, fallback) => {
  const v = Number(opt(name, fallback));
  if (!Number.isSafeInteger(v) || v < 0) {
    console.error(`fuzz: --${name} must be a non-negative integer`);
    process.exit(2);
  }
  return v;
};
const known = new Set(['--iterations', '--seed', '--reader', '--input', '--save', '--json']);
for (let i = 0; i < args.length; i += 2) {
  if (!known.has(args[i])) {
    console.error(`fuzz: unknown argument '${args[i]}' (expected ${[...known].join(', ')})`);
    process.exit(2);
  }
}

const iterations = int('iterations', 100_000);
const seed = int('seed', 1);
const only = opt('input', undefined) === undefined ? undefined : int('input', 0);
const save = opt('save', undefined);
const json = opt('json', undefined);
process.env.MOX_DEVICE ??= 'cpu';

const { TARGETS, fuzzReader, targetNamed } = await import('../dist/test-support/fuzz/runner.js');
let targets;
try {
  const names = opt('reader', undefined);
  targets = names === undefined ? TARGETS : names.split(',').map(targetNamed);
} catch (e) {
  console.error(`fuzz: ${e.message}`);
  process.exit(2);
}

console.log(
  `fuzz: seed ${seed}, ${only === undefined ? `${iterations} inputs` : `input ${only}`} per reader, readers: ${targets.map((t) => t.name).join(', ')}`,
);
const mib = (b) => (b / 2 ** 20).toFixed(1);
const rows = [];
let findings = 0;
for (const t of targets) {
  const started = Date.now();
  const s = await fuzzReader(t, {
    iterations,
    seed,
    only,
    saveFindings: save,
    progressEvery: 10_000,
    onProgress: (p, i) =>
      console.log(`  ${t.name}: ${i} inputs, ${p.findings.length} findings, ${((Date.now() - started) / 1000).toFixed(0)} s`),
  });
  const secs = (Date.now() - started) / 1000;
  rows.push({ ...s, seconds: secs, findingCount: s.findings.length });
  findings += s.findings.length;
  console.log(
    `${t.name}: ${s.inputs} inputs, ${s.successes} successes, ${s.typedErrors} typed errors, ${s.findings.length} findings; ` +
      `slowest ${s.slowestMs.toFixed(1)} ms CPU (input ${s.slowestIndex}), ${s.slowestWallMs.toFixed(1)} ms wall; max heap growth ${mib(s.maxGrowth)} MiB (input of ${s.maxGrowthInputBytes} bytes); ${secs.toFixed(0)} s`,
  );
  const byKind = {};
  for (const f of s.findings) (byKind[`${f.kind}: ${f.message.split('\n')[0].replace(/\d+/g, 'N').slice(0, 140)}`] ??= []).push(f.index);
  for (const [k, idx] of Object.entries(byKind)) {
    console.log(`  FINDING x${idx.length} ${k}\n    replay: node scripts/fuzz.mjs --reader ${t.name} --seed ${seed} --input ${idx[0]}`);
    const first = s.findings.find((f) => f.index === idx[0]);
    if (first) console.log(`    ${first.message.split('\n').join('\n    ')}`);
  }
}

console.log(
  '\n| reader | inputs | successes | typed errors | findings | slowest input (ms CPU) | max heap growth (MiB) for an input of (bytes) |',
);
console.log('|---|---:|---:|---:|---:|---:|---:|');
for (const r of rows)
  console.log(
    `| ${r.reader} | ${r.inputs} | ${r.successes} | ${r.typedErrors} | ${r.findingCount} | ${r.slowestMs.toFixed(1)} | ${mib(r.maxGrowth)} for ${r.maxGrowthInputBytes} |`,
  );
if (json)
  fs.writeFileSync(
    json,
    `${JSON.stringify({ seed, iterations, rows: rows.map(({ findings: f, ...r }) => ({ ...r, findings: f.slice(0, 20) })) }, null, 2)}\n`,
  );
process.exit(findings > 0 ? 1 : 0);
