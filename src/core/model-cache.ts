import { writeJsonAtomic } from "./atomic-file.ts";
import type { Logger } from "./logger.ts";
import type { OllamaModel } from "./ollama.ts";

export interface CachedTags {
  saved_at: string;
  /** Ollama's /api/tags answer, exactly as it came. */
  tags: { models: OllamaModel[] };
}

/**
 * The last good /api/tags answer, kept beside the status file, so a model list can be shown while the
 * machine sleeps instead of waking a 300-watt machine to read it.
 */
export class ModelCache {
  private last?: string;

  constructor(
    private readonly file: string,
    private readonly logger: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async save(tags: unknown): Promise<void> {
    if (!tags || typeof tags !== "object" || !Array.isArray((tags as { models?: unknown }).models)) return;
    const text = JSON.stringify(tags);
    if (text === this.last) return; // the common case: nothing changed, no write
    this.last = text;
    try {
      await writeJsonAtomic(this.file, { saved_at: this.now().toISOString(), tags });
    } catch (err) {
      this.logger.warn("could not save the model list cache", { file: this.file, err });
    }
  }

  async load(): Promise<CachedTags | null> {
    try {
      const f = Bun.file(this.file);
      if (!(await f.exists())) return null;
      const data = (await f.json()) as CachedTags;
      return Array.isArray(data?.tags?.models) ? data : null;
    } catch {
      return null;
    }
  }
}

/** Ollama's /v1/models shape, built from an /api/tags answer. */
export function openAiModelList(tags: { models: OllamaModel[] }) {
  return {
    object: "list",
    data: tags.models.map((m) => ({
      id: m.name,
      object: "model",
      created: Math.floor(Date.parse(m.modified_at) / 1000) || 0,
      owned_by: m.name.includes("/") ? m.name.split("/")[0] : "library",
    })),
  };
}
