// What a machine's Ollama holds in memory now (its GET /api/ps), so that a request goes where its model is
// already loaded rather than where it must first be read from disk. Read with each probe while the machine is
// on: the probe's "does Ollama answer?" read and this one go together, so a probe that has ended has both (a
// read left running behind it would land in the middle of whatever comes next). Nothing is kept for a machine
// that is not on, or whose last read failed. Nothing Ollama sends is trusted: at most MAX_LOADED entries, names
// cut at MAX_NAME_CHARS, anything malformed left out.
import { boundedText } from "../../lib/bounded-text.ts";
import { normalizeModel } from "../fleet/model-index.ts";
import { PowerState } from "../power/states.ts";
import type { TagsResult } from "./ollama.ts";

/** One model in memory, as GET /machines shows it. */
export interface LoadedModel {
  model: string;
  /** Bytes of it in the GPU's memory. */
  sizeVram: number;
  /** When Ollama unloads it unless it is used again (ISO-8601 UTC); null: not said. */
  expiresAt: string | null;
}

/** No GPU holds more models at once: more is an upstream that is not Ollama. */
export const MAX_LOADED = 64;
export const MAX_NAME_CHARS = 256;
// Ollama's entries are about 600 bytes each: MAX_LOADED of them fit many times over.
const MAX_ANSWER_BYTES = 256 * 1024;
// An RFC 3339 time with nanoseconds and an offset is 35 characters.
const MAX_TIME_CHARS = 64;

type ReadLoaded = (baseUrl: string, timeoutMs: number) => Promise<LoadedModel[] | null>;

/** The entries of an /api/ps answer that make sense, at most MAX_LOADED; null: not that answer's shape at all. */
export function parseLoaded(body: unknown): LoadedModel[] | null {
  const models = body !== null && typeof body === "object" ? (body as { models?: unknown }).models : undefined;
  if (!Array.isArray(models)) return null;
  const out: LoadedModel[] = [];
  for (const m of models) {
    if (out.length >= MAX_LOADED) break;
    if (m === null || typeof m !== "object") continue;
    const { model, name, size_vram, expires_at } = m as Record<string, unknown>;
    const named = nonBlank(model) ?? nonBlank(name);
    if (named === undefined) continue;
    out.push({ model: named.slice(0, MAX_NAME_CHARS), sizeVram: bytes(size_vram), expiresAt: instant(expires_at) });
  }
  return out;
}

const nonBlank = (v: unknown): string | undefined => (typeof v === "string" && v.trim() !== "" ? v : undefined);
const bytes = (v: unknown): number => (typeof v === "number" && Number.isSafeInteger(v) && v >= 0 ? v : 0);

/** An instant as ISO-8601 UTC; Go's zero time (year 1, "never said") and anything unreadable: null. */
function instant(v: unknown): string | null {
  if (typeof v !== "string" || v.length > MAX_TIME_CHARS) return null;
  const ms = Date.parse(v);
  return Number.isFinite(ms) && ms > 0 ? new Date(ms).toISOString() : null;
}

/** One read of GET /api/ps; null when it fails in any way (no answer, an error status, too large, not JSON). Never throws. */
export async function readLoaded(baseUrl: string, timeoutMs: number): Promise<LoadedModel[] | null> {
  try {
    const res = await fetch(`${baseUrl}/api/ps`, { signal: AbortSignal.timeout(timeoutMs), redirect: "manual" });
    if (!res.ok) {
      await res.body?.cancel().catch(() => {});
      return null;
    }
    const text = await boundedText(res, MAX_ANSWER_BYTES);
    return text === null ? null : parseLoaded(JSON.parse(text));
  } catch {
    return null;
  }
}

export interface LoadedModelsOptions {
  /** How long a read may take (the machine's probe timeout). */
  timeoutMs: number;
  /** The read itself (tests replace it). */
  read?: ReadLoaded;
  /** Wall-clock time, as Ollama's expires_at is: a model past it is no longer counted as loaded. */
  now?: () => number;
}

/** The models one machine has loaded, as its last read said. */
export class LoadedModels {
  private models: readonly LoadedModel[] = [];
  /** By the name as Ollama reads it, when each expires (ms; Infinity: not said). */
  private expires = new Map<string, number>();
  private lastState: PowerState | undefined;
  /** Bumped by every change: a read that began before one is dropped when it ends. */
  private seq = 0;

  constructor(private readonly o: LoadedModelsOptions) {}

  /**
   * The probe's read of Ollama's model list, followed (when Ollama answered it) by the read of what is loaded.
   * Only while the last probe saw the machine on: the requests held for a wake, and those that arrive as the
   * gateway starts (they wait for its first probe), should not wait for this read too; an Ollama that has just
   * come up has nothing loaded yet, and one found on at start is read at the next probe.
   */
  alongside(fetchTags: (baseUrl: string, timeoutMs: number) => Promise<TagsResult>) {
    return async (baseUrl: string, timeoutMs: number): Promise<TagsResult> => {
      const tags = await fetchTags(baseUrl, timeoutMs);
      if (tags.ok && this.lastState === PowerState.on) await this.refresh(baseUrl);
      return tags;
    };
  }

  /** After each probe (the monitor's probed hook): nothing is loaded on a machine that is not on. */
  probed(state: PowerState): void {
    this.lastState = state;
    if (state !== PowerState.on) this.set([]); // a read under way is dropped too
  }

  /** Reads what is loaded now; a failed read leaves nothing (never a list that may be stale). */
  async refresh(baseUrl: string): Promise<void> {
    const mine = ++this.seq;
    const read = await (this.o.read ?? readLoaded)(baseUrl, this.o.timeoutMs);
    if (mine === this.seq) this.set(read ?? []);
  }

  /** Whether `model` (as Ollama reads the name) is loaded now. */
  has(model: string): boolean {
    const until = this.expires.get(normalizeModel(model));
    return until !== undefined && until > this.now();
  }

  /** What is loaded now, in Ollama's order. */
  list(): LoadedModel[] {
    const now = this.now();
    return this.models.filter((m) => (this.expires.get(normalizeModel(m.model)) ?? 0) > now);
  }

  private set(models: readonly LoadedModel[]): void {
    this.seq++;
    this.models = models;
    this.expires = new Map(models.map((m) => [normalizeModel(m.model), m.expiresAt === null ? Number.POSITIVE_INFINITY : Date.parse(m.expiresAt)]));
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
  }
}
