// The options of `mox generate`, shared by the GPT path (generate.ts) and the LSTM one
// (generate-lstm.ts); their own file, since generate.ts dispatches to generate-lstm.ts.

export interface GenerateCommandOptions {
  model: string;
  /** A LoRA adapter folder (PEFT's layout) to load onto --model. */
  adapter?: string;
  prompt?: string;
  promptIds?: number[];
  maxNewTokens: number;
  temperature: number;
  topK?: number;
  topP?: number;
  seed?: number;
  json: boolean;
  useCache: boolean;
  /** 'cpu' (default) or 'webgpu'. */
  device?: string;
}
