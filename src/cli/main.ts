#!/usr/bin/env node
// The `mox` command. Each command lives in commands/; this file parses arguments (node:util parseArgs,
// no dependency) and maps failures to exit codes: 0 ok, 1 the command failed (its message on one line, no
// stack: MOX_DEBUG=1 adds it), 2 a usage error (unknown command or flag, bad value: the message and where
// the usage is, not the whole usage, which would scroll the message away).

import * as fs from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { MoxError } from '../errors.js';
import { interruptProgress } from '../train/live-progress.js';
import { runDemo } from './commands/demo.js';
import { runInfo } from './commands/info.js';
import { runInspect } from './commands/inspect.js';
import { trainGptCommand, generateCommand, exportHfCommand } from './commands/gpt-cli.js';
import { finetuneCommand } from './commands/finetune-cli.js';
import { distillCommand } from './commands/distill-cli.js';
import { compressReportCommand } from './commands/compress-report.js';
import { quantizeCommand } from './commands/quantize.js';
import { serveCommand } from './commands/serve.js';
import { pruneHeadsCommand } from './commands/prune-heads.js';
import { tokenizeCommand } from './commands/tokenize.js';
import { trainCommand, trainLstmCommand } from './commands/train-lstm-cli.js';
import { exportOnnxCommand } from './commands/export-onnx.js';
import { reportCommand } from './commands/report.js';
import { playgroundCommand } from './commands/playground.js';

class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig['options']>;

interface Command {
  /** Positional arguments as the overview shows them. */
  args?: string;
  summary: string;
  usage: string;
  options: Options;
  run(values: Record<string, string | boolean | undefined>, positionals: string[]): void | Promise<void>;
}

function version(): string {
  // dist/src/cli/main.js -> the package root, three levels up
  const pkg = JSON.parse(fs.readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function intOption(name: string, value: string | boolean | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (typeof value !== 'string' || !/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min) {
    throw new UsageError(`--${name} must be an integer >= ${min}, got '${String(value)}'`);
  }
  return n;
}

function noPositionals(cmd: string, positionals: string[]): void {
  if (positionals.length > 0) throw new UsageError(`${cmd}: unexpected argument '${positionals[0]}'`);
}

const COMMANDS: Record<string, Command> = {
  info: {
    summary: 'version, Node.js, device and kernels, live memory',
    usage: 'usage: mox info',
    options: {},
    run(_values, positionals) {
      noPositionals('info', positionals);
      return runInfo(version());
    },
  },
  inspect: {
    args: 'FILE.safetensors',
    summary: 'metadata and a table of the tensors in a safetensors file',
    usage: `usage: mox inspect FILE.safetensors [--values]

  --values   also print each tensor's values (truncated when large)`,
    options: { values: { type: 'boolean' } },
    run(values, positionals) {
      if (positionals.length === 0) throw new UsageError('inspect: missing FILE.safetensors');
      if (positionals.length > 1) throw new UsageError(`inspect: unexpected argument '${positionals[1]}'`);
      runInspect(positionals[0]!, { values: values['values'] === true });
    },
  },
  demo: {
    summary: "train a small MLP on two spirals with mox's autograd",
    usage: `usage: mox demo [--steps N] [--seed S]

  --steps N   full-batch SGD steps (default 600)
  --seed S    seed for the data and the initial weights (default 0)`,
    options: { steps: { type: 'string' }, seed: { type: 'string' } },
    run(values, positionals) {
      noPositionals('demo', positionals);
      runDemo({ steps: intOption('steps', values['steps'], 600, 1), seed: intOption('seed', values['seed'], 0, 0) });
    },
  },
  train: trainCommand((m) => new UsageError(m), {
    gpt: trainGptCommand((m) => new UsageError(m)),
    lstm: trainLstmCommand((m) => new UsageError(m)),
  }),
  finetune: finetuneCommand((m) => new UsageError(m)),
  distill: distillCommand((m) => new UsageError(m)),
  generate: generateCommand((m) => new UsageError(m)),
  tokenize: tokenizeCommand((m) => new UsageError(m)),
  'export-hf': exportHfCommand((m) => new UsageError(m)),
  'export-onnx': exportOnnxCommand((m) => new UsageError(m)),
  quantize: quantizeCommand((m) => new UsageError(m)),
  serve: serveCommand((m) => new UsageError(m)),
  'compress-report': compressReportCommand((m) => new UsageError(m)),
  'prune-heads': pruneHeadsCommand((m) => new UsageError(m)),
  report: reportCommand((m) => new UsageError(m)),
  playground: playgroundCommand((m) => new UsageError(m), version),
};

const USAGE = `usage: mox <command> [options]

commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${(name + (c.args ? ' ' + c.args : '')).padEnd(26)}${c.summary}`)
  .join('\n')}

options:
  -h, --help                show help (also: mox <command> --help)
  -V, --version             print the version
  -q, --quiet               (after the command) no progress bars on stderr, as MOX_PROGRESS=0
                            (docs/progress.md)`;

/** The line printed after a usage error: where the usage is (the command's own once the command is known). */
let helpHint = (): string => "run 'mox --help' for usage";

async function main(argv: string[]): Promise<number> {
  const first = argv[0];
  if (first === undefined) throw new UsageError('missing command');
  if (first.startsWith('-')) {
    const { values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: { help: { type: 'boolean', short: 'h' }, version: { type: 'boolean', short: 'V' } },
    });
    if (values.version) console.log(version());
    else console.log(USAGE);
    return 0;
  }
  if (first === 'help') {
    const topic = argv[1] !== undefined ? COMMANDS[argv[1]] : undefined;
    console.log(topic ? topic.usage : USAGE);
    return 0;
  }
  const cmd = Object.hasOwn(COMMANDS, first) ? COMMANDS[first] : undefined;
  if (!cmd) throw new UsageError(`unknown command '${first}'`);
  helpHint = () => `run 'mox ${first} --help' for usage`;
  const { values, positionals } = parseArgs({
    args: argv.slice(1),
    strict: true,
    allowPositionals: true,
    options: { ...cmd.options, quiet: { type: 'boolean', short: 'q' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values['help']) {
    console.log(cmd.usage);
    return 0;
  }
  // --quiet is every command's: progress bars off (serve's --quiet also turns its access logs off)
  if (values['quiet'] === true) process.env['MOX_PROGRESS'] = '0';
  if (!Object.hasOwn(cmd.options, 'quiet')) delete values['quiet'];
  await cmd.run(values, positionals);
  return 0;
}

// `mox inspect big.safetensors | head` closes stdout early; that is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (e) {
  interruptProgress(); // a bar left on the terminal ends its line, so the message starts on its own
  const code = (e as { code?: unknown }).code;
  if (e instanceof UsageError || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))) {
    // parseArgs adds advice about '--' to unknown options; for a typo it only gets in the way.
    const message = (e as Error).message.replace(/\. To specify a positional argument.*$/s, '');
    console.error(`mox: ${message}\n${helpHint()}`);
    process.exitCode = 2;
  } else {
    // a mox error says what and where; anything else (a system error such as ENOTDIR, or a bug) gets one
    // line too, and the stack only when asked for
    const debug = process.env['MOX_DEBUG'] === '1';
    const message = e instanceof Error ? e.message : String(e);
    if (e instanceof MoxError) console.error(`mox: ${message}`);
    else
      console.error(
        `mox: ${e instanceof Error && e.name !== 'Error' ? `${e.name}: ` : ''}${message.split('\n')[0]}${debug ? '' : ' (MOX_DEBUG=1 shows where)'}`,
      );
    if (debug && e instanceof Error && e.stack) console.error(e.stack);
    process.exitCode = 1;
  }
}
