// sandboxAnswers in a tiny Hono app: every answer that is not one of the gateway's own pages is sandboxed,
// whatever the route (an endpoint added later is covered), whatever policy the upstream sent.
import { expect, test } from "bun:test";
import { Hono } from "hono";
import { isOwnPage, sandboxAnswers, UNTRUSTED_ANSWER_HEADERS } from "../../src/http/sandbox.ts";

function gateway() {
  const app = new Hono();
  app.use("*", sandboxAnswers(isOwnPage));
  // What a compromised upstream might answer: a page with a script, and a policy of its own.
  app.get(
    "/api/evil",
    () => new Response("<script>alert(1)</script>", { headers: { "content-type": "text/html", "content-security-policy": "script-src *" } }),
  );
  app.get("/status", (c) => c.json({ ok: true }));
  app.get("/moved", () => Response.redirect("http://127.0.0.1:9/elsewhere", 302));
  app.get("/ui", (c) => c.html("<p>dashboard</p>", 200, { "content-security-policy": "default-src 'self'" }));
  app.get("/docs/assets/x.js", (c) => c.text("js"));
  return app;
}

const sandboxed = (res: Response) => Object.fromEntries(Object.keys(UNTRUSTED_ANSWER_HEADERS).map((h) => [h, res.headers.get(h)]));

test("an upstream's page gets the sandbox, its own policy replaced, its body untouched", async () => {
  const res = await gateway().request("/api/evil");
  expect(sandboxed(res)).toEqual({ ...UNTRUSTED_ANSWER_HEADERS });
  expect(res.headers.get("content-security-policy")).toStartWith("sandbox;");
  expect(await res.text()).toBe("<script>alert(1)</script>");
});

test("the gateway's own JSON routes get it too, and a redirect with immutable headers is rebuilt to carry it", async () => {
  const app = gateway();
  expect(sandboxed(await app.request("/status"))).toEqual({ ...UNTRUSTED_ANSWER_HEADERS });
  const moved = await app.request("/moved");
  expect(moved.status).toBe(302);
  expect(moved.headers.get("location")).toBe("http://127.0.0.1:9/elsewhere");
  expect(sandboxed(moved)).toEqual({ ...UNTRUSTED_ANSWER_HEADERS });
  // Not found is an answer like any other.
  expect(sandboxed(await app.request("/nowhere"))).toEqual({ ...UNTRUSTED_ANSWER_HEADERS });
});

test("the dashboard and the docs keep their own, narrower policy", async () => {
  const app = gateway();
  const ui = await app.request("/ui");
  expect(ui.headers.get("content-security-policy")).toBe("default-src 'self'");
  expect((await app.request("/docs/assets/x.js")).headers.get("x-content-type-options")).toBeNull();
});

test("isOwnPage: the dashboard, the docs and the icon, nothing that merely starts like them", () => {
  for (const p of ["/ui", "/ui/assets/app.js", "/docs", "/docs/assets/x", "/favicon.ico"]) expect(isOwnPage(p)).toBe(true);
  for (const p of ["/uix", "/docsy", "/api/ui", "/machines/ui/api/tags"]) expect(isOwnPage(p)).toBe(false);
});
