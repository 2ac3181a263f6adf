// `mox export-onnx --model DIR --out model.onnx`: writes a checkpoint folder's model as an ONNX file
// (opset 17, dynamic batch and sequence axes) that ONNX Runtime, Triton and the other ONNX engines run.
// The folder is one of:
//   - a GPT checkpoint (config.json with "gpt", or a Hugging Face GPT-2 folder), read by loadGPT; a
//     quantized one (config.json with "quantization") is refused: ONNX's quantized ops are another format;
//   - a classifier checkpoint (config.json with "model": "sequential" or "text-cnn"), read by
//     loadClassifier: the MLP, the CNN, the text CNN.
// Anything else (an LSTM checkpoint, a folder without config.json) is a DataError naming the folder.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError } from '../../errors.js';
import { loadGPT } from '../../models/gpt-checkpoint.js';
import { isHuggingFaceGPT2Dir } from '../../models/hf-gpt2.js';
import { isLSTMCheckpointDir } from '../../models/lstm-checkpoint.js';
import { isClassifierDir, loadClassifier } from '../../models/classifier-checkpoint.js';
import { readJson, writeFileAtomic } from '../../io/files.js';
import type { Module } from '../../nn/module.js';
import { type ONNXExport, exportONNX } from '../../onnx/export.js';
import type { CliCommand, MakeUsageError } from './gpt-cli.js';

const OP = 'export-onnx';

export interface ExportOnnxOptions {
  model: string;
  out: string;
  /** Replace an existing --out file. */
  overwrite?: boolean;
  /** A Sequential's input shape (one example, no batch axis), overriding config.json's input_shape. */
  inputShape?: number[];
}

function dispose(model: Module): void {
  for (const [, b] of model.namedBuffers()) b.dispose();
  for (const p of new Set(model.parameters())) p.dispose();
}

/** Loads DIR's model, whatever kind of checkpoint it is, or says why it cannot be exported. */
function loadExportable(dir: string): { model: Module; what: string; inputShape?: number[] } {
  if (!fs.existsSync(dir)) throw new DataError(OP, `no such folder: ${dir}`);
  if (!fs.statSync(dir).isDirectory())
    throw new DataError(OP, `${dir} is not a folder: --model takes a checkpoint folder (config.json + model.safetensors)`);
  const configFile = path.join(dir, 'config.json');
  if (!fs.existsSync(configFile))
    throw new DataError(
      OP,
      `${dir} has no config.json: it is not a checkpoint folder (a GPT checkpoint, a Hugging Face GPT-2 folder, or a classifier saved with mox.models.saveClassifier)`,
    );
  const config = readJson(configFile);
  if (isClassifierDir(dir)) {
    const { model, kind, inputShape } = loadClassifier(dir);
    return { model, what: kind, ...(inputShape ? { inputShape } : {}) };
  }
  if (isLSTMCheckpointDir(dir))
    throw new DataError(
      OP,
      `${dir} holds an LSTM language model, which has no ONNX export (exportable: GPT, sequential MLP/CNN, text CNN)`,
    );
  if ((typeof config['gpt'] === 'object' && config['gpt'] !== null) || isHuggingFaceGPT2Dir(dir)) {
    const q = config['quantization'];
    if (q !== undefined && q !== null) {
      const scheme = (q as Record<string, unknown>)['scheme'];
      const from = config['quantized_from'];
      throw new DataError(
        OP,
        `${dir} is a quantized GPT (${String(scheme)}); ONNX export takes float weights: export the float checkpoint${typeof from === 'string' ? ` it came from (${from})` : ''}`,
      );
    }
    return { model: loadGPT(dir).model, what: 'gpt' };
  }
  const kind = config['model'] ?? config['model_type'];
  throw new DataError(
    OP,
    `${configFile} names no model mox can export${kind !== undefined ? ` (model ${JSON.stringify(kind)})` : ''}: expected a "gpt" entry, a Hugging Face GPT-2 config, or "model": "sequential" / "text-cnn"`,
  );
}

export async function runExportOnnx(opts: ExportOnnxOptions, log: (line: string) => void = (l) => console.log(l)): Promise<ONNXExport> {
  if (fs.existsSync(opts.out)) {
    if (fs.statSync(opts.out).isDirectory())
      throw new DataError(OP, `--out ${opts.out} is a folder; give the path of the .onnx file to write`);
    if (!opts.overwrite) throw new DataError(OP, `${opts.out} already exists; pass --overwrite to replace it`);
  }
  const dir = path.dirname(path.resolve(opts.out));
  if (!fs.existsSync(dir)) throw new DataError(OP, `cannot write ${opts.out}: no such folder ${dir}`);
  const t0 = performance.now();
  const { model, what, inputShape } = loadExportable(opts.model);
  let out: ONNXExport;
  try {
    const shape = opts.inputShape ?? inputShape;
    out = await exportONNX(model, {
      ...(shape ? { inputShape: shape } : {}),
      metadata: { 'mox.source': path.basename(path.resolve(opts.model)) },
    });
  } finally {
    dispose(model);
  }
  writeFileAtomic(opts.out, out.bytes);
  const sig = (vs: { name: string; dtype: string; shape: (number | string)[] | null }[]) =>
    vs.map((v) => `${v.name} ${v.dtype} [${v.shape ? v.shape.join(', ') : '?'}]`).join(', ');
  log(
    `wrote ${opts.out}: ${what}, ONNX opset ${out.opset}, ${(out.bytes.length / 1024 / 1024).toFixed(2)} MiB, ` +
      `input ${sig(out.inputs)} -> output ${sig(out.outputs)} (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
  );
  return out;
}

const USAGE = `usage: mox export-onnx --model DIR --out FILE.onnx [--input-shape 1,28,28] [--overwrite]

Writes the model of a checkpoint folder as an ONNX file (opset 17), in eval mode (no dropout, batch
norm with its running statistics), with a dynamic batch axis (and sequence axis for token models):

  a GPT checkpoint or a Hugging Face GPT-2 folder   input_ids int64 [batch, sequence] -> logits [batch, sequence, vocab]
  a text CNN (config.json "model": "text-cnn")      input_ids int64 [batch, sequence] -> logits [batch, classes]
  an MLP or CNN ("model": "sequential")             input float32 [batch, ...input_shape] -> output

Quantized GPT checkpoints are refused (export the float checkpoint). How to run the file in ONNX
Runtime (Node, Python, the browser) and Triton is in docs/onnx.md.

  --model DIR          the checkpoint folder
  --out FILE.onnx      the file to write
  --input-shape DIMS   a sequential model's input, one example without the batch axis (default:
                       config.json's input_shape, else [in_features] of a first Linear layer, or
                       [channels, height, width] with symbolic height and width for a first Conv2d)
  --overwrite          replace FILE.onnx if it exists`;

export function exportOnnxCommand(bad: MakeUsageError): CliCommand {
  const str = { type: 'string' } as const;
  return {
    summary: 'write a GPT, MLP, CNN or text CNN checkpoint as an ONNX file',
    usage: USAGE,
    options: { model: str, out: str, 'input-shape': str, overwrite: { type: 'boolean' } },
    async run(values, positionals) {
      if (positionals.length > 0) throw bad(`${OP}: unexpected argument '${positionals[0]}'`);
      const model = values['model'];
      const out = values['out'];
      if (typeof model !== 'string' || model === '') throw bad(`${OP}: --model DIR is required`);
      if (typeof out !== 'string' || out === '') throw bad(`${OP}: --out FILE.onnx is required`);
      const shapeArg = values['input-shape'];
      let inputShape: number[] | undefined;
      if (shapeArg !== undefined) {
        const parts = String(shapeArg)
          .split(',')
          .map((s) => s.trim());
        if (!parts.every((s) => /^\d+$/.test(s) && Number(s) >= 1))
          throw bad(`${OP}: --input-shape must be positive integers separated by commas (e.g. 1,28,28), got '${String(shapeArg)}'`);
        inputShape = parts.map(Number);
      }
      await runExportOnnx({ model, out, overwrite: values['overwrite'] === true, ...(inputShape ? { inputShape } : {}) });
    },
  };
}
