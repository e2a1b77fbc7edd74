import { expect, test } from "bun:test";
import { timeoutOf } from "../../../src/core/proxy/endpoints.ts";
import { clientResponseHeaders, upstreamRequestHeaders } from "../../../src/core/proxy/headers.ts";

test("requests lose hop-by-hop headers, those named in Connection, and the gateway's credentials", () => {
  const out = upstreamRequestHeaders(
    new Headers({
      Connection: "keep-alive, X-Hop",
      "X-Hop": "1",
      "Keep-Alive": "timeout=5",
      TE: "trailers",
      Upgrade: "h2c",
      "Proxy-Authorization": "Basic x",
      Authorization: "Bearer gateway-key",
      "X-API-Key": "gateway-key",
      Cookie: "og_session=dashboard-token",
      Host: "gate.example.com",
      "Content-Length": "12",
      "Content-Type": "application/json",
      "User-Agent": "ollama-js/0.6",
      "X-Custom": "kept",
    }),
  );
  expect(out.map(([name]) => name).sort()).toEqual(["content-type", "user-agent", "x-custom"]);
});

test("a content type the gateway chooses replaces the client's", () => {
  const out = upstreamRequestHeaders(new Headers({ "Content-Type": "application/x-www-form-urlencoded", Accept: "*/*" }), "application/json");
  expect(out).toEqual([
    ["accept", "*/*"],
    ["content-type", "application/json"],
  ]);
});

test("responses lose hop-by-hop headers and any cookie, and keep the rest", () => {
  const out = clientResponseHeaders(
    new Headers({
      "Transfer-Encoding": "chunked",
      Connection: "close",
      "Content-Type": "application/x-ndjson",
      Date: "x",
      "Set-Cookie": "og_session=x",
    }),
  );
  expect([...out.keys()].sort()).toEqual(["content-type", "date"]);
});

test("responses lose the headers their Connection names, taken out of the answer's own Headers", () => {
  const answer = new Headers({ Connection: "keep-alive, X-Hop", "X-Hop": "1", "Content-Length": "2" });
  const out = clientResponseHeaders(answer);
  expect(out).toBe(answer);
  expect([...out.keys()]).toEqual(["content-length"]);
});

test.each([
  ["/api/generate", "generate"],
  ["/api/chat", "generate"],
  ["/api/embed", "generate"],
  ["/v1/chat/completions", "generate"],
  ["/api/pull", "pull"],
  ["/api/push", "pull"],
  ["/api/create", "pull"],
  ["/api/blobs/sha256:abc", "pull"],
  ["/api/tags", "default"],
  ["/api/show", "default"],
])("%s uses the %s idle timeout", (path, cls) => {
  expect(timeoutOf(path)).toBe(cls as never);
});
