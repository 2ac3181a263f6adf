// The text section: loads the GPT checkpoint the server offers (GET /model/FILE: the same files a
// checkpoint folder holds, read by mox's own loadGPTFromBytes and tokenizerFromFiles) and generates
// from a prompt, streaming each token into the page as it is sampled.

import * as mox from 'mox/browser';
import { fetchBytes } from './mnist-trainer.js';

/** A loaded checkpoint: the model (on some device) and its tokenizer. */
export interface LoadedGPT {
  model: mox.models.GPT;
  tokenizer: mox.text.Tokenizer;
  config: Record<string, unknown>;
}

/** Fetches the checkpoint's files (those the server lists) and builds the model and the tokenizer. */
export async function loadCheckpoint(files: readonly string[], device: string): Promise<LoadedGPT> {
  const text = async (name: string) => new TextDecoder().decode(await fetchBytes(`/model/${name}`));
  const [configText, weights, tokenizerJson] = await Promise.all([
    text('config.json'),
    fetchBytes('/model/model.safetensors'),
    text('tokenizer.json'),
  ]);
  const bpe = files.includes('encoder.json') && files.includes('vocab.bpe');
  const [encoder, vocab] = bpe ? await Promise.all([text('encoder.json'), text('vocab.bpe')]) : [undefined, undefined];
  const { model, config } = mox.models.loadGPTFromBytes(JSON.parse(configText), weights, {
    config: '/model/config.json',
    weights: '/model/model.safetensors',
  });
  const tokenizer = mox.text.tokenizerFromFiles({
    'tokenizer.json': tokenizerJson,
    ...(encoder !== undefined && vocab !== undefined ? { 'encoder.json': encoder, 'vocab.bpe': vocab } : {}),
  });
  if (device !== 'cpu') await model.toAsync(device);
  return { model, tokenizer, config };
}

/** What a generation asks for. */
export interface GenerateRequest {
  prompt: string;
  maxNewTokens: number;
  temperature: number;
  /** 0 or less: no top-k. */
  topK: number;
  signal: AbortSignal;
  /** Called after each token with the text so far, the token count and the rate. */
  onText(text: string, tokens: number, tokensPerSecond: number): void;
}

/** Yields to the browser: lets it paint and handle input (a click on Stop) between tokens. */
const nextTask = () => new Promise<void>((r) => setTimeout(r, 0));

/** Generates from the prompt, streaming; resolves with the token count and the rate. */
export async function generateText(g: LoadedGPT, req: GenerateRequest): Promise<{ tokens: number; tokensPerSecond: number }> {
  // a prompt must hold a token; an empty one starts from the first of the vocabulary (a newline, for
  // a character-level Shakespeare model)
  const prompt = req.prompt === '' ? [0] : g.tokenizer.encode(req.prompt);
  if (prompt.length === 0) throw new Error('the prompt encodes to no tokens');
  const ids: number[] = [];
  const start = performance.now();
  const rate = () => ids.length / Math.max(1e-3, (performance.now() - start) / 1000);
  await mox.models.generateAsync(g.model, prompt, {
    maxNewTokens: req.maxNewTokens,
    temperature: req.temperature,
    topK: req.topK > 0 ? req.topK : null,
    signal: req.signal,
    onToken: async (tokens) => {
      ids.push(tokens[0]!);
      // decode the whole continuation each time: a byte-level BPE token can end inside a character
      req.onText(g.tokenizer.decode(ids), ids.length, rate());
      await nextTask();
    },
  });
  return { tokens: ids.length, tokensPerSecond: rate() };
}
