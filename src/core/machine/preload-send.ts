// One load: Ollama's documented way to load a model without generating anything, `POST /api/generate` with
// the model and a keep_alive and no prompt, and what came of it. Never throws: a preload is nobody's request,
// so its failure is told in its outcome, for the event and the usage record (preload.ts).
import { figuresReader } from "../usage/figures.ts";
import { type Figures, NO_FIGURES } from "../usage/types.ts";

export interface LoadOutcome {
  /** Ollama's status; 502 when it could not be reached or broke off, 504 when it stayed silent past the timeout. */
  status: number;
  /** A 2xx answer, read to its end. */
  ok: boolean;
  /** Whether an answer came and was read to its end (a 404 included). */
  complete: boolean;
  /** Why it failed, in the gateway's words, with Ollama's own error cut short: never a URL or a header. */
  error?: string;
  /** What Ollama's answer reported (a load's answer carries no figures today: they stay unreported). */
  figures: Figures;
  /** Sent → Ollama's answer began, in ms; null when no answer came. */
  ttfbMs: number | null;
  seconds: number;
}

/** The most of Ollama's answer read: a load's is one short line, so more is not an answer to keep. */
const ANSWER_LIMIT = 64 * 1024;
/** Ollama's own error text, as quoted in an event and a log line: whatever it says, short. */
const ERROR_CHARS = 200;

/**
 * keep_alive as Ollama decodes it: a JSON number is seconds (-1: for ever), a string a Go duration, in which
 * a bare number ("300", "-1") has no unit and is refused. The setting allows both, so a number goes as one.
 */
export function keepAliveValue(setting: string): string | number {
  return /^-?\d+$/.test(setting) ? Number(setting) : setting;
}

/** The body of a load request: the model and its keep_alive, nothing else (a prompt would generate). */
export const loadBody = (model: string, keepAlive: string): string => JSON.stringify({ model, keep_alive: keepAliveValue(keepAlive) });

export async function sendLoad(baseUrl: string, model: string, keepAlive: string, timeoutMs: number): Promise<LoadOutcome> {
  const t0 = performance.now();
  const seconds = () => (performance.now() - t0) / 1000;
  let ttfbMs: number | null = null;
  try {
    const res = await fetch(`${baseUrl}/api/generate`, {
      redirect: "manual",
      method: "POST",
      headers: { "content-type": "application/json" },
      body: loadBody(model, keepAlive),
      // One limit for the whole exchange: a load sends nothing until the model is in memory, so silence and length are one.
      signal: AbortSignal.timeout(timeoutMs),
    });
    ttfbMs = performance.now() - t0;
    const body = await readCapped(res);
    if (!res.ok) {
      const error = `Ollama answered HTTP ${res.status}${errorOf(body)}`;
      return { status: res.status, ok: false, complete: body !== null, error, figures: NO_FIGURES, ttfbMs, seconds: seconds() };
    }
    if (body === null)
      return {
        status: res.status,
        ok: false,
        complete: false,
        error: "Ollama's answer was too long",
        figures: NO_FIGURES,
        ttfbMs,
        seconds: seconds(),
      };
    const reader = figuresReader("ollama", "none", "generate");
    reader.chunk(body);
    return { status: res.status, ok: true, complete: true, figures: reader.end(), ttfbMs, seconds: seconds() };
  } catch (err) {
    const timedOut = (err as Error)?.name === "TimeoutError";
    const error = timedOut ? `no answer within ${timeoutMs / 1000} s` : `Ollama could not be reached, or broke off its answer${codeOf(err)}`;
    return { status: timedOut ? 504 : 502, ok: false, complete: false, error, figures: NO_FIGURES, ttfbMs, seconds: seconds() };
  }
}

/** The answer's bytes, or null past ANSWER_LIMIT (the rest is not read). */
async function readCapped(res: Response): Promise<Uint8Array | null> {
  if (!res.body) return new Uint8Array(0);
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return Buffer.concat(parts);
    size += value.byteLength;
    if (size > ANSWER_LIMIT) {
      await reader.cancel().catch(() => {});
      return null;
    }
    parts.push(value);
  }
}

/** `: <Ollama's error>` from its `{"error": "…"}` answer, cut short and on one line; nothing for anything else. */
function errorOf(body: Uint8Array | null): string {
  if (!body) return "";
  try {
    const error = (JSON.parse(new TextDecoder().decode(body)) as { error?: unknown })?.error;
    return typeof error === "string" && error.trim() ? `: ${oneLine(error).slice(0, ERROR_CHARS)}` : "";
  } catch {
    return "";
  }
}

const oneLine = (text: string) => text.replace(/\p{Cc}+/gu, " ").trim();

/** Bun's code for a failed connection (ConnectionRefused, ECONNRESET), which says what happened without a URL. */
function codeOf(err: unknown): string {
  const code = (err as { code?: unknown })?.code;
  return typeof code === "string" && /^[A-Za-z_]{1,40}$/.test(code) ? ` (${code})` : "";
}
