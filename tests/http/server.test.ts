// The server's connection helpers: serve() on a real loopback socket, the per-connection idle timeout that a
// proxied request switches off (always on the server's own Request object), and the one line for a taken port.
import { afterEach, expect, test } from "bun:test";
import { OpenAPIHono } from "@hono/zod-openapi";
import { addressInUse, connectionTimeout, keepConnectionOpen, portInUseMessage, rememberServerRequest, serve } from "../../src/http/server.ts";

const stops: (() => unknown)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

/** An env that records the timeouts asked of the server, and for which Request object. */
function recordingServer() {
  const calls: { req: Request; seconds: number }[] = [];
  return { calls, env: { timeout: (req: Request, seconds: number) => void calls.push({ req, seconds }) } };
}

test("serve answers on the address it was given", async () => {
  const app = new OpenAPIHono();
  app.post("/len", async (c) => c.json({ declared: c.req.header("content-length") }));
  const server = serve(app, { hostname: "127.0.0.1", port: 0 });
  stops.push(() => server.stop(true));
  expect(server.hostname).toBe("127.0.0.1");
  const res = await fetch(`http://127.0.0.1:${server.port}/len`, { method: "POST", body: "abc" });
  expect(await res.json()).toEqual({ declared: "3" });
});

test("keepConnectionOpen switches the server's idle timeout off for the request's connection", async () => {
  const { calls, env } = recordingServer();
  const app = new OpenAPIHono();
  app.get("/stream", (c) => {
    keepConnectionOpen(c);
    return c.text("ok");
  });
  await app.request("/stream", {}, env);
  expect(calls.map((c) => c.seconds)).toEqual([0]);
});

test("after a middleware swaps the request, the timeout still names the server's own Request object", async () => {
  const { calls, env } = recordingServer();
  const app = new OpenAPIHono();
  let original: Request | undefined;
  app.use("*", async (c, next) => {
    rememberServerRequest(c);
    original = c.req.raw;
    c.req.raw = new Request(c.req.raw.url, { method: "POST", body: "{}" }); // as json-body.ts does
    await next();
  });
  app.post("/x", (c) => {
    connectionTimeout(c, 120);
    return c.text("ok");
  });
  await app.request("/x", { method: "POST", body: "{}" }, env);
  expect(calls).toHaveLength(1);
  expect(calls[0]!.req).toBe(original!);
  expect(calls[0]!.seconds).toBe(120);
});

test("without a server underneath (app.request with no env) asking for a timeout does nothing", async () => {
  const app = new OpenAPIHono();
  app.get("/", (c) => {
    keepConnectionOpen(c);
    return c.text("ok");
  });
  expect((await app.request("/")).status).toBe(200);
});

test("a port already taken is told apart from other errors, in one line that names the way out", () => {
  const first = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
  stops.push(() => first.stop(true));
  let err: unknown;
  try {
    const second = Bun.serve({ hostname: "127.0.0.1", port: first.port, fetch: () => new Response("") });
    second.stop(true);
  } catch (e) {
    err = e;
  }
  expect(addressInUse(err)).toBe(true);
  expect(addressInUse(new Error("other"))).toBe(false);
  expect(addressInUse(null)).toBe(false);
  expect(portInUseMessage("127.0.0.1", 8000)).toBe(
    "cannot listen on 127.0.0.1:8000: the port is in use. Stop what uses it, or set PORT to a free port (PORT=0 picks one).",
  );
});
