// The access log in a tiny Hono app served on a loopback socket: one JSON line per request with its fields
// in a fixed order, never a key (neither a /k/<key>/ prefix nor a query string), and the count by key and
// status in the metrics, "none" for a request without a key.
import { afterAll, expect, test } from "bun:test";
import { Hono } from "hono";
import type { ApiKey } from "../../src/core/access/access.ts";
import type { Logger } from "../../src/core/telemetry/logger.ts";
import { memoryLogger } from "../../src/core/telemetry/logger.ts";
import { GateMetrics } from "../../src/core/telemetry/metrics.ts";
import { accessLog, accessLogger } from "../../src/http/access-log.ts";
import { routedPath } from "../../src/http/key-path.ts";

const SECRET = "sk-live-do-not-log";
const alice: ApiKey = { name: "alice", role: "user", machines: null, models: null, identity: "a" };

const logger = memoryLogger();
const metrics = new GateMetrics({ states: [], reasons: [], machines: () => [], labelled: false });
// As the gateway's app: the router reads the path with any /k/<key> prefix taken off.
const app = new Hono({ getPath: routedPath });
app.use("*", accessLog({ logger, metrics, requestSeen: () => {} }));
// Stands for the auth middleware: a request naming alice is hers.
app.use("*", async (c, next) => {
  if (c.req.header("x-test-key") === "alice") c.set("apiKey", alice);
  await next();
});
app.get("/api/tags", (c) => c.json({ models: [] }));
app.post("/api/pull", (c) => c.json({ detail: "busy" }, 503));
const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: app.fetch });
afterAll(() => server.stop(true));

/** Sends one request and returns the access log line it wrote, parsed. */
async function logged(path: string, init: RequestInit = {}): Promise<Record<string, unknown>> {
  const before = logger.lines.length;
  const res = await fetch(`http://127.0.0.1:${server.port}${path}`, init);
  await res.arrayBuffer();
  const lines = logger.lines.slice(before).filter((l) => JSON.parse(l).msg === "request");
  expect(lines).toHaveLength(1);
  expect(lines[0]).not.toContain(SECRET);
  return JSON.parse(lines[0]!);
}

const requestsBy = (key: string, status: number) => {
  const line = metrics
    .render()
    .split("\n")
    .find((l) => l.startsWith(`ollama_gate_requests_total{key="${key}",status="${status}"}`));
  return line ? Number(line.split(" ").at(-1)) : 0;
};

test("one JSON line per request: method, path, status, ms and key, in that order after time, level and msg", async () => {
  const line = await logged("/api/tags", { headers: { "x-test-key": "alice" } });
  expect(Object.keys(line)).toEqual(["time", "level", "msg", "method", "path", "status", "ms", "key"]);
  expect(line).toMatchObject({ level: "info", msg: "request", method: "GET", path: "/api/tags", status: 200, key: "alice" });
  expect(typeof line.ms).toBe("number");
  expect(line.ms as number).toBeGreaterThanOrEqual(0);

  const failed = await logged("/api/pull", { method: "POST", headers: { "x-test-key": "alice" } });
  expect(failed).toMatchObject({ method: "POST", path: "/api/pull", status: 503, key: "alice" });
});

test("a request without a key has no key field in its line", async () => {
  const line = await logged("/api/tags");
  expect(Object.keys(line)).toEqual(["time", "level", "msg", "method", "path", "status", "ms"]);
});

test("never a key in the line: no query string, a /k/<key>/ prefix taken off or written /k/***", async () => {
  expect((await logged(`/api/tags?key=${SECRET}&x=1`)).path).toBe("/api/tags");
  // Routed as Ollama's API: the router never saw the prefix.
  expect((await logged(`/k/${SECRET}/api/tags`)).path).toBe("/api/tags");
  // Not a path the router takes a key from (nothing of Ollama's after it): the key is still blanked out.
  expect(await logged(`/k/${SECRET}/elsewhere`)).toMatchObject({ path: "/k/***/elsewhere", status: 404 });
  expect((await logged(`/K/${SECRET}`)).path).toBe("/k/***");
});

test('requests are counted by key and status, under "none" without a key', async () => {
  const [alice200, alice503, none200, none404] = [
    requestsBy("alice", 200),
    requestsBy("alice", 503),
    requestsBy("none", 200),
    requestsBy("none", 404),
  ];
  await logged("/api/tags", { headers: { "x-test-key": "alice" } });
  await logged("/api/tags", { headers: { "x-test-key": "alice" } });
  await logged("/api/pull", { method: "POST", headers: { "x-test-key": "alice" } });
  await logged("/api/tags");
  await logged(`/k/${SECRET}/nowhere`);
  expect(requestsBy("alice", 200) - alice200).toBe(2);
  expect(requestsBy("alice", 503) - alice503).toBe(1);
  expect(requestsBy("none", 200) - none200).toBe(1);
  expect(requestsBy("none", 404) - none404).toBe(1);
  expect(metrics.render()).not.toContain(SECRET);
});

test("a logger that takes no JSON text is given the same fields, in the same order, as an object", () => {
  const calls: [string, Record<string, unknown> | undefined][] = [];
  const plain: Logger = {
    debug: () => {},
    info: (msg, fields) => void calls.push([msg, fields]),
    warn: () => {},
    error: () => {},
  };
  const own = new GateMetrics({ states: [], reasons: [], machines: () => [], labelled: false });
  const log = accessLogger({ logger: plain, metrics: own, requestSeen: () => {} });
  log.answered(log.started(), "DELETE", `/k/${SECRET}/x`, 404, undefined);
  expect(calls).toHaveLength(1);
  const [msg, fields] = calls[0]!;
  expect(msg).toBe("request");
  expect(Object.keys(fields!)).toEqual(["method", "path", "status", "ms", "key"]);
  expect(fields).toMatchObject({ method: "DELETE", path: "/k/***/x", status: 404, key: undefined });
  expect(own.render()).toContain('ollama_gate_requests_total{key="none",status="404"} 1');
});
