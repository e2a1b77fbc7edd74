import { afterEach, describe, expect, test } from "bun:test";
import { once } from "node:events";
import { connect, type Socket } from "node:net";
import { heldByServer } from "../../bench/hostile/raw.ts";
import { type Harness, json, KEY, nextEvent, startHarness } from "../helpers.ts";

let h: Harness;
afterEach(async () => h?.close());

/** A raw client: sends `text` and keeps the connection, so a test can leave mid-request or stop reading. */
async function rawClient(text: string): Promise<Socket> {
  const socket = connect(Number(new URL(h.url).port), "127.0.0.1");
  await once(socket, "connect");
  socket.write(text);
  return socket;
}

const accessLine = (path: string, status: number) => (l: string) =>
  l.includes('"msg":"request"') && l.includes(`"path":"${path}"`) && l.includes(`"status":${status}`);

describe("a client that goes away", () => {
  test("mid-body on /arrancar is logged as 499 at info: no unexpected error, no 500, no lease", async () => {
    h = await startHarness({ on: true });
    const socket = await rawClient(
      `POST /arrancar HTTP/1.1\r\nHost: x\r\nX-API-Key: ${KEY}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"holder":`,
    );
    const logged = h.logLine(accessLine("/arrancar", 499));
    socket.destroy();
    expect(JSON.parse(await logged).level).toBe("info");
    expect(h.logs.filter((l) => l.includes("unexpected error") || l.includes('"status":500') || l.includes('"level":"warn"'))).toEqual([]);
    expect((await h.deps.store.read()).peticions_ollama).toBe(0);
  });

  test("while its request waits for the machine to boot, it is a 499 too, and nothing reaches Ollama", async () => {
    h = await startHarness({ machine: { bootDelayMs: 500 } });
    const client = new AbortController();
    const waking = nextEvent(h.deps, (e) => e.type === "wake_sent");
    const logged = h.logLine(accessLine("/api/chat", 499));
    const pending = h.api("/api/chat", { method: "POST", body: '{"model":"llama3.2:3b","messages":[]}', signal: client.signal }).catch(() => null);
    await waking;
    client.abort();
    await pending;
    expect(JSON.parse(await logged).level).toBe("info");
    await h.sim.waitFor("on");
    expect(h.sim.ollama.requests.filter((r) => r.path === "/api/chat")).toHaveLength(0);
  });
});

describe("a client that stops reading a stream", () => {
  const generate = (model: string) => JSON.stringify({ model, prompt: "x" });
  const request = (body: string) =>
    `POST /api/generate HTTP/1.1\r\nHost: x\r\nX-API-Key: ${KEY}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;

  test("loses it after the idle timeout: the upstream is aborted, in-flight drops, the deferred shutdown goes out, and its connection is closed", async () => {
    h = await startHarness({ on: true, machine: { ollama: { chunkDelayMs: 0 } }, env: { PROXY_TIMEOUT_GENERATE_S: "1" } });
    const lease = await json(h.api("/arrancar", { method: "POST" }));
    const aborted = once(h.sim.ollama, "aborted");
    const begun = once(h.deps.activity, "begin");
    const socket = await rawClient(request(generate("endless")));
    socket.pause(); // never reads: the socket buffers fill, and then nothing more is taken
    socket.on("error", () => {}); // the gateway may reset the connection: closed either way
    const closed = new Promise((resolve) => socket.once("close", resolve));
    await begun;
    const released = await json(h.api(`/apagar?lease_id=${lease.lease_id}`, { method: "POST" }));
    expect(released).toMatchObject({ shutdown_deferred: true, shutdown_sent: false });
    expect(await aborted).toEqual(["/api/generate"]);
    await h.sim.waitFor("off");
    expect(h.deps.activity.inFlight).toBe(0);
    expect(h.sim.commands).toHaveLength(1);
    expect(h.logs.some((l) => l.includes("client stopped reading"))).toBe(true);
    // What was still waiting to be sent to it is freed with its connection: the gateway closes its side,
    // though this client still reads nothing (the kernel's table says so, from outside both processes).
    const gatewayPort = Number(new URL(h.url).port);
    while (heldByServer(gatewayPort, new Set([socket.localPort!])).some((e) => e.state === "01")) await Bun.sleep(50);
    socket.resume();
    await closed;
    // Filling the kernel's buffers at full speed takes a few seconds when the machine is busy: more than bun's 5 s default.
  }, 20_000);

  test("reading slowly is fine: a client that takes a chunk now and then keeps its stream", async () => {
    // Paced so that a reader this slow can still take what comes (how much the kernel buffers before the
    // gateway may write again depends on the machine: the rule itself is tested on the stream, in core/idle-stream).
    h = await startHarness({ on: true, machine: { ollama: { chunkDelayMs: 1 } }, env: { PROXY_TIMEOUT_GENERATE_S: "1" } });
    const socket = await rawClient(request(generate("endless")));
    socket.pause();
    let received = 0;
    socket.on("data", (d: Buffer) => {
      received += d.length;
      socket.pause();
      setTimeout(() => socket.resume(), 300); // a slow reader: one read every 300 ms, well inside the 1 s timeout
    });
    socket.resume();
    const ended = once(socket, "close");
    const deadline = new Promise((r) => setTimeout(r, 3500, "still open"));
    expect(await Promise.race([ended.then(() => "closed"), deadline])).toBe("still open");
    expect(received).toBeGreaterThan(0);
    expect(h.deps.activity.inFlight).toBe(1);
    socket.destroy();
  });
});

test("a malformed request is refused at the socket with 400, and the gateway goes on serving", async () => {
  h = await startHarness({ on: true });
  for (const line of ["GARBAGE\r\n\r\n", "GET  / HTTP/1.1\r\nHost: x\r\n\r\n", "GET / HTTP/1.1\r\nBad Header\r\n\r\n", "\r\n\r\n"]) {
    const socket = await rawClient(line);
    let answer = "";
    socket.on("data", (d) => (answer += d));
    await once(socket, "close");
    expect({ line, status: answer.split("\r\n")[0] }).toEqual({ line, status: "HTTP/1.1 400 Bad Request" });
  }
  expect(h.logs.filter((l) => l.includes('"msg":"request"'))).toEqual([]); // none of them reached the app
  expect((await fetch(h.url + "/")).status).toBe(200);
});
