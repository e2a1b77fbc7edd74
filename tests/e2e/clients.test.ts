// The official clients, which no one here wrote, pointed at the gateway as if it were Ollama or OpenAI.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Ollama } from "ollama";
import OpenAI from "openai";
import { type Harness, KEY, startHarness } from "../helpers.ts";

let h: Harness;
beforeAll(async () => (h = await startHarness({ on: true })));
afterAll(async () => h.close());

describe("the ollama npm client", () => {
  const client = () => new Ollama({ host: h.url, headers: { "X-API-Key": KEY } });

  test("streams a chat", async () => {
    let text = "";
    let parts = 0;
    for await (const part of await client().chat({ model: "llama3.2:3b", messages: [{ role: "user", content: "hi" }], stream: true })) {
      text += part.message.content;
      parts++;
    }
    expect(parts).toBeGreaterThan(2);
    expect(text).toStartWith("The sky");
  });

  test("generates without streaming", async () => {
    const res = await client().generate({ model: "llama3.2:3b", prompt: "hi", options: { num_predict: 3 } });
    expect(res.done).toBe(true);
    expect(res.response).toBe("The sky looks");
  });

  test("pulls with progress, lists, shows and deletes", async () => {
    const statuses: string[] = [];
    for await (const p of await client().pull({ model: "tinyllama", stream: true })) statuses.push(p.status);
    expect(statuses[0]).toBe("pulling manifest");
    expect(statuses.at(-1)).toBe("success");
    expect((await client().list()).models.map((m) => m.name)).toContain("tinyllama");
    expect((await client().show({ model: "llama3.2:3b" })).details.family).toBe("llama");
    expect(await client().delete({ model: "tinyllama" })).toEqual({ status: "success" });
    expect((await client().list()).models.map((m) => m.name)).not.toContain("tinyllama");
  });

  test("works with the key in the host path, as the CLI's OLLAMA_HOST would give it", async () => {
    const viaPath = new Ollama({ host: `${h.url}/k/${KEY}` });
    expect((await viaPath.version()).version).toBe("0.12.0-sim");
  });

  test("surfaces Ollama's own errors", async () => {
    const err = await client()
      .generate({ model: "missing", prompt: "x" })
      .catch((e) => e);
    expect(err.status_code).toBe(404);
    expect(err.error).toContain("not found");
  });
});

describe("the openai npm client", () => {
  const client = () => new OpenAI({ baseURL: `${h.url}/v1`, apiKey: KEY, maxRetries: 0 });

  test("streams a chat completion", async () => {
    const stream = await client().chat.completions.create({ model: "llama3.2:3b", messages: [{ role: "user", content: "hi" }], stream: true });
    let text = "";
    let finish: string | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(text).toStartWith("The sky");
    expect(finish).toBe("stop");
  });

  test("answers a plain chat completion", async () => {
    const res = await client().chat.completions.create({ model: "llama3.2:3b", messages: [{ role: "user", content: "hi" }], max_tokens: 2 });
    expect(res.choices[0]!.message.content).toBe("The sky");
    expect(res.usage?.completion_tokens).toBe(2);
  });

  test("lists models", async () => {
    const ids: string[] = [];
    for await (const m of client().models.list()) ids.push(m.id);
    expect(ids).toContain("llama3.2:3b");
  });

  test("a wrong key is refused with 401", async () => {
    const bad = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: "wrong", maxRetries: 0 });
    const err = await bad.models.list().catch((e) => e);
    expect(err.status).toBe(401);
  });
});
