// `mox playground`: serves the browser playground (src/web/, built into dist/playground/) on this
// machine: a page that trains an MNIST classifier in the browser, classifies digits drawn on a canvas,
// and generates text with a GPT checkpoint, each on WebGPU or the CPU. The checkpoint given with
// --model is checked here by the very code the page runs (loadGPTFromBytes, tokenizerFromFiles), so a
// folder the page could not load is refused at the start, not found out in the browser.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DataError, MoxError } from '../../errors.js';
import { readJson } from '../../io/files.js';
import { loadGPTFromBytes } from '../../models/gpt-bytes.js';
import { tokenizerFromFiles } from '../../text/tokenizer-files.js';
import { createPlaygroundServer, isMnistDir } from '../../serve/playground.js';
import { type CliCommand, type MakeUsageError, intFlag } from './gpt-cli.js';

/** The package's root: this file is dist/src/cli/commands/playground.js. */
const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');

/** Where the built page is: dist/playground/. */
export const PLAYGROUND_DIR = path.join(PACKAGE_ROOT, 'dist', 'playground');

/** What `mox playground` was asked for. */
export interface PlaygroundOptions {
  /** A GPT checkpoint folder, or undefined for none. */
  model?: string;
  host: string;
  port: number;
  /** A folder holding MNIST (or an mnist/ folder); default $MOX_DATA_DIR/mnist, else ../shared/data/mnist. */
  dataDir?: string;
  version: string;
  quiet: boolean;
}

/**
 * The MNIST folder: --data-dir (its mnist/ or itself), else $MOX_DATA_DIR/mnist where that is set, else
 * ../shared/data/mnist beside the repository. Returns the folder, or null with the places searched.
 */
export function findMnistDir(dataDir?: string): { dir: string | null; searched: string[] } {
  const candidates =
    dataDir !== undefined
      ? [path.join(dataDir, 'mnist'), dataDir]
      : // $MOX_DATA_DIR, when set, is the one place (as for the tests); else the repository's default
        [path.join(process.env['MOX_DATA_DIR'] || path.join(PACKAGE_ROOT, '..', 'shared', 'data'), 'mnist')];
  return { dir: candidates.find((d) => fs.existsSync(d) && isMnistDir(d)) ?? null, searched: candidates };
}

/**
 * Checks that a page can load the checkpoint in `dir` (a float mox GPT checkpoint with its tokenizer),
 * by loading it with the page's own loaders; returns what /api/info shows of it. A DataError otherwise.
 */
export function checkPlaygroundModel(dir: string): Record<string, unknown> {
  if (!fs.existsSync(dir)) throw new DataError('playground', `--model: no such folder: ${dir}`);
  if (!fs.statSync(dir).isDirectory()) throw new DataError('playground', `--model: ${dir} is not a folder`);
  const configFile = path.join(dir, 'config.json');
  const weightsFile = path.join(dir, 'model.safetensors');
  const tokenizerFile = path.join(dir, 'tokenizer.json');
  for (const f of [configFile, weightsFile, tokenizerFile])
    if (!fs.existsSync(f))
      throw new DataError('playground', `--model: ${dir} is not a GPT checkpoint folder: it has no ${path.basename(f)}`);
  const config = readJson(configFile);
  const read = (name: string) => (fs.existsSync(path.join(dir, name)) ? fs.readFileSync(path.join(dir, name), 'utf8') : undefined);
  try {
    const { model } = loadGPTFromBytes(config, fs.readFileSync(weightsFile), { config: configFile, weights: weightsFile });
    const info = {
      name: path.basename(path.resolve(dir)),
      gpt: config['gpt'],
      parameters: model.parameters().reduce((n, p) => n + p.size, 0),
    };
    for (const p of model.parameters()) p.dispose();
    for (const [, b] of model.namedBuffers()) b.dispose();
    const encoder = read('encoder.json');
    const vocab = read('vocab.bpe');
    const tok = tokenizerFromFiles({
      'tokenizer.json': read('tokenizer.json')!,
      ...(encoder !== undefined ? { 'encoder.json': encoder } : {}),
      ...(vocab !== undefined ? { 'vocab.bpe': vocab } : {}),
    });
    return { ...info, tokenizer: tok.kind, vocabSize: tok.vocabSize };
  } catch (e) {
    if (e instanceof MoxError) throw new DataError('playground', `--model ${dir}: ${e.message}`);
    throw e;
  }
}

const USAGE = `usage: mox playground [--model DIR] [--port 8080] [--host 127.0.0.1] [--data-dir D] [--quiet]

Serves the browser playground: open the printed address in a browser. The page trains an MNIST
classifier in the browser (WebGPU when the browser has it, else the CPU) while a chart shows the
loss and accuracy, classifies digits you draw, and generates text with a GPT checkpoint, streamed
token by token. See docs/playground.md.

  --model DIR     a mox GPT checkpoint folder (config.json, model.safetensors, tokenizer.json; as
                  \`mox train gpt\` writes) for the page to load; without it the text section says how
  --port N        the port (default 8080; 0 picks a free one)
  --host H        the address to bind (default 127.0.0.1: this machine only)
  --data-dir D    where MNIST is (D/mnist or D: train-images-idx3-ubyte.gz, ...); default
                  $MOX_DATA_DIR/mnist, else ../shared/data/mnist beside the package
  --quiet         no access logs`;

/** The `mox playground` command. */
export function playgroundCommand(bad: MakeUsageError, version: () => string): CliCommand {
  const str = { type: 'string' } as const;
  return {
    summary: 'a web page that trains, draws and generates in the browser',
    usage: USAGE,
    options: { model: str, port: str, host: str, 'data-dir': str, quiet: { type: 'boolean' } },
    async run(values, positionals) {
      if (positionals.length > 0) throw bad(`playground: unexpected argument '${positionals[0]}'`);
      const port = intFlag(bad, values, 'port', 8080, 0);
      if (port > 65535) throw bad(`playground: --port must be at most 65535, got ${port}`);
      const model = values['model'];
      if (model !== undefined && (typeof model !== 'string' || model === '')) throw bad('playground: --model needs a folder');
      const dataDir = values['data-dir'];
      if (dataDir !== undefined && (typeof dataDir !== 'string' || dataDir === '')) throw bad('playground: --data-dir needs a folder');
      // a folder the page cannot use is a usage error (exit 2), with the loader's own message
      let modelInfo: Record<string, unknown> | undefined;
      if (typeof model === 'string') {
        try {
          modelInfo = checkPlaygroundModel(model);
        } catch (e) {
          if (e instanceof DataError) throw bad(e.message);
          throw e;
        }
      }
      const mnist = findMnistDir(typeof dataDir === 'string' ? dataDir : undefined);
      if (typeof dataDir === 'string' && !mnist.dir)
        throw bad(`playground: --data-dir: no MNIST IDX files (train-images-idx3-ubyte.gz, ...) in ${mnist.searched.join(' or ')}`);
      await startPlayground(
        {
          ...(typeof model === 'string' ? { model } : {}),
          host: typeof values['host'] === 'string' ? values['host'] : '127.0.0.1',
          port,
          ...(typeof dataDir === 'string' ? { dataDir } : {}),
          version: version(),
          quiet: values['quiet'] === true,
        },
        modelInfo,
        mnist,
      );
    },
  };
}

/** Starts the server and waits for SIGINT or SIGTERM. */
async function startPlayground(
  opts: PlaygroundOptions,
  modelInfo: Record<string, unknown> | undefined,
  mnist: { dir: string | null; searched: string[] },
): Promise<void> {
  if (!fs.existsSync(path.join(PLAYGROUND_DIR, 'index.html')))
    throw new DataError('playground', `the page is not built: no ${path.join(PLAYGROUND_DIR, 'index.html')} (run npm run build)`);
  const app = createPlaygroundServer({
    staticDir: PLAYGROUND_DIR,
    mnistDir: mnist.dir,
    ...(mnist.dir ? {} : { mnistMissing: `no MNIST IDX files in ${mnist.searched.join(' or ')} (set MOX_DATA_DIR or --data-dir)` }),
    modelDir: opts.model ?? null,
    ...(modelInfo ? { modelInfo } : {}),
    version: opts.version,
    logger: !opts.quiet,
  });
  const url = await app.listen({ host: opts.host, port: opts.port });
  console.error(
    `mox playground: ${url}/ (MNIST: ${mnist.dir ?? 'none'}; model: ${opts.model ? path.resolve(opts.model) : 'none, start with --model DIR'})`,
  );
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      console.error(`mox playground: ${signal}: stopping`);
      void app.close().then(() => resolve());
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
