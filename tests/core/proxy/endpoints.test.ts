// The endpoint table: Ollama's routes as its server declares them, and the answers every part of the gateway reads.
import { expect, test } from "bun:test";
import {
  ENDPOINTS,
  endpointFor,
  LABELS,
  labelOf,
  MODEL_FIELDS,
  managesModels,
  modelInPathOf,
  ROUTING_FIELDS,
  rolesAt,
  timeoutOf,
  unpinned,
} from "../../../src/core/proxy/endpoints.ts";

// Ollama's server/routes.go (GenerateRoutes), but for / (not under /api or /v1: not proxied).
const OLLAMA_ROUTES = `HEAD /api/version, GET /api/version, GET /api/status, POST /api/pull, POST /api/push, HEAD /api/tags,
  GET /api/tags, POST /api/show, DELETE /api/delete, POST /api/me, POST /api/signout, DELETE /api/user/keys/{encodedKey},
  POST /api/create, POST /api/blobs/{digest}, HEAD /api/blobs/{digest}, POST /api/copy, POST /api/experimental/web_search,
  POST /api/experimental/web_fetch, GET /api/ps, POST /api/generate, POST /api/chat, POST /api/embed, POST /api/embeddings,
  POST /v1/chat/completions, POST /v1/completions, POST /v1/embeddings, GET /v1/models, GET /v1/models/{model},
  POST /v1/responses, POST /v1/images/generations, POST /v1/images/edits, POST /v1/audio/transcriptions, POST /v1/messages`;

test("the table holds every route Ollama serves, and nothing else", () => {
  const table = ENDPOINTS.flatMap((e) => e.methods.map((m) => `${m} ${e.path}`)).sort();
  expect(table).toEqual(
    OLLAMA_ROUTES.split(",")
      .map((r) => r.trim())
      .sort(),
  );
});

test("one lookup by method and path: exact paths, patterns, HEAD as GET, and nothing for the rest", () => {
  expect(endpointFor("POST", "/api/chat")?.kind).toBe("generate");
  expect(endpointFor("GET", "/api/chat")).toBeUndefined();
  expect(endpointFor("HEAD", "/api/ps")?.lists).toBe(true);
  expect(endpointFor("POST", "/api/blobs/sha256:abc")?.body).toBe("binary");
  expect(endpointFor("POST", "/api/blobs/")).toBeUndefined();
  const one = endpointFor("GET", "/v1/models/hf.co/user/model:q4")!;
  expect(modelInPathOf(one, "/v1/models/hf.co/user/model:q4")).toBe("hf.co/user/model:q4");
  expect(endpointFor("POST", "/v1/messages")).toMatchObject({ kind: "generate", streams: "sse", model: ["model"] });
  expect(endpointFor("POST", "/v1/audio/transcriptions")).toMatchObject({ body: "multipart", model: [] });
  expect(endpointFor("POST", "/api/aaaa")).toBeUndefined();
  expect(unpinned("/machines/big/api/chat")).toBe("/api/chat");
  expect(unpinned("/machines/big/wake")).toBe("/machines/big/wake");
});

test("labels come from the table only: known routes keep theirs, the rest is /api/other or /v1/other", () => {
  expect(labelOf("/api/tags")).toBe("/api/tags");
  expect(labelOf("/v1/chat/completions")).toBe("/v1/chat/completions");
  expect(labelOf("/api/blobs/sha256:0123")).toBe("/api/blobs");
  expect(labelOf("/v1/models/llama3:8b")).toBe("/v1/models/{model}");
  expect(labelOf("/api/user/keys/c3NoLWVkMjU1MTk")).toBe("/api/user/keys");
  expect(labelOf("/api/%63hat")).toBe("/api/chat");
  expect(labelOf("/api/aaaa")).toBe("/api/other");
  expect(labelOf("/api/bbbb/cc")).toBe("/api/other");
  expect(labelOf("/v1/whatever")).toBe("/v1/other");
  expect(LABELS).toContain("/api/other");
  expect(new Set(LABELS).size).toBe(LABELS.length);
});

test("an inference key may not manage models nor sign the machine out; unknown endpoints are every role's", () => {
  for (const path of ["/api/pull", "/api/pull/x", "/api/push", "/api/create", "/api/copy", "/api/delete", "/api/blobs", "/api/blobs/sha256:1"]) {
    expect(rolesAt(path)).not.toContain("inference");
    expect(managesModels(path)).toBe(true);
  }
  for (const path of ["/api/signout", "/api/user/keys/abc"]) {
    expect(rolesAt(path)).toEqual(["admin", "user"]);
    expect(managesModels(path)).toBe(false);
  }
  for (const path of ["/api/chat", "/v1/messages", "/api/me", "/api/made-up", "/v1/anything/else"]) expect(rolesAt(path)).toContain("inference");
});

test("timeouts: generation and model transfers wait longer, the rest the default", () => {
  const cases: [string, string][] = [
    ["/api/generate", "generate"],
    ["/api/embed", "generate"],
    ["/v1/responses", "generate"],
    ["/v1/messages", "generate"],
    ["/api/pull", "pull"],
    ["/api/blobs/sha256:abc", "pull"],
    ["/api/copy", "default"],
    ["/api/show", "default"],
    ["/api/made-up", "default"],
  ];
  for (const [path, cls] of cases) expect(`${path} ${timeoutOf(path)}`).toBe(`${path} ${cls}`);
});

test("the fields that name a model: all are checked for a scoped key, the router never reads a copy's destination", () => {
  expect([...MODEL_FIELDS].sort()).toEqual(["destination", "from", "model", "name", "source"]);
  expect([...ROUTING_FIELDS].sort()).toEqual(["from", "model", "name", "source"]);
});
