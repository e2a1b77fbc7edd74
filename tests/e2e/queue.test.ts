// A machine's queue through real sockets, against the simulator, whose "gated" model holds each answer until
// the test releases it: the order with three keys of different priorities and counts, the bounds (max_queue,
// queue_timeout_s), a client that leaves the line, queued requests counted as work that holds the machine on,
// and the comments a waiting OpenAI stream gets, read by the official client.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import OpenAI from "openai";
import { type Harness, json, nextEvent, startHarness, tempDir, until } from "../helpers.ts";

const keys = {
  runner: "runner-key-0123456789",
  batch: "batch-key-01234567890",
  family: "family-key-0123456789",
  urgent: "urgent-key-0123456789",
};
const KEYS = `
keys:
  - { name: runner, key: ${keys.runner}, role: inference }
  - { name: batch, key: ${keys.batch}, role: inference }
  - { name: family, key: ${keys.family}, role: user }
  - { name: urgent, key: ${keys.urgent}, role: inference, priority: 5 }
`;

async function gateway(env: Record<string, string>, wakeProgressMs?: number) {
  const dir = tempDir();
  writeFileSync(join(dir.dir, "keys.yaml"), KEYS);
  const h = await startHarness({ on: true, env: { KEYS_FILE: join(dir.dir, "keys.yaml"), ...env }, deps: { wakeProgressMs } });
  await h.deps.monitor.tick();
  return { h, cleanup: async () => (await h.close(), dir.cleanup()) };
}

/** A streamed generate of the gated model, labelled by its prompt; resolves once Ollama has begun to answer it. */
function send(h: Harness, key: keyof typeof keys, label: string, signal?: AbortSignal) {
  return fetch(`${h.url}/api/generate`, {
    method: "POST",
    headers: { authorization: `Bearer ${keys[key]}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "gated", prompt: label, stream: true }),
    signal,
  });
}
/** Lets the one running gated answer end, once it is there to be let go (a release before it would be lost). */
async function releaseOne(h: Harness): Promise<void> {
  await until(() => h.sim.ollama.atGate === 1);
  h.sim.ollama.release();
  await until(() => h.sim.ollama.atGate === 0);
}
const reached = (h: Harness) => h.sim.ollama.requests.filter((r) => r.path === "/api/generate").map((r) => JSON.parse(r.body).prompt);

describe("a machine's queue (MAX_CONCURRENT=1)", () => {
  let g: Awaited<ReturnType<typeof gateway>>;
  beforeAll(async () => {
    g = await gateway({ MAX_CONCURRENT: "1", QUEUE_TIMEOUT_S: "60" }, 50);
  });
  afterAll(() => g.cleanup());

  test("three keys: the higher priority first, round robin among the others, first come first served within one", async () => {
    const { h } = g;
    const queue = h.deps.fleet.units[0]!.queue;
    const first = await send(h, "runner", "runner-0");
    const bodies = [first.text()];
    const answers: Promise<Response>[] = [];
    const plan: [keyof typeof keys, string][] = [
      ["batch", "batch-1"],
      ["batch", "batch-2"],
      ["batch", "batch-3"],
      ["family", "family-1"],
      ["family", "family-2"],
      ["urgent", "urgent-1"],
    ];
    for (const [key, label] of plan) {
      answers.push(send(h, key, label));
      await until(() => queue.depth === answers.length); // in this order
    }
    // Queued requests are work that holds the machine on (the idle rule reads this count).
    expect(h.deps.activity.inFlight).toBe(7);
    expect(queue.entries().map((e) => e.key)).toEqual(["urgent", "batch", "family", "batch", "family", "batch"]);
    // GET /machines/{name}: an admin sees every key's place, another key its own requests' and the length.
    const name = h.deps.fleet.units[0]!.name;
    const admin = await json(h.api(`/machines/${name}`));
    expect(admin).toMatchObject({ running: 1, queue_length: 6 });
    expect(admin.queue.map((e: { key: string; position: number }) => `${e.key}@${e.position}`)).toEqual([
      "urgent@1",
      "batch@2",
      "family@3",
      "batch@4",
      "family@5",
      "batch@6",
    ]);
    const own = await json(fetch(`${h.url}/machines/${name}`, { headers: { authorization: `Bearer ${keys.family}` } }));
    expect(own).toMatchObject({ running: 1, queue_length: 6 });
    expect(own.queue.map((e: { key: string; position: number }) => `${e.key}@${e.position}`)).toEqual(["family@3", "family@5"]);
    for (const res of answers) res.then((r) => bodies.push(r.text()));
    for (let i = 1; i <= plan.length; i++) {
      await releaseOne(h); // the running one ends; the next in line is sent
      await until(() => reached(h).length === i + 1);
    }
    await releaseOne(h);
    await Promise.all(answers);
    await until(() => bodies.length === plan.length + 1);
    await Promise.all(bodies);
    expect(reached(h).slice(-7)).toEqual(["runner-0", "urgent-1", "batch-1", "family-1", "batch-2", "family-2", "batch-3"]);
    await until(() => queue.running === 0);
  });

  test("a client that leaves the line is gone from it at once, and nothing is sent upstream for it", async () => {
    const { h } = g;
    const queue = h.deps.fleet.units[0]!.queue;
    const before = reached(h).length;
    const first = await send(h, "runner", "runner-1");
    const leaving = new AbortController();
    const gone = send(h, "batch", "left", leaving.signal).catch((e) => e);
    await until(() => queue.depth === 1);
    const stays = send(h, "family", "stays");
    await until(() => queue.depth === 2);
    leaving.abort();
    await gone;
    await until(() => queue.depth === 1);
    await releaseOne(h);
    await first.text();
    const next = await stays;
    await releaseOne(h);
    await next.text();
    expect(reached(h).slice(before)).toEqual(["runner-1", "stays"]);
  });

  test("an OpenAI stream that waits gets its 200 at once, comments with its place, then its answer (the official client)", async () => {
    const { h } = g;
    const running = await send(h, "runner", "runner-2");
    const raw = await fetch(`${h.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${keys.family}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "gated", stream: true, messages: [{ role: "user", content: "raw" }] }),
    });
    expect(raw.status).toBe(200);
    const reader = raw.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(first).toMatch(/^: queued on [a-z0-9-]+, position 1 of 1 \(\d+ s\)\n\n/);
    const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: keys.batch, maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: "gated", stream: true, messages: [{ role: "user", content: "sdk" }] });
    const text = (async () => {
      let out = "";
      for await (const chunk of stream) out += chunk.choices[0]?.delta?.content ?? "";
      return out;
    })();
    await until(() => h.deps.fleet.units[0]!.queue.depth === 2);
    await releaseOne(h); // runner-2 ends; the two waiting streams run one after the other (batch first: served less recently)
    await running.text();
    let rest = "";
    const rawDone = (async () => {
      for (let r = await reader.read(); !r.done; r = await reader.read()) rest += new TextDecoder().decode(r.value);
    })();
    let done = false;
    const both = Promise.all([rawDone, text]).finally(() => (done = true));
    while (!done) {
      if (h.sim.ollama.atGate === 1) await releaseOne(h);
      await Bun.sleep(5);
    }
    const [, said] = await both;
    expect(said.length).toBeGreaterThan(0); // the comments were skipped by the SDK's parser, the answer read
    expect(rest).toContain("data: [DONE]");
  });
});

describe("a queue's bounds", () => {
  test("max_queue: one more gets 503 with Retry-After at once, and is not sent", async () => {
    const { h, cleanup } = await gateway({ MAX_CONCURRENT: "1", MAX_QUEUE: "1", QUEUE_TIMEOUT_S: "60" });
    try {
      const queue = h.deps.fleet.units[0]!.queue;
      const running = await send(h, "runner", "hold");
      const waiting = send(h, "batch", "waits");
      await until(() => queue.depth === 1);
      const full = await send(h, "family", "full");
      expect(full.status).toBe(503);
      expect(full.headers.get("retry-after")).not.toBeNull();
      expect((await json(full)).error).toContain("requests wait for it already");
      await releaseOne(h);
      await running.text();
      const next = await waiting;
      await releaseOne(h);
      await next.text();
      expect(reached(h)).not.toContain("full");
      expect(await (await h.api("/metrics")).text()).toMatch(/ollama_gate_queue_depth(\{[^}]*\})? 0/);
    } finally {
      await cleanup();
    }
  });

  test("queue_timeout_s: one that waited that long gets 503 (an OpenAI stream an error event coded queue_timeout), and is not sent", async () => {
    const { h, cleanup } = await gateway({ MAX_CONCURRENT: "1", QUEUE_TIMEOUT_S: "0.3" }, 50);
    try {
      const queue = h.deps.fleet.units[0]!.queue;
      const running = await send(h, "runner", "hold");
      const timedOut = await send(h, "batch", "waits");
      expect(timedOut.status).toBe(503);
      expect((await json(timedOut)).error).toContain("waited 0.3 s in");
      const stream = await fetch(`${h.url}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${keys.family}`, "content-type": "application/json" },
        body: JSON.stringify({ model: "gated", stream: true, messages: [{ role: "user", content: "late" }] }),
      });
      expect(stream.status).toBe(200);
      const text = await stream.text();
      expect(text).toStartWith(": queued on ");
      expect(text).toContain('"code":"queue_timeout"');
      expect(queue.depth).toBe(0);
      await releaseOne(h);
      await running.text();
      expect(reached(h)).toEqual(["hold"]);
      expect(await (await h.api("/metrics")).text()).toMatch(/ollama_gate_queue_wait_seconds_count(\{[^}]*\})? 2/);
    } finally {
      await cleanup();
    }
  });
});

describe("a queued request holds the machine on", () => {
  test("a deferred shutdown waits for the request that was queued, through its grant and its answer", async () => {
    const { h, cleanup } = await gateway({ MAX_CONCURRENT: "1", QUEUE_TIMEOUT_S: "60" });
    try {
      const queue = h.deps.fleet.units[0]!.queue;
      const running = await send(h, "runner", "first");
      const queued = send(h, "batch", "second");
      await until(() => queue.depth === 1);
      let secondEnded = false;
      // Whether the second's answer had ended when the shutdown went out.
      const shutdown = nextEvent(h.deps, (e) => e.type === "shutdown_sent").then(() => secondEnded);
      const off = await json(h.api("/apagar", { method: "POST" }));
      expect(off).toMatchObject({ shutdown_sent: false });
      await releaseOne(h); // the first ends; the second is granted and forwarded
      await running.text();
      const second = await queued;
      await releaseOne(h);
      const text = await second.text();
      secondEnded = true;
      expect(text).toContain('"done":true');
      expect(await shutdown).toBe(true); // then the deferred shutdown runs, not before
      await h.sim.waitFor("off");
    } finally {
      await cleanup();
    }
  });
});
