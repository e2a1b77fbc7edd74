import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Harness, json, startHarness } from "../helpers.ts";

let h: Harness;
beforeAll(async () => (h = await startHarness({ on: true })));
afterAll(async () => h.close());

const post = (path: string, body: unknown) =>
  h.api(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
// The power monitor's probes (GET /api/tags) come and go in the background: skip them.
// The probes read /api/tags and, while the machine is on, /api/ps at any moment: not what a route forwarded.
const lastUpstream = () => h.sim.ollama.requests.findLast((r) => r.path !== "/api/tags" && r.path !== "/api/ps")!;

describe("the old service's /ollama/* routes", () => {
  test("generate defaults to stream false and forwards every option the client sent", async () => {
    const body = {
      model: "llama3.2:3b",
      prompt: "hi",
      format: "json",
      options: { temperature: 0.2, num_ctx: 8192 },
      keep_alive: "10m",
      think: false,
      raw: true,
      suffix: "!",
      images: [],
      brand_new_option: { a: 1 },
    };
    const res = await post("/ollama/generate", body);
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({ done: true, response: expect.any(String) });
    expect(lastUpstream()).toMatchObject({ method: "POST", path: "/api/generate" });
    expect(JSON.parse(lastUpstream().body)).toEqual({ ...body, stream: false });
  });

  test("chat forwards tools and keeps an explicit stream: true streaming", async () => {
    const tools = [{ type: "function", function: { name: "get_weather", parameters: { type: "object" } } }];
    const res = await post("/ollama/chat", { model: "llama3.2:3b", messages: [{ role: "user", content: "hi" }], tools, stream: true });
    expect(res.headers.get("content-type")).toBe("application/x-ndjson");
    const linesOut = (await res.text()).trim().split("\n");
    expect(linesOut.length).toBeGreaterThan(2);
    expect(JSON.parse(lastUpstream().body).tools).toEqual(tools);
  });

  test("pull accepts the older `name` and streams progress", async () => {
    const res = await post("/ollama/pull", { name: "tinyllama" });
    const progress = (await res.text())
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(progress[0]).toEqual({ status: "pulling manifest" });
    expect(progress.at(-1)).toEqual({ status: "success" });
    expect(JSON.parse(lastUpstream().body)).toEqual({ name: "tinyllama" });
  });

  test("show forwards to /api/show", async () => {
    expect(await json(post("/ollama/show", { model: "llama3.2:3b" }))).toMatchObject({ details: { family: "llama" } });
    expect(lastUpstream().path).toBe("/api/show");
  });

  test("delete sends DELETE /api/delete with the JSON body and answers {success, mensaje}", async () => {
    const res = await post("/ollama/delete", { model: "tinyllama" });
    expect(await json(res)).toEqual({ success: true, mensaje: "Model tinyllama deleted" });
    expect(lastUpstream()).toMatchObject({ method: "DELETE", path: "/api/delete", body: '{"model":"tinyllama"}' });
    const again = await post("/ollama/delete", { model: "tinyllama" });
    expect(again.status).toBe(404);
    expect((await json(again)).error).toContain("not found");
  });

  test.each([
    ["/ollama/generate", { prompt: "no model" }, "model"],
    ["/ollama/chat", { model: "llama3.2:3b" }, "messages"],
    ["/ollama/chat", { model: "llama3.2:3b", messages: "not a list" }, "messages"],
    ["/ollama/pull", {}, "model"],
    ["/ollama/show", { model: "" }, "model"],
  ])("%s with %j is a 422 naming %s", async (path, body, field) => {
    const before = h.sim.ollama.requests.length;
    const res = await post(path, body);
    expect(res.status).toBe(422);
    const { detail } = await json(res);
    expect(detail.some((d: any) => d.loc.includes(field))).toBe(true);
    expect(h.sim.ollama.requests.length).toBe(before);
  });

  test("a JSON body sent without a Content-Type is read as JSON, as FastAPI did", async () => {
    const res = await h.api("/ollama/show", { method: "POST", body: new TextEncoder().encode('{"model":"llama3.2:3b"}') });
    expect(res.status).toBe(200);
    expect(lastUpstream().path).toBe("/api/show");
  });

  test("a body that is not JSON is a 422, never a 500", async () => {
    const res = await h.api("/ollama/generate", { method: "POST", headers: { "content-type": "application/json" }, body: "{oops" });
    expect(res.status).toBe(422);
  });
});
