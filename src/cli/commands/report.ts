// `mox report RUN_DIR [RUN_DIR2 ...]`: the report of one or more training runs, from the metrics.jsonl
// each run writes beside its checkpoint: an HTML page with its charts inline (no network needed to
// open it), and with --png the charts as PNG files. See docs/reports.md.

import * as fs from 'node:fs';
import { DataError } from '../../errors.js';
import { writeReport } from '../../report/report.js';
import type { CliCommand, MakeUsageError } from './gpt-cli.js';

const OP = 'report';

/** `mox report --help`. */
export const REPORT_USAGE = `usage: mox report RUN_DIR [RUN_DIR2 ...] [--out report.html] [--png DIR] [--title T]

Reads each RUN_DIR/metrics.jsonl (written by training runs) and writes one self-contained HTML page:
the runs and their settings (differences highlighted), final and best values, loss and metric curves
(train smoothed, several runs overlaid), learning rate, throughput, confusion matrix and per-class
scores for classifiers, sample generations for language models.

  --out FILE        the HTML file (default RUN_DIR/report.html for one run, ./report.html for several)
  --png DIR         also write each chart as a PNG into DIR (loss.png, accuracy.png, lr.png, ...)
  --title T         the page's title (default the run's name)
  --smoothing W     EMA weight of the train curves, 0 <= W < 1 (default 0.6, as TensorBoard; 0: none)`;

/** The `report` command for src/cli/main.ts. */
export function reportCommand(bad: MakeUsageError): CliCommand {
  const str = { type: 'string' } as const;
  return {
    args: 'RUN_DIR...',
    summary: 'an HTML report (and PNG charts) of training runs',
    usage: REPORT_USAGE,
    options: { out: str, png: str, title: str, smoothing: str },
    async run(values, positionals) {
      if (positionals.length === 0) throw bad(`${OP}: missing RUN_DIR (a folder holding metrics.jsonl)`);
      for (const [k, v] of Object.entries(values)) if (v === '' && k !== 'title') throw bad(`${OP}: --${k} needs a value`);
      let smoothing: number | undefined;
      if (values['smoothing'] !== undefined) {
        const s = String(values['smoothing']);
        smoothing = Number(s);
        if (s.trim() === '' || !(smoothing >= 0 && smoothing < 1)) throw bad(`${OP}: --smoothing must be a number in [0, 1), got '${s}'`);
      }
      for (const dir of positionals) {
        if (!fs.existsSync(dir)) throw new DataError(OP, `no such folder: ${dir}`);
        if (!fs.statSync(dir).isDirectory())
          throw new DataError(OP, `${dir} is not a folder (give the run folder that holds metrics.jsonl)`);
      }
      const r = await writeReport(positionals, {
        out: values['out'] as string | undefined,
        png: values['png'] as string | undefined,
        title: values['title'] as string | undefined,
        smoothing,
      });
      for (const w of r.warnings) console.error(`mox: report: warning: ${w}`);
      console.log(`wrote ${r.html} (${r.charts.length} chart${r.charts.length === 1 ? '' : 's'}: ${r.charts.join(', ') || 'none'})`);
      if (r.pngs.length > 0) console.log(`wrote ${r.pngs.length} PNG${r.pngs.length === 1 ? '' : 's'} to ${values['png'] as string}`);
    },
  };
}
