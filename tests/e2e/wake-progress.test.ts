// OpenAI streaming clients while the machine wakes: the 200 at once, SSE comments until Ollama's stream,
// an OpenAI-shaped error event when the wake fails. Read by the official openai client and by a raw fetch.
import { afterEach, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { type FleetHarness, type Harness, KEY, nextEvent, startFleetHarness, startHarness } from "../helpers.ts";

let h: Harness | undefined;
let fleet: FleetHarness | undefined;
afterEach(async () => {
  await h?.close();
  await fleet?.close();
  h = fleet = undefined;
});

const MESSAGES = [{ role: "user" as const, content: "hi" }];
const openai = (url: string, timeout = 3000) => new OpenAI({ baseURL: `${url}/v1`, apiKey: KEY, maxRetries: 0, timeout });

/** An OpenAI streaming chat read raw: the whole text, and whether the machine was already on when the headers came. */
async function rawStream(url: string, model = "llama3.2:3b", on: () => boolean = () => false) {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "X-API-Key": KEY, "Content-Type": "application/json" },
    body: JSON.stringify({ model, messages: MESSAGES, stream: true }),
  });
  const onAtHeaders = on();
  return { status: res.status, type: res.headers.get("content-type"), onAtHeaders, text: await res.text() };
}

/** Everything an openai client stream gives, or the error it throws. */
async function drain(stream: AsyncIterable<OpenAI.Chat.Completions.ChatCompletionChunk>) {
  let text = "";
  let finish: string | null = null;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta.content ?? "";
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  return { text, finish };
}

const comments = (text: string) => [...text.matchAll(/^: waking (\S+) \((\d+) s\)$/gm)].map((m) => ({ machine: m[1], s: Number(m[2]) }));

describe("an OpenAI stream that waits for a wake", () => {
  test("gets its 200 at once and a comment every second through an 8 s boot: the openai client (3 s timeout) gets its completion", async () => {
    h = await startHarness({ machine: { bootDelayMs: 8000 }, deps: { wakeProgressMs: 1000 } });
    const sim = h.sim;
    const client = openai(h.url);
    const viaClient = client.chat.completions.create({ model: "llama3.2:3b", messages: MESSAGES, stream: true }).then(drain);
    const raw = rawStream(h.url, "llama3.2:3b", () => sim.state === "on");
    // The same client, without a stream: it waits for the boot as before, so its own 3 s timeout cuts it.
    const plain = client.chat.completions.create({ model: "llama3.2:3b", messages: MESSAGES }).catch((e) => e);

    expect(await plain).toBeInstanceOf(OpenAI.APIConnectionTimeoutError);
    const { text, finish } = await viaClient;
    expect(text).toStartWith("The sky");
    expect(finish).toBe("stop");

    const r = await raw;
    expect(r.status).toBe(200);
    expect(r.type).toStartWith("text/event-stream");
    expect(r.onAtHeaders).toBe(false); // answered while the machine was still booting
    const seen = comments(r.text);
    expect(seen.length).toBeGreaterThanOrEqual(6);
    expect(seen[0]).toEqual({ machine: "default", s: 0 });
    expect(seen.map((c) => c.s)).toEqual(seen.map((c) => c.s).sort((a, b) => a - b));
    // Then Ollama's stream, untouched, after the last comment.
    const data = r.text.indexOf("data: ");
    expect(data).toBeGreaterThan(r.text.lastIndexOf(": waking"));
    expect(r.text.trimEnd()).toEndWith("data: [DONE]");
    expect(sim.packets).toHaveLength(1); // one wake for everyone who waited
    expect(h.deps.activity.inFlight).toBe(0);
    expect(h.deps.bodies.passthrough.small.inUse).toBe(0); // each waiting body's memory was given back once sent
  }, 30_000);

  test("a 60 s boot with the default settings: no gap of 10 s without a byte, and the openai client gets its completion", async () => {
    // The issue's own case: a machine that takes a minute, the gateway's default comment interval (5 s), and a
    // reader that gives up after 10 s of silence, as many proxies and HTTP clients do on a read.
    h = await startHarness({ machine: { bootDelayMs: 60_000 }, env: { WAKE_TIMEOUT_S: "120" } });
    const viaClient = openai(h.url, 10_000).chat.completions.create({ model: "llama3.2:3b", messages: MESSAGES, stream: true }).then(drain);
    const res = await fetch(`${h.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "X-API-Key": KEY, "Content-Type": "application/json" },
      body: JSON.stringify({ model: "llama3.2:3b", messages: MESSAGES, stream: true }),
    });
    const reader = res.body!.getReader();
    let text = "";
    let longestGap = 0;
    for (let last = performance.now(); ; ) {
      const { done, value } = await reader.read();
      longestGap = Math.max(longestGap, performance.now() - last);
      last = performance.now();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    expect(longestGap).toBeLessThan(10_000);
    expect(comments(text).length).toBeGreaterThanOrEqual(11);
    expect(text.trimEnd()).toEndWith("data: [DONE]");
    expect(await viaClient).toMatchObject({ finish: "stop" });
  }, 90_000);

  test("a wake that times out ends the stream with an OpenAI-shaped error event, which the openai client throws", async () => {
    // The gateway wakes a MAC this machine does not have, so it never boots.
    h = await startHarness({ env: { IA_MAC: "02:00:00:00:00:01", WAKE_TIMEOUT_S: "1", WOL_RETRY_S: "10" }, deps: { wakeProgressMs: 200 } });
    const gaveUp = nextEvent(h.deps, (e) => e.type === "wake_timeout");
    const raw = rawStream(h.url);
    const err = await openai(h.url)
      .chat.completions.create({ model: "llama3.2:3b", messages: MESSAGES, stream: true })
      .then(drain)
      .catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(err.message).toContain("did not become ready within 1 s");
    expect(err.code).toBe("wake_timeout");
    expect(err.type).toBe("server_error");

    const r = await raw;
    expect(r.status).toBe(200);
    expect(comments(r.text).length).toBeGreaterThanOrEqual(3);
    const last = r.text.trimEnd().split("\n").at(-1)!;
    expect(JSON.parse(last.slice("data: ".length))).toEqual({
      error: { message: "The AI machine was woken but did not become ready within 1 s", type: "server_error", code: "wake_timeout" },
    });
    expect(h.sim.ollama.requests).toHaveLength(0);
    expect(h.logs.some((l) => l.includes("request failed") && l.includes("503"))).toBe(true);
    // /events: each wake event says how far into the wake it came, and which attempt it was.
    const sent = h.deps.events.history().find((e) => e.type === "wake_sent")!;
    expect(sent.data).toEqual({ attempt: 1, elapsed_s: 0, via: "wol", key: "api-key-1" });
    const timeout = await gaveUp;
    expect(timeout.data.attempt).toBe(1);
    expect(timeout.data.elapsed_s).toBeGreaterThanOrEqual(1);
  }, 15_000);

  test("a model Ollama does not have, found once the machine is up, ends the stream with Ollama's own error", async () => {
    h = await startHarness({ machine: { bootDelayMs: 300 }, deps: { wakeProgressMs: 100 } });
    const err = await openai(h.url)
      .chat.completions.create({ model: "missing", messages: MESSAGES, stream: true })
      .then(drain)
      .catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(err.message).toContain('model "missing" not found');
  });

  test("a plug that refuses ends the stream at once with wake_failed (a fleet: the model picks the machine)", async () => {
    fleet = await startFleetHarness();
    fleet.plug.failNext(500);
    const r = await rawStream(fleet.url, "qwen2.5:7b");
    expect(r.status).toBe(200);
    expect(comments(r.text)[0]?.machine).toBe("small");
    const event = JSON.parse(r.text.trimEnd().split("\n").at(-1)!.slice("data: ".length));
    expect(event.error).toMatchObject({ code: "wake_failed", type: "server_error" });
    expect(event.error.message).toContain("the power URL answered 500");
    const failed = fleet.deps.events.history().find((e) => e.type === "wake_failed")!;
    expect(failed.data).toMatchObject({ attempt: 1, elapsed_s: 0, via: "http" });
  });

  test("a client that leaves during the wait: nothing is forwarded, and nothing keeps running", async () => {
    h = await startHarness({ machine: { bootDelayMs: 800 }, deps: { wakeProgressMs: 100 } });
    const leave = new AbortController();
    const res = await fetch(`${h.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "X-API-Key": KEY, "Content-Type": "application/json" },
      body: JSON.stringify({ model: "llama3.2:3b", messages: MESSAGES, stream: true }),
      signal: leave.signal,
    });
    const first = await res.body!.getReader().read();
    expect(new TextDecoder().decode(first.value)).toStartWith(": waking default (0 s)");
    const left = h.logLine((l) => l.includes("client left while the machine woke"));
    leave.abort();
    await left;
    await nextEvent(h.deps, (e) => e.type === "power" && e.data.to === "on"); // the wake itself goes on
    expect(h.sim.ollama.requests.filter((r) => r.path === "/v1/chat/completions")).toHaveLength(0);
    expect(h.deps.activity.inFlight).toBe(0);
    expect(h.deps.bodies.passthrough.small.inUse).toBe(0);
  });
});

describe("what keeps today's behaviour", () => {
  const post = (url: string, path: string, body: object) =>
    fetch(url + path, { method: "POST", headers: { "X-API-Key": KEY, "Content-Type": "application/json" }, body: JSON.stringify(body) });

  test("a request that does not stream, and a native NDJSON stream, wait for the boot and then answer", async () => {
    h = await startHarness({ machine: { bootDelayMs: 500 }, deps: { wakeProgressMs: 100 } });
    const sim = h.sim;
    const [plain, native] = await Promise.all(
      [
        post(h.url, "/v1/chat/completions", { model: "llama3.2:3b", messages: MESSAGES, stream: false }),
        post(h.url, "/api/chat", { model: "llama3.2:3b", messages: MESSAGES, stream: true }),
      ].map((p) => p.then((res) => ({ res, on: sim.state === "on" }))),
    );
    expect(plain!.on).toBe(true);
    expect(plain!.res.headers.get("content-type")).toStartWith("application/json");
    expect(((await plain!.res.json()) as any).choices[0].message.content).toStartWith("The sky");
    expect(native!.on).toBe(true);
    expect(native!.res.headers.get("content-type")).toStartWith("application/x-ndjson");
    expect(await native!.res.text()).not.toContain(": waking");
  });

  test("a stream for a machine already on has no comment: Ollama's stream from its first byte", async () => {
    h = await startHarness({ on: true, deps: { wakeProgressMs: 1 } });
    const r = await rawStream(h.url);
    expect(r.status).toBe(200);
    expect(r.text).toStartWith("data: ");
    expect(r.text).not.toContain(": waking");
  });
});
