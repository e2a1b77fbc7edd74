export interface OllamaModel {
  name: string;
  size: number;
  modified_at: string;
  [k: string]: unknown;
}

export type TagsResult = { ok: true; ms: number; models: OllamaModel[]; raw: unknown } | { ok: false; ms: number; error: string; status?: number };

/** Asks Ollama for its model list; the probe that says "Ollama answers". Never throws. */
export async function fetchTags(baseUrl: string, timeoutMs: number): Promise<TagsResult> {
  const started = performance.now();
  const ms = () => Math.round((performance.now() - started) * 10) / 10;
  try {
    const res = await fetch(`${baseUrl}/api/tags`, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) {
      await res.body?.cancel();
      return { ok: false, ms: ms(), status: res.status, error: `Ollama answered HTTP ${res.status}` };
    }
    const raw = (await res.json()) as { models?: OllamaModel[] };
    const models = Array.isArray(raw?.models) ? raw.models : [];
    return { ok: true, ms: ms(), models, raw };
  } catch (err) {
    const e = err as Error;
    const error = e.name === "TimeoutError" ? `no answer within ${timeoutMs} ms` : e.message || String(e);
    return { ok: false, ms: ms(), error };
  }
}
