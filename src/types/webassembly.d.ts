// The part of the WebAssembly JS API mox uses. TypeScript ships these types only in its DOM library,
// which a Node.js package should not pull in.

declare namespace WebAssembly {
  interface MemoryDescriptor {
    initial: number;
    maximum?: number;
    shared?: boolean;
  }
  class Memory {
    constructor(descriptor: MemoryDescriptor);
    readonly buffer: ArrayBuffer | SharedArrayBuffer;
    grow(delta: number): number;
  }
  class Module {
    constructor(bytes: BufferSource);
  }
  interface GlobalDescriptor {
    value: string;
    mutable?: boolean;
  }
  class Global {
    constructor(descriptor: GlobalDescriptor, value?: number);
    value: number;
  }
  type ExportValue = ((...args: number[]) => number | undefined) | Global | Memory;
  type Exports = Record<string, ExportValue>;
  type Imports = Record<string, Record<string, unknown>>;
  class Instance {
    constructor(module: Module, imports?: Imports);
    readonly exports: Exports;
  }
  function validate(bytes: BufferSource): boolean;
  /** Compiles off the calling thread (a web page's way: loadWasmKernels). */
  function compile(bytes: BufferSource): Promise<Module>;
}
