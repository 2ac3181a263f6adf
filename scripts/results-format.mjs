// The pure half of `npm run results` (scripts/run-results.mjs runs the programs): reading a program's
// figures from its output, judging them against the targets, and rendering docs/results.md from the
// saved rows. No process is started and no file is touched here, so test/results.test.ts can check it
// on fixed lines.

/** The `RESULT {json}` line of an output (the last one), parsed, or null. */
export function parseResultLine(output) {
  const lines = output.split(/\r?\n|\r/).filter((l) => l.startsWith('RESULT '));
  if (!lines.length) return null;
  try {
    const r = JSON.parse(lines.at(-1).slice('RESULT '.length));
    return r && typeof r === 'object' && !Array.isArray(r) ? r : null;
  } catch {
    return null;
  }
}

/**
 * `mox train gpt`'s figures from what it prints: the last evaluation line
 * (`step 2000: train loss 1.7321, val loss 1.8837, ...`), as a RESULT-like object, or null.
 */
export function parseGptEval(output) {
  const re = /^step (\d+): train loss ([\d.]+|NaN|Infinity), val loss ([\d.]+|NaN|Infinity)/gm;
  let last = null;
  for (const m of output.matchAll(re)) last = m;
  if (!last) return null;
  const result = { example: 'gpt', step: Number(last[1]), train_loss: Number(last[2]), val_loss: Number(last[3]) };
  // the closing line: `done: 2000 iterations, 85.3 ms/iter, 9003 tokens/s; checkpoint in DIR`
  const done = /^done: \d+ iterations, ([\d.]+) ms\/iter, (\d+) tokens\/s/m.exec(output);
  if (done) Object.assign(result, { ms_per_iter: Number(done[1]), tokens_per_s: Number(done[2]) });
  return result;
}

/** The figure `field` of a result, or undefined when absent or not a finite number. */
function figureOf(result, field) {
  const v = result?.[field];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/**
 * Whether a row met its target: each check (`{ field, op: '>=' | '<=', value }`, or `{ wall: seconds }`
 * for a limit on the wall time) must hold. Returns 'pass', 'miss', or null with no target or no figure.
 */
export function judge(target, result, wallSeconds) {
  if (!target || !result) return null;
  for (const c of target) {
    if ('wall' in c) {
      if (!(wallSeconds <= c.wall)) return 'miss';
      continue;
    }
    const v = figureOf(result, c.field);
    if (v === undefined) return 'miss';
    if (c.op === '>=' ? !(v >= c.value) : !(v <= c.value)) return 'miss';
  }
  return 'pass';
}

/** A target as the table shows it: `test_accuracy >= 0.975, wall <= 10 min`. */
export function formatTarget(target) {
  if (!target?.length) return '-';
  return target.map((c) => ('wall' in c ? `wall time <= ${formatSeconds(c.wall)}` : `${c.field} ${c.op} ${c.value}`)).join(', ');
}

/** 0.35 s, 48.2 s, 5 min 12 s. */
export function formatSeconds(s) {
  if (typeof s !== 'number' || !Number.isFinite(s)) return '-';
  if (s < 10) return `${s.toFixed(2)} s`;
  if (s < 120) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  const r = Math.round(s - 60 * m);
  return r ? `${m} min ${r} s` : `${m} min`;
}

/** The cell of the figure column: the target's fields (or the row's `figures` list) with their values. */
function figureCell(row) {
  if (row.status !== 'ok') return row.note ?? row.status;
  const fields = row.figures ?? (row.target ?? []).filter((c) => 'field' in c).map((c) => c.field);
  const parts = fields.filter((f) => f in (row.result ?? {})).map((f) => `${f} **${row.result[f]}**`);
  if (row.note) parts.push(row.note);
  return parts.join('; ') || '-';
}

const cell = (s) => String(s).replace(/\|/g, '\\|').replace(/\n/g, ' ');

/**
 * docs/results.md from the saved results (`{ run, rows }`, the content of docs/results.json): the
 * run's commit and machine, a table with one row per program, and the raw RESULT lines.
 */
export function renderResults(saved, charts = []) {
  const { run, rows } = saved;
  const m = run.machine;
  const out = [];
  out.push('# Results of the examples', '');
  out.push('Written by `npm run results` (scripts/run-results.mjs) from the `RESULT {json}` line each program ends');
  out.push('with; do not edit by hand. Wall time is the whole child process, node start-up included.', '');
  out.push(`- commit: \`${run.commit}\`${run.dirty ? ' (with uncommitted changes)' : ''}`);
  out.push(`- date: ${run.date}`);
  out.push(
    `- machine: ${m.cpu}, ${m.cores} cores; Node.js ${m.node}; mox ${m.device} backend, \`${m.kernels}\` kernels, ${m.threads} thread${m.threads === 1 ? '' : 's'}`,
  );
  out.push(`- data: \`${run.dataDir ?? '(none)'}\``);
  out.push('');
  out.push('| example | command | figure | target | result | wall time |');
  out.push('|---|---|---|---|---|---|');
  for (const row of rows) {
    let figure = figureCell(row);
    if (row.run && row.run.date !== run.date) figure += ` (from an earlier run: commit \`${row.run.commit}\`, ${row.run.date})`;
    const verdict = row.status === 'ok' ? (judge(row.target, row.result, row.wall_s) ?? '-') : row.status;
    out.push(
      `| ${cell(row.name)} | ${cell('`' + row.command + '`')} | ${cell(figure)} | ${cell(formatTarget(row.target))} | ${verdict === 'miss' ? '**miss**' : verdict} | ${formatSeconds(row.wall_s)} |`,
    );
  }
  out.push('');
  const lines = rows.filter((r) => r.status === 'ok' && r.result).map((r) => `RESULT ${JSON.stringify(r.result)}`);
  if (lines.length) out.push('The RESULT lines:', '', '```', ...lines, '```', '');
  if (charts.length) {
    // the main runs' charts (`npm run results -- --png-docs` copies them from each run's `mox report --png`)
    out.push('## Charts of the main runs', '');
    out.push("Drawn by `mox report` from the runs' `metrics.jsonl` (the whole page of each run is");
    out.push('`runs/results/<name>/report.html` after `npm run results`; not committed).', '');
    for (const name of [...new Set(charts.map((c) => c.name))]) {
      out.push(`### ${name}`, '');
      for (const c of charts.filter((x) => x.name === name)) out.push(`![${name}: ${c.chart}](${c.file})`);
      out.push('');
    }
  }
  out.push('Reproduce: `npm run results` (every program; `-- --only name,name` for some, the other rows kept from');
  out.push('`docs/results.json`; `-- --dry-run` lists them). The data folder is `$MOX_DATA_DIR`, or `../shared/data`.', '');
  return out.join('\n');
}

/**
 * Rows of a partial run (`--only`) merged into the previous run's: the new ones replace the old of the
 * same name, the others stay (each keeps the `run` it came from), in the order of `programs` (each
 * `{ name, command, target }`); a program in neither gets a row saying it has not run.
 */
export function mergeRows(previous, fresh, programs) {
  const byName = new Map((previous ?? []).map((r) => [r.name, r]));
  for (const r of fresh) byName.set(r.name, r);
  return programs.map(
    (p) =>
      byName.get(p.name) ?? {
        name: p.name,
        command: p.command,
        target: p.target,
        status: 'not run',
        note: `not run yet: npm run results -- --only ${p.name}`,
      },
  );
}
