// The simulated Ollama's answers for the API families beyond native chat: OpenAI's completions and embeddings,
// the Responses API and Anthropic's Messages API, plain and streamed, in the shapes Ollama sends them, each
// reporting known counts (PROMPT_TOKENS in, one token per word out, EMBED_TOKENS for an embedding) so that
// the usage a test reads back can be checked exactly. The older /api/embeddings reports none, as Ollama's.
import { EMBED_TOKENS, fullText, PROMPT_TOKENS, token } from "./fake-replies.ts";

type Json = Record<string, unknown>;
/** A plain JSON answer, or the pieces of a stream (each sent as one chunk) with its content type. */
export type FamilyAnswer = { plain: object } | { stream: string[]; type: "sse" };

const unix = () => Math.floor(Date.now() / 1000);
const data = (o: object) => `data: ${JSON.stringify(o)}\n\n`;
const event = (name: string, o: object) => `event: ${name}\ndata: ${JSON.stringify(o)}\n\n`;
const VECTOR = [0.1, 0.2, 0.3];

/** The answer of one of these families, or undefined for a path it does not cover. */
export function familyAnswer(path: string, json: Json, model: string): FamilyAnswer | undefined {
  const n = Math.min(Number(json.max_tokens ?? json.max_output_tokens) || 5, 1_000_000);
  const stream = json.stream === true;
  switch (path) {
    case "/api/embeddings":
      return { plain: { embedding: VECTOR } };
    case "/v1/embeddings":
      return {
        plain: {
          object: "list",
          data: [{ object: "embedding", embedding: VECTOR, index: 0 }],
          model,
          usage: { prompt_tokens: EMBED_TOKENS, total_tokens: EMBED_TOKENS },
        },
      };
    case "/v1/completions":
      return stream ? completionStream(model, n, includeUsage(json)) : { plain: completion(model, n) };
    case "/v1/responses":
      return stream ? responseStream(model, n) : { plain: response(model, n, "completed") };
    case "/v1/messages":
      return stream ? messageStream(model, n) : { plain: message(model, n) };
  }
  return undefined;
}

const includeUsage = (json: Json) => (json.stream_options as Json | undefined)?.include_usage === true;
const openAiUsage = (n: number) => ({ prompt_tokens: PROMPT_TOKENS, completion_tokens: n, total_tokens: PROMPT_TOKENS + n });

function completion(model: string, n: number) {
  const choices = [{ text: fullText(n), index: 0, finish_reason: "stop" }];
  return { id: "cmpl-1", object: "text_completion", created: unix(), model, system_fingerprint: "fp_ollama", choices, usage: openAiUsage(n) };
}

function completionStream(model: string, n: number, usage: boolean): FamilyAnswer {
  const chunk = (text: string, finish: string | null) => ({
    id: "cmpl-1",
    object: "text_completion",
    created: unix(),
    model,
    system_fingerprint: "fp_ollama",
    choices: [{ text, index: 0, finish_reason: finish }],
  });
  const pieces = Array.from({ length: n }, (_, i) => data(chunk(token(i), null)));
  pieces.push(data(chunk("", "stop")));
  if (usage) pieces.push(data({ ...chunk("", null), choices: [], usage: openAiUsage(n) }));
  pieces.push("data: [DONE]\n\n");
  return { stream: pieces, type: "sse" };
}

function response(model: string, n: number, status: string) {
  const done = status === "completed";
  const text = done ? fullText(n) : "";
  return {
    id: "resp_1",
    object: "response",
    created_at: unix(),
    status,
    model,
    output: done ? [{ type: "message", id: "msg_1", status, role: "assistant", content: [{ type: "output_text", text, annotations: [] }] }] : [],
    usage: done ? { input_tokens: PROMPT_TOKENS, output_tokens: n, total_tokens: PROMPT_TOKENS + n } : null,
  };
}

function responseStream(model: string, n: number): FamilyAnswer {
  let seq = 0;
  const ev = (type: string, o: object) => event(type, { type, sequence_number: seq++, ...o });
  const pieces = [ev("response.created", { response: response(model, n, "in_progress") })];
  for (let i = 0; i < n; i++) pieces.push(ev("response.output_text.delta", { item_id: "msg_1", output_index: 0, content_index: 0, delta: token(i) }));
  pieces.push(ev("response.output_text.done", { item_id: "msg_1", output_index: 0, content_index: 0, text: fullText(n) }));
  pieces.push(ev("response.completed", { response: response(model, n, "completed") }));
  return { stream: pieces, type: "sse" };
}

function message(model: string, n: number) {
  return {
    id: "msg_1",
    type: "message",
    role: "assistant",
    model,
    content: [{ type: "text", text: fullText(n) }],
    stop_reason: "end_turn",
    stop_sequence: null,
    usage: { input_tokens: PROMPT_TOKENS, output_tokens: n },
  };
}

function messageStream(model: string, n: number): FamilyAnswer {
  const start = { ...message(model, n), content: [], stop_reason: null, usage: { input_tokens: PROMPT_TOKENS, output_tokens: 0 } };
  const pieces = [
    event("message_start", { type: "message_start", message: start }),
    event("content_block_start", { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }),
  ];
  for (let i = 0; i < n; i++) {
    pieces.push(event("content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: token(i) } }));
  }
  pieces.push(event("content_block_stop", { type: "content_block_stop", index: 0 }));
  pieces.push(
    event("message_delta", { type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: n } }),
  );
  pieces.push(event("message_stop", { type: "message_stop" }));
  return { stream: pieces, type: "sse" };
}
