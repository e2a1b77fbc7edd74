// What a machine has loaded (Ollama's /api/ps): read over a real socket from the simulator and from upstreams
// that misbehave, bounded, and kept by the holder only while the machine is on.
import { afterEach, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { type LoadedModel, LoadedModels, MAX_LOADED, MAX_NAME_CHARS, parseLoaded, readLoaded } from "../../../src/core/machine/loaded-models.ts";
import type { TagsResult } from "../../../src/core/machine/ollama.ts";
import { FakeOllama, fakeModel } from "../../../src/sim/fake-ollama.ts";

const servers: Server<unknown>[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.stop(true);
});

/** An upstream on loopback that answers every request with `answer`. */
function upstream(answer: (req: Request) => Response | Promise<Response>): string {
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: answer });
  servers.push(server);
  return `http://127.0.0.1:${server.port}`;
}

describe("parseLoaded: Ollama's /api/ps, and nothing else trusted", () => {
  test("Ollama's own shape: model, size_vram and expires_at (as UTC)", () => {
    const body = {
      models: [
        {
          name: "llama3:latest",
          model: "llama3:latest",
          size: 5137025024,
          digest: "365c0bd3c000",
          details: { family: "llama" },
          expires_at: "2024-06-04T14:38:31.83753-07:00",
          size_vram: 5137025024,
        },
      ],
    };
    expect(parseLoaded(body)).toEqual([{ model: "llama3:latest", sizeVram: 5137025024, expiresAt: "2024-06-04T21:38:31.837Z" }]);
  });

  test.each([null, 5, "models", [], {}, { models: "x" }, { models: { a: 1 } }].map((body) => [body] as const))(
    "not the answer's shape (%j): null",
    (body) => {
      expect(parseLoaded(body)).toBeNull();
    },
  );

  test("entries without a name are left out; a bad size is 0; a time that is not one, or Go's zero time, is null", () => {
    const models = [
      null,
      7,
      "llama3",
      { model: 5 },
      { model: "   " },
      { name: "older:1b", size_vram: -1, expires_at: "soon" },
      { model: "a:1b", size_vram: 1.5, expires_at: "0001-01-01T00:00:00Z" },
      { model: "b:1b", size_vram: "12", expires_at: 12 },
      { model: "c:1b", size_vram: 2 ** 60, expires_at: `2026-01-01T00:00:00Z${" ".repeat(100)}` },
    ];
    expect(parseLoaded({ models })).toEqual([
      { model: "older:1b", sizeVram: 0, expiresAt: null },
      { model: "a:1b", sizeVram: 0, expiresAt: null },
      { model: "b:1b", sizeVram: 0, expiresAt: null },
      { model: "c:1b", sizeVram: 0, expiresAt: null },
    ]);
  });

  test(`at most ${MAX_LOADED} entries, names cut at ${MAX_NAME_CHARS} characters`, () => {
    const models = Array.from({ length: 500 }, (_, i) => ({ model: `${"m".repeat(1000)}${i}`, size_vram: i }));
    const parsed = parseLoaded({ models })!;
    expect(parsed).toHaveLength(MAX_LOADED);
    expect(parsed.every((m) => m.model.length === MAX_NAME_CHARS)).toBe(true);
  });
});

describe("readLoaded: one read over a socket, never a throw", () => {
  test("the simulator lists what served a request or was put in memory, with its size and when it unloads", async () => {
    const fake = new FakeOllama({ models: [fakeModel("shared:8b", 4_000_000_000, "llama", "8B")] });
    const url = upstream(fake.fetch);
    expect(await readLoaded(url, 1000)).toEqual([]);
    fake.markLoaded("shared:8b");
    const before = Date.now();
    const [one] = (await readLoaded(url, 1000))!;
    expect(one).toMatchObject({ model: "shared:8b", sizeVram: 4_000_000_000 });
    expect(Date.parse(one!.expiresAt!)).toBeGreaterThan(before + 200_000); // Ollama's five minutes
    const res = await fetch(`${url}/api/chat`, { method: "POST", body: JSON.stringify({ model: "llama3.2:3b", messages: [], stream: false }) });
    await res.body?.cancel();
    expect(res.status).toBe(404); // not a model it holds: nothing loaded for it
    expect((await readLoaded(url, 1000))!.map((m) => m.model)).toEqual(["shared:8b"]);
  });

  test("an error status, a body that is not JSON or not the shape, one too large, no answer, nobody listening: null", async () => {
    const urls = [
      upstream(() => Response.json({ error: "boom" }, { status: 500 })),
      upstream(() => new Response("{ not json")),
      upstream(() => new Response('{"models":[{"model":"x"')), // cut off
      upstream(() => Response.json({ models: null })),
      upstream(() => new Response(`{"models":[${'{"model":"x"},'.repeat(40_000)}{"model":"y"}]}`)), // ~520 KB
      upstream(() => new Response(null, { status: 302, headers: { location: "http://127.0.0.1:1/api/ps" } })),
      upstream(() => new Promise<Response>(() => {})), // never answers
    ];
    const closed = upstream(() => new Response("x"));
    servers.pop()!.stop(true);
    urls.push(closed);
    const results = await Promise.all(urls.map((u) => readLoaded(u, 300)));
    expect(results).toEqual(urls.map(() => null));
  });
});

describe("LoadedModels: what one machine has loaded", () => {
  const TAGS_OK: TagsResult = { ok: true, ms: 1, models: [], raw: { models: [] } };
  const TAGS_FAILED: TagsResult = { ok: false, ms: 1, error: "refused" };
  const entry = (model: string, expiresAt: string | null = null): LoadedModel => ({ model, sizeVram: 1, expiresAt });

  /** A holder whose reads answer `next` (a list, null for a failure) and are counted; its clock is the test's. */
  function holder() {
    const t = { now: Date.parse("2026-11-25T10:00:00Z"), reads: 0, next: [] as LoadedModel[] | null };
    const loaded = new LoadedModels({
      timeoutMs: 1000,
      now: () => t.now,
      read: async () => {
        t.reads++;
        return t.next;
      },
    });
    return { t, loaded };
  }

  test("read with each good read of the model list, while the machine was on at the last probe", async () => {
    const { t, loaded } = holder();
    t.next = [entry("Shared:8B"), entry("llama3")];
    const tags = loaded.alongside(async () => TAGS_OK);
    expect(await tags("http://127.0.0.1:1", 1000)).toBe(TAGS_OK); // the first probe: nothing more
    expect(t.reads).toBe(0);
    loaded.probed("on");
    expect(await tags("http://127.0.0.1:1", 1000)).toBe(TAGS_OK);
    expect(t.reads).toBe(1);
    expect(loaded.has("shared:8b")).toBe(true); // as Ollama reads names
    expect(loaded.has("llama3:latest")).toBe(true);
    expect(loaded.has("other:1b")).toBe(false);
    expect(loaded.list().map((m) => m.model)).toEqual(["Shared:8B", "llama3"]);
    await tags("http://127.0.0.1:1", 1000);
    expect(t.reads).toBe(2);
    // A failed list read asks nothing more.
    await loaded.alongside(async () => TAGS_FAILED)("http://127.0.0.1:1", 1000);
    expect(t.reads).toBe(2);
  });

  test("nothing is kept for a machine that is not on; the probe that sees it come on reads nothing", async () => {
    const { t, loaded } = holder();
    t.next = [entry("shared:8b")];
    const tags = loaded.alongside(async () => TAGS_OK);
    for (const state of ["off", "degraded", "shutting_down", "waking"] as const) {
      loaded.probed("on");
      await tags("http://127.0.0.1:1", 1000);
      expect(loaded.has("shared:8b")).toBe(true);
      loaded.probed(state);
      expect(loaded.list()).toEqual([]);
      expect(loaded.has("shared:8b")).toBe(false);
    }
    // Waking: Ollama answers again, but what it has loaded is read only once the machine is seen on.
    const reads = t.reads;
    await tags("http://127.0.0.1:1", 1000);
    expect(t.reads).toBe(reads);
    loaded.probed("on");
    await tags("http://127.0.0.1:1", 1000);
    expect(t.reads).toBe(reads + 1);
  });

  test("a failed read leaves nothing; a read that ends after the machine went off is dropped", async () => {
    const { t, loaded } = holder();
    t.next = [entry("shared:8b")];
    await loaded.refresh("http://127.0.0.1:1");
    expect(loaded.has("shared:8b")).toBe(true);
    t.next = null;
    await loaded.refresh("http://127.0.0.1:1");
    expect(loaded.list()).toEqual([]);
    // A slow read, overtaken by a probe that saw the machine off.
    const slow = Promise.withResolvers<LoadedModel[] | null>();
    const late = new LoadedModels({ timeoutMs: 1000, read: () => slow.promise });
    const reading = late.refresh("http://127.0.0.1:1");
    late.probed("off");
    slow.resolve([entry("shared:8b")]);
    await reading;
    expect(late.list()).toEqual([]);
  });

  test("a model past its expires_at is no longer loaded; one without is until the next read", async () => {
    const { t, loaded } = holder();
    t.next = [entry("soon:1b", "2026-11-25T10:05:00.000Z"), entry("kept:1b")];
    await loaded.refresh("http://127.0.0.1:1");
    expect(loaded.has("soon:1b")).toBe(true);
    t.now = Date.parse("2026-11-25T10:05:00Z");
    expect(loaded.has("soon:1b")).toBe(false);
    expect(loaded.has("kept:1b")).toBe(true);
    expect(loaded.list().map((m) => m.model)).toEqual(["kept:1b"]);
  });
});
