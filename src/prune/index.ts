// mox.prune: pruning in the shape of torch.nn.utils.prune (masks: l1Unstructured, randomUnstructured,
// globalUnstructured, customFromMask, removePruning, isPruned), structured pruning that shrinks a
// Sequential (pruneLinearNeurons, pruneConvChannels, pruneStructured), a sparsity report, and
// PruningSchedule, a fit callback for gradual pruning, and the removal of a GPT's attention heads
// (pruneHeads, pruneAttentionHeads, headScores, headImportance). See docs/pruning.md.

export {
  applyMasks_,
  customFromMask,
  entriesToPrune,
  globalUnstructured,
  isPruned,
  isPrunedParameter,
  l1Unstructured,
  prunableWeights,
  prunedNames,
  randomUnstructured,
  removeAllPruning,
  removePruning,
  sparsity,
  type LayerSparsity,
  type PruneAmount,
  type SparsityReport,
} from './unstructured.js';
export { pruneConvChannels, pruneLinearNeurons, pruneStructured, type StructuredOptions, type StructuredReport } from './structured.js';
export { polynomialSparsity, PruningSchedule, type PruningScheduleOptions } from './schedule.js';
export {
  headImportance,
  headScores,
  pruneAttentionHeads,
  pruneHeads,
  type AttentionHeadPruningOptions,
  type AttentionHeadPruningReport,
  type HeadImportanceBatch,
  type HeadScore,
  type HeadScoreOptions,
  type HeadsToPrune,
} from './heads.js';
