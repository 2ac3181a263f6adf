// mox.onnx: ONNX export of the MLP, the CNN, the text CNN and the GPT (opset 17), written with
// protobufjs from ONNX's own schema. See docs/onnx.md.

import * as fs from 'node:fs';
import { DataError } from '../errors.js';
import { writeFileAtomic } from '../io/files.js';
import type { Module } from '../nn/module.js';
import { type ExportONNXOptions, type ONNXExport, exportONNX } from './export.js';

export { exportONNX, ONNX_OPSET, type ExportONNXOptions, type ONNXExport } from './export.js';
export { decodeModel } from './graph.js';

/**
 * Exports `model` (see exportONNX) and writes the file atomically. An existing file is an error
 * unless `overwrite` is set. Returns the export's signature and bytes.
 */
export async function saveONNX(model: Module, file: string, opts: ExportONNXOptions & { overwrite?: boolean } = {}): Promise<ONNXExport> {
  if (fs.existsSync(file) && !opts.overwrite) throw new DataError('saveONNX', `${file} already exists; pass overwrite to replace it`);
  const out = await exportONNX(model, opts);
  writeFileAtomic(file, out.bytes);
  return out;
}
