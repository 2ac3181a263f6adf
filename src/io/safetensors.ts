// safetensors, the one entry point: the byte format (parse, decode, encode; safetensors-format.ts, which
// knows nothing of Tensor) and loading and saving mox tensors (safetensors-tensors.ts, which adds the
// file system and the conversion to and from Tensor). Two files below this one, so neither imports
// the other's re-exports and no cycle forms.

export * from './safetensors-format.js';
export {
  loadSafetensors,
  loadSafetensorsSync,
  saveSafetensors,
  saveSafetensorsSync,
  tensorsFromSafetensors,
  safetensorsFromTensors,
  type LoadedSafetensors,
} from './safetensors-tensors.js';
