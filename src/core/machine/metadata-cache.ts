import { writeJsonAtomic } from "../../lib/atomic-file.ts";
import { Mutex } from "../../lib/mutex.ts";
import { UnavailableError } from "../errors.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { OllamaModel } from "./ollama.ts";

export interface CachedAnswer {
  saved_at: string;
  /** Ollama's answer, exactly as it came. */
  body: unknown;
}

export type TagsAnswer = { models: OllamaModel[] };

/** An answer as the shared store holds it: `text` only when its version is not the one asked about. */
export type SharedAnswer = { version: string; saved_at?: string; text?: string };

/**
 * Where several gateways share one machine's answers (core/replica/shared-answers.ts), so a replica that never
 * saw the machine awake still has its model list. Absent with one gateway. Both calls throw while the store is away.
 */
export interface SharedAnswers {
  /** The store's answer for `key`: null if it has none; without its text when its version is `have`. */
  read(key: string, have: string | undefined): Promise<SharedAnswer | null>;
  /** Stores it for every replica and tells them; false: refused, too large to share (with a log line). */
  write(key: string, entry: CachedAnswer, text: string, version: string): Promise<boolean>;
  /** `f` hears of each key another replica stored, and of null each time the store is back. */
  onChange(f: (key: string | null) => void): void;
}

const TAGS = "/api/tags";

const versionOf = (text: string) => Bun.hash(text).toString(36);

/**
 * The last good answers to Ollama's metadata requests (/api/tags, /api/version), kept beside the status
 * file, so a model list can be shown while the machine sleeps instead of waking a 300-watt machine to read it.
 * With several gateways they are shared through the store too; while it is away, each serves the last it saw.
 */
export class MetadataCache {
  private entries?: Record<string, CachedAnswer>;
  private readonly lastText = new Map<string, string>();
  /** The version of each answer held here: the store is asked for an answer only when it holds another. */
  private readonly versions = new Map<string, string>();
  /** Answers newer here than in the store (not sent yet, or sent while it was away): never replaced by the store's. */
  private readonly unshared = new Set<string>();
  /** Answers too large to share: served from here until another replica stores a newer one. */
  private readonly tooLarge = new Set<string>();
  private sharing: Promise<void> = Promise.resolve();
  private readonly lock = new Mutex();

  constructor(
    private readonly file: string,
    private readonly logger: Logger,
    private readonly now: () => Date = () => new Date(),
    /** Hears of every model list saved (the fleet's model index). */
    private readonly onTags: (models: string[]) => void = () => {},
    private readonly shared?: SharedAnswers,
  ) {
    shared?.onChange((key) => this.changed(key));
  }

  /** One at a time: two answers saved together must both end up in the file. */
  put(key: string, body: unknown): Promise<void> {
    if (!body || typeof body !== "object") return Promise.resolve();
    const text = JSON.stringify(body);
    // The common case: nothing changed, no write (but an answer the store missed is offered again).
    if (this.lastText.get(key) === text) return this.unshared.has(key) ? this.resend(key) : Promise.resolve();
    if (this.shared) this.unshared.add(key);
    return this.lock.run(async () => {
      const entry = { saved_at: this.now().toISOString(), body };
      await this.keep(key, entry, text);
      void this.share(key, entry, text);
    });
  }

  async get(key: string): Promise<CachedAnswer | null> {
    const local = (await this.load())[key] ?? null;
    if (!this.shared || this.unshared.has(key) || this.tooLarge.has(key)) return local;
    let found: SharedAnswer | null;
    try {
      found = await this.shared.read(key, this.versions.get(key));
    } catch (err) {
      if (!(err instanceof UnavailableError)) this.logger.warn("could not read the shared metadata", { key, err });
      return local; // the store away: the last answer this gateway saw
    }
    // A store that lost it (restarted empty) gets ours back.
    if (!found) return local ? (await this.resend(key), local) : null;
    return found.text === undefined ? local : this.adopt(key, found.text, found.saved_at ?? "", local);
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

  /** Held here from now on, in memory and in the file. */
  private async keep(key: string, entry: CachedAnswer, text: string): Promise<void> {
    const entries = { ...(await this.load()), [key]: entry };
    this.entries = entries;
    this.versions.set(key, versionOf(text));
    if (key === TAGS) this.tellTags(entry.body);
    try {
      await writeJsonAtomic(this.file, entries);
      this.lastText.set(key, text);
    } catch (err) {
      this.logger.warn("could not save the metadata cache", { file: this.file, err });
    }
  }

  /** Another replica's answer, taken unless this one has a newer one of its own to send. */
  private adopt(key: string, text: string, savedAt: string, local: CachedAnswer | null): Promise<CachedAnswer | null> {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return Promise.resolve(local);
    }
    if (!body || typeof body !== "object") return Promise.resolve(local);
    return this.lock.run(async () => {
      if (this.unshared.has(key)) return (await this.load())[key] ?? null;
      const entry = { saved_at: savedAt, body };
      await this.keep(key, entry, text);
      return entry;
    });
  }

  /**
   * Another replica stored `key`, or the store is back (null: every key held here, and the model list, which a
   * replica that never saw the machine may not hold yet). What is newer here goes to the store; the rest is read.
   */
  private changed(key: string | null): void {
    if (key !== null) this.tooLarge.delete(key);
    const keys = key === null ? new Set([TAGS, ...Object.keys(this.entries ?? {})]) : [key];
    const ignore = () => {}; // nothing here throws, and an unhandled rejection would end the gateway
    for (const k of keys) (this.unshared.has(k) ? this.resend(k) : this.get(k)).catch(ignore);
  }

  private resend(key: string): Promise<void> {
    const entry = this.entries?.[key];
    return entry ? this.share(key, entry, JSON.stringify(entry.body)) : Promise.resolve();
  }

  /** Sends an answer to the store, in order, never holding up the caller (a probe); kept for later if the store is away. */
  private share(key: string, entry: CachedAnswer, text: string): Promise<void> {
    const shared = this.shared;
    if (!shared) return Promise.resolve();
    this.unshared.add(key);
    this.sharing = this.sharing.then(async () => {
      if (this.entries?.[key] !== entry) return; // a newer one follows
      try {
        const stored = await shared.write(key, entry, text, versionOf(text));
        if (this.entries?.[key] !== entry) return;
        this.unshared.delete(key);
        if (stored) this.tooLarge.delete(key);
        else this.tooLarge.add(key);
      } catch (err) {
        if (!(err instanceof UnavailableError)) this.logger.warn("could not share the metadata", { key, err });
      }
    });
    return Promise.resolve();
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
