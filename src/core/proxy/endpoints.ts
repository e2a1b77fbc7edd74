// Ollama's endpoints in one table: what each does, which body fields name a model, how it streams, how long
// Ollama may stay silent, which roles may use it, its metric label. Every part of the gateway that treats one
// endpoint unlike another reads it here: the role rules, a model-limited key's checks, the fleet's routing,
// the body rules, the idle timeouts, the metric labels and the documented routes. Taken from Ollama's own
// route list (server/routes.go, GenerateRoutes), not guessed. Answers pass through untouched: the newer
// fields of /api/ps (context_length, runner, …) need nothing here. An endpoint missing from the table is still
// forwarded, as `other`, to keys without a model limit; a model-limited key is refused on it.
import { Role } from "../../config/types.ts";
import type { UsageDialect, UsageKind } from "../usage/types.ts";

export type EndpointKind = "generate" | "embed" | "manage" | "metadata" | "other";
/** How an answer streams when it does: NDJSON lines (Ollama's API), Server-Sent Events (OpenAI's, Anthropic's). */
export type Streaming = "ndjson" | "sse" | "none";
/** Which idle timeout applies while Ollama is silent: PROXY_TIMEOUT_GENERATE_S, _PULL_S or _DEFAULT_S. */
export type TimeoutClass = "generate" | "pull" | "default";
/** What the request body is: JSON (read to route and check it), binary (a blob), a multipart form, or none. */
export type BodyKind = "json" | "binary" | "multipart" | "none";

export interface Endpoint {
  /** Upper-case; a GET endpoint also answers HEAD. */
  methods: readonly string[];
  /** As documented: /api/blobs/{digest}. A `{…}` part is the rest of the path, whatever it holds. */
  path: string;
  kind: EndpointKind;
  body: BodyKind;
  /** The body fields naming the model it acts on, the first present wins (`name` is Ollama's older form). */
  model: readonly string[];
  /** A create's starting model: with several machines it is made where that one is. */
  from?: string;
  /** Other body fields that name a model (a copy's destination): checked for a model-limited key, never routed by. */
  alsoNames?: readonly string[];
  /** GET /v1/models/{model}: the model is the rest of the path. */
  modelInPath?: boolean;
  /** A pull or a create: a model no machine holds yet goes to the default machine, not a 404. */
  createsModel?: boolean;
  /** Its answer is a model list: a model-limited key sees only its models in it. */
  lists?: boolean;
  streams: Streaming;
  /**
   * An OpenAI completion: a `"stream": true` request that waits for a wake gets its 200 at once and SSE
   * comments meanwhile (errors in OpenAI's shape, see routes/ollama/wake-progress.ts).
   */
  wakeComments?: boolean;
  /**
   * How a stream the gateway has to end early (Ollama went silent, its answer broke) says so: Ollama's and
   * OpenAI's clients read an `{"error": …}` line or `data:` message; Anthropic's see only a named `error` event.
   */
  errorEvent?: "anthropic";
  timeout: TimeoutClass;
  /** A request that generates or embeds: counted in usage, by this kind, its figures read in this dialect. */
  usage?: { kind: UsageKind; dialect: UsageDialect };
  roles: readonly Role[];
  /** The `route` label of ollama_gate_proxied_requests_total: a fixed set, whatever paths clients make up. */
  label: string;
  summary: string;
}

const ALL: readonly Role[] = [Role.admin, Role.user, Role.inference];
/** An inference key runs models: it may not change which models a machine holds, nor sign it out of ollama.com. */
const NOT_INFERENCE: readonly Role[] = [Role.admin, Role.user];

type Row = Omit<Endpoint, "label" | "roles" | "body" | "model" | "streams" | "timeout"> & Partial<Endpoint>;
const row = (r: Row): Endpoint => ({
  label: r.path.replace(/\/\{[^}]+\}$/, ""), // a pattern's label is its fixed part: /api/blobs
  roles: r.kind === "manage" ? NOT_INFERENCE : ALL,
  body: r.methods.includes("POST") || r.methods.includes("DELETE") ? "json" : "none",
  model: [],
  streams: "none",
  timeout: r.kind === "generate" || r.kind === "embed" ? "generate" : r.kind === "manage" ? "pull" : "default",
  ...r,
});
const MODEL = ["model"];
/** Ollama's older forms name the model `name`. */
const MODEL_OR_NAME = ["model", "name"];
const chat = { kind: "generate", model: MODEL } as const;
const EMBED_OLLAMA = { kind: "embed", dialect: "ollama" } as const;

export const ENDPOINTS: readonly Endpoint[] = [
  row({ methods: ["GET", "HEAD"], path: "/api/version", kind: "metadata", summary: "Ollama's version" }),
  row({ methods: ["GET", "HEAD"], path: "/api/tags", kind: "metadata", lists: true, summary: "Installed models" }),
  row({ methods: ["GET"], path: "/api/ps", kind: "metadata", lists: true, summary: "Models loaded in memory" }),
  row({
    methods: ["POST"],
    path: "/api/generate",
    ...chat,
    usage: { kind: "generate", dialect: "ollama" },
    streams: "ndjson",
    summary: "Generate a completion; streams NDJSON unless `stream` is false",
  }),
  row({
    methods: ["POST"],
    path: "/api/chat",
    ...chat,
    streams: "ndjson",
    usage: { kind: "chat", dialect: "ollama" },
    summary: "Chat; streams NDJSON unless `stream` is false",
  }),
  row({ methods: ["POST"], path: "/api/embed", kind: "embed", model: MODEL, usage: EMBED_OLLAMA, summary: "Embeddings" }),
  row({ methods: ["POST"], path: "/api/embeddings", kind: "embed", model: MODEL, usage: EMBED_OLLAMA, summary: "Embeddings (older endpoint)" }),
  row({
    methods: ["POST"],
    path: "/api/pull",
    kind: "manage",
    model: MODEL_OR_NAME,
    createsModel: true,
    streams: "ndjson",
    summary: "Download a model; streams progress",
  }),
  row({ methods: ["POST"], path: "/api/push", kind: "manage", model: MODEL_OR_NAME, streams: "ndjson", summary: "Upload a model; streams progress" }),
  row({
    methods: ["POST"],
    path: "/api/create",
    kind: "manage",
    model: MODEL_OR_NAME,
    from: "from",
    createsModel: true,
    streams: "ndjson",
    summary: "Create a model; streams progress",
  }),
  row({
    methods: ["POST"],
    path: "/api/copy",
    kind: "manage",
    model: ["source"],
    alsoNames: ["destination"],
    timeout: "default",
    summary: "Copy a model",
  }),
  row({ methods: ["DELETE"], path: "/api/delete", kind: "manage", model: MODEL_OR_NAME, timeout: "default", summary: "Delete a model" }),
  row({ methods: ["POST"], path: "/api/show", kind: "metadata", model: MODEL_OR_NAME, summary: "Show a model's details" }),
  row({ methods: ["HEAD"], path: "/api/blobs/{digest}", kind: "manage", body: "binary", summary: "Does a blob exist?" }),
  row({
    methods: ["POST"],
    path: "/api/blobs/{digest}",
    kind: "manage",
    body: "binary",
    summary: "Upload a blob; the body streams through, never held in memory",
  }),
  // Ollama's cloud: its account (ollama.com) and web tools, passed through.
  row({ methods: ["GET"], path: "/api/status", kind: "other", summary: "Whether Ollama's cloud features are enabled" }),
  row({ methods: ["POST"], path: "/api/me", kind: "other", body: "none", summary: "The ollama.com account this Ollama is signed in to" }),
  row({ methods: ["POST"], path: "/api/signout", kind: "other", body: "none", roles: NOT_INFERENCE, summary: "Sign this Ollama out of ollama.com" }),
  row({
    methods: ["DELETE"],
    path: "/api/user/keys/{encodedKey}",
    kind: "other",
    body: "none",
    roles: NOT_INFERENCE,
    summary: "Sign this Ollama out of ollama.com (older form)",
  }),
  row({ methods: ["POST"], path: "/api/experimental/web_search", kind: "other", summary: "Web search through ollama.com (experimental)" }),
  row({ methods: ["POST"], path: "/api/experimental/web_fetch", kind: "other", summary: "Fetch a web page through ollama.com (experimental)" }),

  row({ methods: ["GET"], path: "/v1/models", kind: "metadata", lists: true, summary: "Installed models" }),
  row({ methods: ["GET"], path: "/v1/models/{model}", label: "/v1/models/{model}", kind: "metadata", modelInPath: true, summary: "One model" }),
  row({
    methods: ["POST"],
    path: "/v1/chat/completions",
    ...chat,
    usage: { kind: "chat", dialect: "openai" },
    streams: "sse",
    wakeComments: true,
    summary: "Chat completions; Server-Sent Events when `stream` is true",
  }),
  row({
    methods: ["POST"],
    path: "/v1/completions",
    ...chat,
    streams: "sse",
    wakeComments: true,
    usage: { kind: "generate", dialect: "openai" },
    summary: "Completions",
  }),
  row({ methods: ["POST"], path: "/v1/embeddings", kind: "embed", model: MODEL, usage: { kind: "embed", dialect: "openai" }, summary: "Embeddings" }),
  row({
    methods: ["POST"],
    path: "/v1/responses",
    ...chat,
    usage: { kind: "chat", dialect: "responses" },
    streams: "sse",
    summary: "OpenAI's Responses API; Server-Sent Events when `stream` is true",
  }),
  row({
    methods: ["POST"],
    path: "/v1/messages",
    ...chat,
    usage: { kind: "chat", dialect: "anthropic" },
    streams: "sse",
    errorEvent: "anthropic",
    summary: "Anthropic's Messages API (Claude Code); Server-Sent Events when `stream` is true",
  }),
  row({ methods: ["POST"], path: "/v1/images/generations", ...chat, summary: "Generate an image" }),
  row({ methods: ["POST"], path: "/v1/images/edits", ...chat, summary: "Edit an image" }),
  // Its model is a field of a multipart form, which the gateway does not read: a model-limited key is refused
  // (its model cannot be checked), and with several machines it goes to the default one unless pinned.
  row({ methods: ["POST"], path: "/v1/audio/transcriptions", kind: "generate", body: "multipart", summary: "Transcribe audio (a multipart form)" }),
];

/** The labels of what the table does not know, by prefix. */
export const OTHER_LABELS = { api: "/api/other", v1: "/v1/other" } as const;
/** Every value the `route` label can take. */
export const LABELS: readonly string[] = [...new Set([...ENDPOINTS.map((e) => e.label), OTHER_LABELS.api, OTHER_LABELS.v1])];

// The lookup runs for every proxied request: a Map for exact paths, a few prefixes for the patterns.
const EXACT = new Map<string, Endpoint[]>();
const PATTERNS: [prefix: string, entries: Endpoint[]][] = [];
for (const e of ENDPOINTS) {
  const brace = e.path.indexOf("{");
  if (brace < 0) EXACT.set(e.path, [...(EXACT.get(e.path) ?? []), e]);
  else {
    const prefix = e.path.slice(0, brace);
    const found = PATTERNS.find(([p]) => p === prefix);
    if (found) found[1].push(e);
    else PATTERNS.push([prefix, [e]]);
  }
}

/** The entries at a path, whatever the method. */
function entriesAt(path: string): Endpoint[] | undefined {
  const exact = EXACT.get(path);
  if (exact) return exact;
  for (const [prefix, entries] of PATTERNS) if (path.length > prefix.length && path.startsWith(prefix)) return entries;
  return undefined;
}

/** The endpoint a request uses (`path` decoded, without any /machines/<name> pin or query), or undefined. */
export function endpointFor(method: string, path: string): Endpoint | undefined {
  const entries = entriesAt(path);
  if (!entries) return undefined;
  for (const e of entries) if (e.methods.includes(method) || (method === "HEAD" && e.methods.includes("GET"))) return e;
  return undefined;
}

/** The model a path names (GET /v1/models/{model}), as written there: the part its pattern leaves open. */
export const modelInPathOf = (e: Endpoint, path: string): string => path.slice(e.path.indexOf("{"));

/** The first entry at a path whatever the method: the entries at one path share their label and timeout. */
function anyAt(path: string): Endpoint | undefined {
  if (path.includes("%")) {
    try {
      path = decodeURIComponent(path); // the upstream target is still percent-encoded
    } catch {}
  }
  return entriesAt(path)?.[0];
}

/** The metric label of a path: the table's, else /api/other or /v1/other. Never a made-up path. */
export const labelOf = (path: string): string => anyAt(path)?.label ?? (path.startsWith("/v1/") ? OTHER_LABELS.v1 : OTHER_LABELS.api);

/** How long Ollama may stay silent on a path: generation and model transfers take longer than the rest. */
export const timeoutOf = (path: string): TimeoutClass => anyAt(path)?.timeout ?? "default";
/** How a stream of this path that must end early says so (see Endpoint.errorEvent). */
export const errorEventOf = (path: string): Endpoint["errorEvent"] => anyAt(path)?.errorEvent;

/** How a path's body is read (`path` without its pin); undefined for an endpoint the table does not know. */
export const bodyAt = (path: string): BodyKind | undefined => entriesAt(path)?.[0]?.body;

const rootOf = (path: string) => {
  const second = path.indexOf("/", 1);
  const third = second < 0 ? -1 : path.indexOf("/", second + 1);
  return third < 0 ? path : path.slice(0, third);
};
/**
 * By root (/api/pull, /api/blobs, /api/user): the roles every endpoint under it allows, and whether one of them
 * manages models. Decided by root so that /api/pull/x is refused to whom /api/pull is.
 */
const ROOTS = new Map<string, { roles: readonly Role[]; manages: boolean }>();
for (const e of ENDPOINTS) {
  const root = rootOf(e.path);
  const before = ROOTS.get(root) ?? { roles: ALL, manages: false };
  ROOTS.set(root, { roles: before.roles.filter((r) => e.roles.includes(r)), manages: before.manages || e.kind === "manage" });
}

/** The roles that may use a path (without its pin), whatever the method; every role on what the table does not know. */
export const rolesAt = (path: string): readonly Role[] => ROOTS.get(rootOf(path))?.roles ?? ALL;
/** Whether a path (without its pin) is under an endpoint that changes which models a machine holds. */
export const managesModels = (path: string): boolean => ROOTS.get(rootOf(path))?.manages ?? false;

/** Every body field that may name a model, on any endpoint. */
export const MODEL_FIELDS: ReadonlySet<string> = new Set(ENDPOINTS.flatMap((e) => [...e.model, ...(e.from ? [e.from] : []), ...(e.alsoNames ?? [])]));
/** The fields the fleet routes by: what an endpoint acts on, and a create's starting model. */
export const ROUTING_FIELDS: readonly string[] = [...new Set(ENDPOINTS.flatMap((e) => [...e.model, ...(e.from ? [e.from] : [])]))];

/** Ollama's API, known endpoints or not, directly or pinned to one machine (/machines/{name}/api/…). */
export const OLLAMA_API = /^(\/machines\/[^/]+)?\/(api|v1)(\/|$)/;
const PIN = /^\/machines\/[^/]+(?=\/(api|v1)(\/|$))/;
/** A path of Ollama's API without its /machines/<name> pin. */
export const unpinned = (path: string): string => (path.startsWith("/machines/") ? path.replace(PIN, "") : path);
