// Who a key is and what it may do: the key ring (constant-time matching), the three roles and the scopes
// of a key (machines, models). The middleware that applies them is in auth.ts.
import { type ApiKeyConfig, type KeyLimits, Role } from "../../config/types.ts";
import { sha256 } from "../../lib/sha256.ts";
import { managesModels, OLLAMA_API, rolesAt, unpinned } from "../proxy/endpoints.ts";

/** A key as the rest of the gateway sees it: never the secret itself. */
export interface ApiKey {
  name: string;
  role: Role;
  /** null: every machine. */
  machines: readonly string[] | null;
  /** Glob patterns of the models it may use; null: every model. */
  models: readonly string[] | null;
  /** sha256 of the secret, hex: what a dashboard session remembers of the key that opened it. */
  identity: string;
  /** KEYS_FILE's `user_header`, lower case: on this key's requests only, its value is the usage's `user`. */
  userHeader?: string;
  /** Its limits, quotas and queue priority (core/access/limits.ts); absent: none, priority 0. */
  limits?: KeyLimits;
}

/**
 * The configured keys. A candidate is compared with every key over each key's full length, whatever it
 * is, so neither which key matched nor any key's content or length shows in the time taken. A
 * `key_sha256` entry is compared on the candidate's hash.
 */
export class KeyRing {
  private readonly entries: { key: ApiKey; plain: string | null; hash: Buffer }[];
  /** Whether any key is given by its hash: only then is a candidate hashed. */
  private readonly anyHashed: boolean;

  constructor(keys: readonly ApiKeyConfig[]) {
    this.entries = keys.map((k) => {
      const hash = k.secret.kind === "plain" ? sha256(Buffer.from(k.secret.key)) : Buffer.from(k.secret.sha256, "hex");
      const key: ApiKey = { name: k.name, role: k.role, machines: k.machines ?? null, models: k.models ?? null, identity: hash.toString("hex") };
      if (k.userHeader) key.userHeader = k.userHeader.toLowerCase();
      if (k.limits) key.limits = k.limits;
      return { key, plain: k.secret.kind === "plain" ? k.secret.key : null, hash };
    });
    this.anyHashed = this.entries.some((e) => e.plain === null);
  }

  match(candidate: string | undefined): ApiKey | null {
    if (!candidate) return null;
    // Compared as text, not as bytes: every request brings a key, and its copy into a Buffer was garbage per request.
    const hashed = this.anyHashed ? sha256(candidate) : null;
    let found: ApiKey | null = null;
    for (const e of this.entries) {
      const same = e.plain !== null ? sameText(e.plain, candidate) : sameBytes(e.hash, hashed!);
      if (same && !found) found = e.key;
    }
    return found;
  }

  /** Every key, in the order configured. */
  get keys(): ApiKey[] {
    return this.entries.map((e) => e.key);
  }

  /** The key a dashboard session was opened with, if it is still configured. */
  byIdentity(identity: string): ApiKey | null {
    return this.entries.find((e) => e.key.identity === identity)?.key ?? null;
  }

  /** Each key's identity; the same array for the ring's life (the session store caches by it). */
  get identities(): readonly string[] {
    this.ids ??= this.entries.map((e) => e.key.identity);
    return this.ids;
  }

  private ids?: readonly string[];
}

/** Over the key's whole length, whatever the candidate: a code unit past the candidate's end reads as NaN, which `| 0` makes 0. */
function sameText(key: string, candidate: string): boolean {
  let diff = key.length ^ candidate.length;
  for (let i = 0; i < key.length; i++) diff |= key.charCodeAt(i) ^ (candidate.charCodeAt(i) | 0);
  return diff === 0;
}

function sameBytes(key: Buffer, candidate: Buffer): boolean {
  let diff = key.length ^ candidate.length;
  for (let i = 0; i < key.length; i++) diff |= key[i]! ^ (candidate[i] ?? 0);
  return diff === 0;
}

/** Ollama's API, directly or pinned to one machine (the /k/<key> prefix is already gone from the path). */
const USER_READS = new Set([
  "/status",
  "/test",
  "/lista_modelos",
  "/leases",
  "/ready",
  "/events",
  "/events/history",
  "/machines",
  "/energy",
  "/usage",
]);
const USER_CHANGES = new Set(["/arrancar", "/apagar"]);
/** A key's own limits and what it has left: any key's. */
const OWN_KEY = "/keys/me";
/** /machines/{name}, and its ready, wake and release: a user's; its shutdown and permanent_on: an admin's. */
const USER_MACHINE = /^\/machines\/[^/]+(\/(ready|wake|release))?$/;

/** Why `role` may not make this request, or null when it may. On Ollama's API the endpoint table says who may. */
export function refusal(role: Role, method: string, path: string): string | null {
  if (role === Role.admin) return null;
  if (OLLAMA_API.test(path)) {
    const endpoint = unpinned(path);
    if (rolesAt(endpoint).includes(role)) return null;
    if (managesModels(endpoint)) return `this key's role (${role}) runs models; it may not pull, push, create, copy or delete them`;
    return `this key's role (${role}) runs models; it may not use ${method} ${endpoint}`;
  }
  const read = method === "GET" || method === "HEAD";
  if (read && path === OWN_KEY) return null; // every key may read what it may do and has left
  if (role === Role.inference) return "this key's role (inference) may only use Ollama's API: /api/* and /v1/*";
  if ((read && USER_READS.has(path)) || USER_CHANGES.has(path) || USER_MACHINE.test(path) || path.startsWith("/ollama/")) return null;
  return `this key's role (user) may not use ${method} ${path}: that needs an admin key`;
}

/** Whether a key may use the dashboard (log in, and keep a session open): a key that only runs models may not. */
export const mayUseDashboard = (key: ApiKey) => refusal(key.role, "GET", "/machines") === null;

/** Whether the key of this identity is still configured and may use the dashboard (a session's key after a reload). */
export const opensDashboard = (ring: KeyRing) => (identity: string) => {
  const key = ring.byIdentity(identity);
  return key !== null && mayUseDashboard(key);
};

/** The machine a path acts on by name (/machines/{name}/…), or undefined when the path names none. */
export function machineInPath(path: string): string | undefined {
  const m = /^\/machines\/([^/]+)/.exec(path);
  if (!m) return undefined;
  try {
    return decodeURIComponent(m[1]!);
  } catch {
    return m[1]; // a malformed escape names no machine: refused, or 404 further on
  }
}

export const mayUseMachine = (key: ApiKey, machine: string) => key.machines === null || key.machines.includes(machine);

const globs = new WeakMap<readonly string[], RegExp>();
/** `llama3*` matches llama3:8b and llama3.1:70b; a name without a tag also matches its `:latest`. */
export function mayUseModel(key: ApiKey, model: string): boolean {
  if (key.models === null) return true;
  let re = globs.get(key.models);
  if (!re) {
    const one = (g: string) => g.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*");
    re = new RegExp(`^(${key.models.map(one).join("|")})$`, "i");
    globs.set(key.models, re);
  }
  return re.test(model) || (!model.includes(":") && re.test(`${model}:latest`)) || (model.endsWith(":latest") && re.test(model.slice(0, -7)));
}
