/** Payloads in the shapes Ollama sends, for the simulated machine. */

const WORDS = "The sky looks blue because air scatters short blue wavelengths of sunlight more than red ones.".split(" ");

export const token = (i: number) => (i === 0 ? WORDS[0]! : " " + WORDS[i % WORDS.length]!);
const now = () => new Date().toISOString();
const unix = () => Math.floor(Date.now() / 1000);

export function generateChunk(model: string, i: number) {
  return { model, created_at: now(), response: token(i), done: false };
}

export function chatChunk(model: string, i: number) {
  return { model, created_at: now(), message: { role: "assistant", content: token(i) }, done: false };
}

const timings = (n: number) => ({
  total_duration: 1_000_000 * n,
  load_duration: 100_000,
  prompt_eval_count: 12,
  prompt_eval_duration: 200_000,
  eval_count: n,
  eval_duration: 900_000 * n,
});

export function generateDone(model: string, n: number) {
  return { model, created_at: now(), response: "", done: true, done_reason: "stop", context: [1, 2, 3], ...timings(n) };
}

export function chatDone(model: string, n: number) {
  return { model, created_at: now(), message: { role: "assistant", content: "" }, done: true, done_reason: "stop", ...timings(n) };
}

export const fullText = (n: number) => Array.from({ length: n }, (_, i) => token(i)).join("");

export function pullLines(model: string): object[] {
  const digest = "sha256:" + Buffer.from(model).toString("hex").padEnd(64, "0").slice(0, 64);
  const total = 4096;
  return [
    { status: "pulling manifest" },
    ...[1024, 2048, 3072, 4096].map((completed) => ({ status: `pulling ${digest.slice(7, 19)}`, digest, total, completed })),
    { status: "verifying sha256 digest" },
    { status: "writing manifest" },
    { status: "success" },
  ];
}

export function openAiChunk(id: string, model: string, content: string | null, finish: string | null) {
  return {
    id,
    object: "chat.completion.chunk",
    created: unix(),
    model,
    system_fingerprint: "fp_ollama",
    choices: [{ index: 0, delta: content === null ? {} : { role: "assistant", content }, finish_reason: finish }],
  };
}

export function openAiCompletion(id: string, model: string, n: number) {
  return {
    id,
    object: "chat.completion",
    created: unix(),
    model,
    system_fingerprint: "fp_ollama",
    choices: [{ index: 0, message: { role: "assistant", content: fullText(n) }, finish_reason: "stop" }],
    usage: { prompt_tokens: 12, completion_tokens: n, total_tokens: 12 + n },
  };
}

export function showReply(model: string) {
  return {
    modelfile: `FROM ${model}\n`,
    parameters: 'stop "<|eot_id|>"',
    template: "{{ .Prompt }}",
    details: { format: "gguf", family: "llama", parameter_size: "3.2B", quantization_level: "Q4_K_M" },
    model_info: { "general.architecture": "llama" },
    capabilities: ["completion"],
    modified_at: "2026-10-01T12:00:00.000Z",
  };
}

/** The prompt's token count every simulated answer reports (the completion's is the number of tokens asked for). */
export const PROMPT_TOKENS = 12;
/** The token count a simulated embedding reports for its input. */
export const EMBED_TOKENS = 3;

export function openAiUsageChunk(id: string, model: string, n: number) {
  const usage = { prompt_tokens: PROMPT_TOKENS, completion_tokens: n, total_tokens: PROMPT_TOKENS + n };
  return { id, object: "chat.completion.chunk", created: unix(), model, system_fingerprint: "fp_ollama", choices: [], usage };
}
