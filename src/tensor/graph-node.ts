// The shape of one recorded operation in the autograd graph, generic over the tensor type so the
// Tensor class can hold one (its _node) without this file importing the class back: autograd/node.ts
// names the instance the engine uses, Node = GraphNode<Tensor>.

export interface GraphNode<T> {
  readonly name: string;
  readonly inputs: readonly (T | null)[];
  saved: T[];
  backward: ((g: T) => (T | null)[]) | null; // null once freed after backward
  /** Where the op was recorded: captured only in anomaly mode (autograd/anomaly.ts), formatted when reported. */
  readonly trace?: Error;
}
