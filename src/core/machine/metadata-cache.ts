import { writeJsonAtomic } from "../../lib/atomic-file.ts";
import { Mutex } from "../../lib/mutex.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { OllamaModel } from "./ollama.ts";

export interface CachedAnswer {
  saved_at: string;
  /** Ollama's answer, exactly as it came. */
  body: unknown;
}

export type TagsAnswer = { models: OllamaModel[] };

const TAGS = "/api/tags";

/**
 * The last good answers to Ollama's metadata requests (/api/tags, /api/version), kept beside the status
 * file, so a model list can be shown while the machine sleeps instead of waking a 300-watt machine to read it.
 */
export class MetadataCache {
  private entries?: Record<string, CachedAnswer>;
  private readonly lastText = new Map<string, string>();
  private readonly lock = new Mutex();

  constructor(
    private readonly file: string,
    private readonly logger: Logger,
    private readonly now: () => Date = () => new Date(),
    /** Hears of every model list saved (the fleet's model index). */
    private readonly onTags: (models: string[]) => void = () => {},
  ) {}

  /** One at a time: two answers saved together must both end up in the file. */
  put(key: string, body: unknown): Promise<void> {
    if (!body || typeof body !== "object") return Promise.resolve();
    const text = JSON.stringify(body);
    if (this.lastText.get(key) === text) return Promise.resolve(); // the common case: nothing changed, no write
    return this.lock.run(async () => {
      const entries = { ...(await this.load()), [key]: { saved_at: this.now().toISOString(), body } };
      this.entries = entries;
      if (key === TAGS) this.tellTags(body);
      try {
        await writeJsonAtomic(this.file, entries);
        this.lastText.set(key, text);
      } catch (err) {
        this.logger.warn("could not save the metadata cache", { file: this.file, err });
      }
    });
  }

  async get(key: string): Promise<CachedAnswer | null> {
    return (await this.load())[key] ?? null;
  }

  /** Reads the file, and tells of the model list in it, if any (at start, before any machine answered). */
  async restore(): Promise<void> {
    const entry = await this.get(TAGS);
    if (entry) this.tellTags(entry.body);
  }

  private tellTags(body: unknown): void {
    const models = (body as Partial<TagsAnswer>).models;
    if (Array.isArray(models)) this.onTags(models.map((m) => m?.name).filter((n): n is string => typeof n === "string"));
  }

  /** The cached model list, if a well-formed one was ever seen. */
  async tags(): Promise<{ saved_at: string; tags: TagsAnswer } | null> {
    const entry = await this.get(TAGS);
    const tags = entry?.body as TagsAnswer | undefined;
    return entry && Array.isArray(tags?.models) ? { saved_at: entry.saved_at, tags: tags! } : null;
  }

  private async load(): Promise<Record<string, CachedAnswer>> {
    if (this.entries) return this.entries;
    try {
      const f = Bun.file(this.file);
      const data = (await f.exists()) ? await f.json() : {};
      this.entries = data && typeof data === "object" ? data : {};
    } catch {
      this.entries = {};
    }
    return this.entries!;
  }
}

/** Ollama's /v1/models shape, built from an /api/tags answer. */
export function openAiModelList(tags: TagsAnswer) {
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
