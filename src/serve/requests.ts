// The request bodies of OpenAI's completions and chat completions, checked field by field: types,
// ranges, the defaults OpenAI documents. A bad field is a RequestError naming it (the server answers
// 400 in OpenAI's error shape). Fields this server does not use (user, presence_penalty, ...) are
// ignored, as vLLM's and llama.cpp's servers do.

export class RequestError extends Error {
  constructor(
    message: string,
    readonly param: string | null = null,
  ) {
    super(message);
  }
}

export interface CompletionParams {
  /** Text, or token ids (completions only; chat builds its prompt from the messages). */
  prompt: string | number[];
  maxTokens: number;
  temperature: number;
  topP: number | null;
  n: number;
  stream: boolean;
  stop: string[];
  seed: number | undefined;
  /** How many alternatives per token to report; undefined: no logprobs. */
  logprobs: number | undefined;
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

type Body = Record<string, unknown>;

const show = (v: unknown): string => {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
};

function body(v: unknown): Body {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new RequestError('The request body must be a JSON object.');
  return v as Body;
}

function num(b: Body, name: string, dflt: number, lo: number, hi: number, integer = false): number {
  const v = b[name];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v)))
    throw new RequestError(`${show(v)} is not of type '${integer ? 'integer' : 'number'}' - '${name}'`, name);
  if (v < lo || v > hi)
    throw new RequestError(
      `${v} is ${v < lo ? 'less than the minimum' : 'greater than the maximum'} of ${v < lo ? lo : hi} - '${name}'`,
      name,
    );
  return v;
}

function bool(b: Body, name: string): boolean {
  const v = b[name];
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw new RequestError(`${show(v)} is not of type 'boolean' - '${name}'`, name);
  return v;
}

function stops(b: Body): string[] {
  const v = b['stop'];
  if (v === undefined || v === null) return [];
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || !list.every((s) => typeof s === 'string') || list.length > 4)
    throw new RequestError(`${show(v)} is not valid under any of the given schemas - 'stop' (a string or up to 4 strings)`, 'stop');
  if (list.some((s) => s.length === 0 || s.length > 1000))
    throw new RequestError("each stop sequence must hold 1 to 1000 characters - 'stop'", 'stop');
  return list as string[];
}

function common(b: Body, block: number, defaultMax: number | null): Omit<CompletionParams, 'prompt' | 'logprobs'> {
  const model = b['model'];
  if (model !== undefined && typeof model !== 'string') throw new RequestError(`${show(model)} is not of type 'string' - 'model'`, 'model');
  const max = b['max_tokens'] ?? b['max_completion_tokens'];
  const maxTokens = max === undefined || max === null ? (defaultMax ?? 0) : num({ max_tokens: max }, 'max_tokens', 16, 1, block, true);
  return {
    maxTokens,
    temperature: num(b, 'temperature', 1, 0, 2),
    topP: b['top_p'] === undefined || b['top_p'] === null ? null : num(b, 'top_p', 1, Number.MIN_VALUE, 1),
    n: num(b, 'n', 1, 1, 16, true),
    stream: bool(b, 'stream'),
    stop: stops(b),
    seed: b['seed'] === undefined || b['seed'] === null ? undefined : num(b, 'seed', 0, -(2 ** 53), 2 ** 53, true),
  };
}

/** POST /v1/completions: prompt (a string, token ids, or a list of one of them), max_tokens (default 16), ... */
export function parseCompletionRequest(v: unknown, block: number, defaultMax: number): CompletionParams {
  const b = body(v);
  let prompt = b['prompt'];
  if (prompt === undefined) throw new RequestError("'prompt' is a required property", 'prompt');
  // a list of one prompt is that prompt; several prompts in one request are not served (use n, or several requests)
  if (Array.isArray(prompt) && prompt.length === 1 && (typeof prompt[0] === 'string' || Array.isArray(prompt[0]))) prompt = prompt[0];
  const ok = typeof prompt === 'string' || (Array.isArray(prompt) && prompt.every((t) => typeof t === 'number'));
  if (!ok)
    throw new RequestError(
      `${show(prompt)} is not valid under any of the given schemas - 'prompt' (a string, or an array of token ids)`,
      'prompt',
    );
  if (typeof prompt === 'string' && prompt.length > 1_000_000) throw new RequestError("the prompt is too long - 'prompt'", 'prompt');
  const lp = b['logprobs'];
  const logprobs = lp === undefined || lp === null || lp === false ? undefined : lp === true ? 0 : num(b, 'logprobs', 0, 0, 5, true);
  return { ...common(b, block, defaultMax), prompt: prompt as string | number[], logprobs };
}

/** POST /v1/chat/completions: messages [{ role, content }], max_tokens (default: the rest of the context), ... */
export function parseChatRequest(v: unknown, block: number): { params: CompletionParams; messages: ChatMessage[] } {
  const b = body(v);
  const m = b['messages'];
  if (m === undefined) throw new RequestError("'messages' is a required property", 'messages');
  if (!Array.isArray(m) || m.length === 0) throw new RequestError(`${show(m)} is too short - 'messages' (a non-empty array)`, 'messages');
  const messages = m.map((x, i): ChatMessage => {
    if (typeof x !== 'object' || x === null)
      throw new RequestError(`${show(x)} is not of type 'object' - 'messages.${i}'`, `messages.${i}`);
    const { role, content } = x as Record<string, unknown>;
    if (role !== 'system' && role !== 'user' && role !== 'assistant' && role !== 'developer')
      throw new RequestError(
        `${show(role)} is not one of ['system', 'developer', 'user', 'assistant'] - 'messages.${i}.role'`,
        `messages.${i}.role`,
      );
    let text: string;
    if (typeof content === 'string') text = content;
    else if (
      Array.isArray(content) &&
      content.every((c) => typeof c === 'object' && c !== null && (c as Record<string, unknown>)['type'] === 'text')
    )
      text = content.map((c) => String((c as Record<string, unknown>)['text'] ?? '')).join('');
    else
      throw new RequestError(
        `${show(content)} is not valid under any of the given schemas - 'messages.${i}.content' (a string, or text parts)`,
        `messages.${i}.content`,
      );
    return { role: role === 'developer' ? 'system' : role, content: text };
  });
  const logprobs = bool(b, 'logprobs') ? num(b, 'top_logprobs', 0, 0, 20, true) : undefined;
  return { params: { ...common(b, block, null), prompt: '', logprobs }, messages };
}

/**
 * The chat template of a model that has none of its own (mox's GPTs are plain language models): each
 * message on its own line as `role: content`, then `assistant:` for the model to continue. A model
 * trained on other dialogue follows its own format only if it was trained on this one.
 */
export function renderChat(messages: readonly ChatMessage[]): string {
  return `${messages.map((m) => `${m.role}: ${m.content}\n`).join('')}assistant:`;
}
