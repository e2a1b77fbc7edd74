// The gateway in front of a compromised or buggy Ollama (src/sim/hostile-ollama.ts, raw sockets): what
// reaches the upstream, what reaches the client, what the log says. Issue 21, items 4, 9, 10 and 11.
import { afterEach, describe, expect, test } from "bun:test";
import { once } from "node:events";
import { join } from "node:path";
import { simEnv } from "../../src/sim/env.ts";
import { type HostileOllama, startHostileOllama } from "../../src/sim/hostile-ollama.ts";
import { SimulatedMachine } from "../../src/sim/machine.ts";
import { bunCommand, childEnv, type Harness, json, KEY, ROOT, SSH_PASS, startHarness, tempDir } from "../helpers.ts";

let h: Harness | undefined;
let up: HostileOllama | undefined;
afterEach(async () => {
  await h?.close();
  up?.stop();
  h = up = undefined;
});

/** A gateway whose machine's Ollama is the hostile fake (the simulated machine still answers the host probe). */
async function gateway(env: Record<string, string> = {}) {
  up = await startHostileOllama();
  h = await startHarness({ on: true, env: { OLLAMA_PORT: String(up.port), ...env } });
  return { up, h };
}

const send = (method: string, path: string, body?: unknown) =>
  h!.api(path, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

/** Settles with what a body read came to: its text, or the error it failed with; "hung" past the deadline. */
async function outcome(res: Response, deadlineMs = 8000): Promise<{ text: string } | { failed: string } | "hung"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise<"hung">((r) => (timer = setTimeout(() => r("hung"), deadlineMs)));
  const read = res.text().then(
    (text) => ({ text }),
    (err: Error) => ({ failed: err.message }),
  );
  try {
    return await Promise.race([read, hung]);
  } finally {
    clearTimeout(timer);
  }
}

describe("a request is never sent twice unless it is idempotent (item 4)", () => {
  const CASES: [string, string, unknown][] = [
    ["POST", "/api/chat", { model: "llama3.2:3b", messages: [], stream: false }],
    ["POST", "/api/pull", { model: "llama3.2:3b", stream: false }],
    ["POST", "/api/create", { model: "mine", from: "llama3.2:3b", stream: false }],
    ["DELETE", "/api/delete", { model: "llama3.2:3b" }],
    ["POST", "/api/copy", { source: "llama3.2:3b", destination: "copy" }],
  ];

  test("an upstream that reads the request and closes: it arrives once, the client gets 502 saying so", async () => {
    await gateway();
    for (const [method, path, body] of CASES) {
      // A first answer leaves a kept-alive connection in the pool: the one the next request is sent on.
      up!.setMode("normal");
      expect((await send("GET", "/api/warm-up")).status).toBe(200);
      up!.setMode("close-after-request");
      const res = await send(method, path, body);
      expect({ path, status: res.status, detail: (await json(res)).detail }).toEqual({
        path,
        status: 502,
        detail: expect.stringContaining("upstream closed the connection before answering"),
      });
      expect({ path, arrived: up!.count(method, path) }).toEqual({ path, arrived: 1 });
    }
  });

  test("a GET on a kept-alive connection the upstream drops is sent again on a new one, unseen by the client", async () => {
    const { up } = await gateway();
    expect((await send("GET", "/api/first")).status).toBe(200);
    up.setMode("close-after-request");
    up.once("request", () => up.setMode("normal")); // only the first attempt is dropped
    const res = await send("GET", "/api/again");
    expect([res.status, (await json(res)).path]).toEqual([200, "/api/again"]);
    const tries = up.requests.filter((r) => r.path === "/api/again");
    expect(tries.map((r) => r.mode)).toEqual(["close-after-request", "normal"]);
    expect(tries[0]!.connection).not.toBe(tries[1]!.connection);
  });
});

describe("an answer body that stalls is cut whatever its framing (item 9)", () => {
  test("Content-Length: 200000, 1,000 bytes, then silence: the client's body fails and the upstream connection is closed", async () => {
    const { up, h } = await gateway({ PROXY_TIMEOUT_DEFAULT_S: "0.5" });
    up.setMode("stalled-length");
    const upstreamClosed = once(up, "close");
    const res = await send("GET", "/api/stalled");
    expect(res.status).toBe(200);
    const got = await outcome(res);
    expect(got).toEqual({ failed: expect.any(String) });
    await upstreamClosed;
    expect(h.logs.some((l) => l.includes("upstream went silent") && l.includes("/api/stalled"))).toBe(true);
  });
});

describe("bytes nobody asked for never reach the next client (item 10)", () => {
  for (const mode of ["stray-bytes", "stray-crlf"] as const) {
    test(`${mode} 300 ms after a complete answer: the next clients get their own answers`, async () => {
      const { up } = await gateway();
      up.setMode(mode);
      const stray = once(up, "stray");
      const first = await send("GET", "/api/one");
      expect([first.status, (await json(first)).path]).toEqual([200, "/api/one"]);
      await stray;
      up.setMode("normal");
      for (const path of ["/api/two", "/api/three"]) {
        const res = await send("GET", path);
        expect({ status: res.status, body: await json(res) }).toEqual({ status: 200, body: expect.objectContaining({ path }) });
      }
      // An upstream that sent bytes outside an answer gets a connection per request from then on: its next
      // stray bytes cannot become another request's answer.
      const conns = ["/api/one", "/api/two", "/api/three"].map((p) => up.requests.find((r) => r.path === p)!.connection);
      expect(new Set(conns).size).toBe(3);
    });
  }
});

test("a stray CRLF that comes while a request waits is skipped: the client gets its answer, not a 502", async () => {
  const { up } = await gateway();
  up.setMode("crlf-first");
  for (const path of ["/api/one", "/api/two"]) {
    const res = await send("GET", path);
    expect({ status: res.status, body: await json(res) }).toEqual({ status: 200, body: expect.objectContaining({ path }) });
  }
});

describe("a broken chunked answer keeps its status, or ends as a timeout does (item 11)", () => {
  for (const mode of ["chunk-size-long", "chunk-size-negative"] as const) {
    test(`${mode} in the first chunk, with the head: 502 with a JSON detail`, async () => {
      const { up, h } = await gateway();
      up.setMode(mode);
      const res = await send("POST", "/api/chat", { model: "llama3.2:3b", messages: [] });
      expect(res.status).toBe(502);
      expect((await json(res)).detail).toContain("chunk");
      expect(h.logs.some((l) => l.includes('"msg":"request"') && l.includes('"status":502'))).toBe(true);
    });
  }

  for (const mode of ["chunk-size-long-later", "chunk-size-negative-later"] as const) {
    test(`${mode}, after two good chunks: an NDJSON stream ends with an error line, and the log says why in one line`, async () => {
      const { up, h } = await gateway();
      up.setMode(mode);
      const res = await send("POST", "/api/chat", { model: "llama3.2:3b", messages: [] });
      expect(res.status).toBe(200);
      const got = await outcome(res);
      expect(got).toEqual({ text: expect.any(String) });
      const lines = (got as { text: string }).text
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l));
      expect(lines.slice(0, 2).map((l) => l.response)).toEqual(["token 0", "token 1"]);
      expect(lines).toHaveLength(3);
      expect(lines[2].error).toContain("chunk");
      const warned = await h.logLine((l) => l.includes('"level":"warn"') && l.includes("/api/chat"));
      expect(warned).toContain("chunk");
      expect(warned.includes("\n")).toBe(false);
    });
  }

  test("the same on an OpenAI stream: it ends with an SSE error event", async () => {
    const { up } = await gateway();
    up.setMode("chunk-size-negative-later");
    const res = await send("POST", "/v1/chat/completions", { model: "llama3.2:3b", messages: [], stream: true });
    expect(res.status).toBe(200);
    const got = await outcome(res);
    expect(got).toEqual({ text: expect.any(String) });
    const events = (got as { text: string }).text.split("\n\n").filter(Boolean);
    expect(events).toHaveLength(3);
    expect(JSON.parse(events[2]!.replace(/^data: /, "")).error).toContain("chunk");
  });

  test("on Anthropic's /v1/messages, a named error event in Anthropic's shape: its clients read nothing else", async () => {
    const { up } = await gateway();
    up.setMode("chunk-size-negative-later");
    const res = await send("POST", "/v1/messages", { model: "llama3.2:3b", max_tokens: 10, messages: [], stream: true });
    expect(res.status).toBe(200);
    const got = await outcome(res);
    const events = (got as { text: string }).text.split("\n\n").filter(Boolean);
    const last = events.at(-1)!.split("\n");
    expect(last[0]).toBe("event: error");
    const data = JSON.parse(last[1]!.replace(/^data: /, ""));
    expect(data).toMatchObject({ type: "error", error: { type: "api_error" } });
    expect(data.error.message).toContain("chunk");
  });
});

test("the gateway process writes what a hostile upstream did as JSON lines only: no stack dump on stderr", async () => {
  up = await startHostileOllama();
  const sim = await new SimulatedMachine({ sshUser: "ia", sshPassword: SSH_PASS }).start({ on: true });
  const { dir, cleanup } = tempDir();
  const env = simEnv(sim, { OLLAMA_PORT: String(up.port), API_KEYS: KEY, SSH_USER: "ia", SSH_PASS, HOST: "127.0.0.1", PORT: "0" });
  const proc = Bun.spawn(bunCommand(join(ROOT, "src", "index.ts")), {
    cwd: dir,
    env: childEnv({ ...env, STATUS_FILE: join(dir, "status.json"), PROXY_TIMEOUT_GENERATE_S: "0.5" }, dir),
    stdout: "pipe",
    stderr: "pipe",
  });
  let stderr = "";
  const statuses: number[] = [];
  const pumped = (async () => {
    for await (const chunk of proc.stderr) stderr += new TextDecoder().decode(chunk);
  })();
  try {
    const deadline = Date.now() + 10_000;
    while (!/"url":"http:/.test(stderr) && Date.now() < deadline) await Bun.sleep(20);
    const url = /"url":"(http:[^"]+)"/.exec(stderr)![1]!;
    const call = (path: string, body: unknown) => fetch(url + path, { method: "POST", headers: { "X-API-Key": KEY }, body: JSON.stringify(body) });
    for (const mode of ["chunk-size-long", "chunk-size-negative-later", "stalled-length"]) {
      const res = await call("/api/chat", { model: `hostile:${mode}`, messages: [] }).catch(() => null);
      statuses.push(res?.status ?? 0); // 0: no status at all (a reset)
      if (res) await outcome(res, 5000);
    }
    const res = await call("/v1/chat/completions", { model: "hostile:chunk-size-long-later", messages: [], stream: true }).catch(() => null);
    statuses.push(res?.status ?? 0);
    if (res) await outcome(res, 5000);
    while (stderr.split("upstream broke off its answer").length < 3 && Date.now() < deadline) await Bun.sleep(20);
  } finally {
    proc.kill();
    await proc.exited;
    await pumped;
    await sim.stop();
    cleanup();
  }
  const lines = stderr.split("\n").filter(Boolean);
  expect(lines.filter((l) => !l.startsWith("{") || !JSON.parse(l))).toEqual([]);
  expect(statuses).toEqual([502, 200, 200, 200]);
  expect(lines.filter((l) => l.includes("upstream broke off its answer"))).toHaveLength(2);
});
