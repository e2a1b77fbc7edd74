// OllamaProxy on its own, against a scripted upstream on a loopback socket that answers byte by byte: what
// passes through untouched, what streams unbuffered, how each failure of the upstream or the client ends
// (status, error line, connection cut), what is sent again, and the in-flight accounting and its metric.
import { afterEach, expect, test } from "bun:test";
import { EventEmitter, once } from "node:events";
import type { Socket, TCPSocketListener } from "bun";
import { ClientGoneError, MachineAsleepError, UnavailableError, UpstreamError, UpstreamTimeoutError } from "../../../src/core/errors.ts";
import { OllamaProxy } from "../../../src/core/proxy/forward.ts";
import { memoryLogger } from "../../../src/core/telemetry/logger.ts";
import { type ParsedRequest, RequestParser } from "../../../src/sim/raw-requests.ts";

interface Conn {
  id: number;
  parser: RequestParser;
  /** Requests answered on it so far (the scripts that need it count them). */
  served: number;
}
interface Seen extends ParsedRequest {
  connection: number;
}
type Answer = (sock: Socket<Conn>, req: Seen) => void;

/** Events: "request" (Seen, sock) as each request has been read whole, "close" (connection id). */
class Upstream extends EventEmitter {
  readonly requests: Seen[] = [];
  connections = 0;
  private readonly sockets = new Set<Socket<Conn>>();
  private readonly listener: TCPSocketListener<Conn>;

  constructor(private readonly answer: Answer) {
    super();
    this.listener = Bun.listen<Conn>({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open: (sock) => {
          sock.data = { id: ++this.connections, parser: new RequestParser(), served: 0 };
          this.sockets.add(sock);
        },
        data: (sock, chunk) => {
          for (const r of sock.data.parser.push(chunk)) {
            const req = { ...r, connection: sock.data.id };
            this.requests.push(req);
            this.emit("request", req, sock);
            this.answer(sock, req);
          }
        },
        close: (sock) => {
          if (this.sockets.delete(sock)) this.emit("close", sock.data.id);
        },
      },
    });
  }

  get url(): string {
    return `http://127.0.0.1:${this.listener.port}`;
  }

  stop(): void {
    this.listener.stop(true);
    for (const s of this.sockets) s.terminate();
  }
}

const upstreams: Upstream[] = [];
afterEach(() => {
  for (const u of upstreams.splice(0)) u.stop();
});
const upstream = (answer: Answer) => {
  const u = new Upstream(answer);
  upstreams.push(u);
  return u;
};

const whole = (status: string, type: string, body: string, extra = "") =>
  `HTTP/1.1 ${status}\r\ncontent-type: ${type}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;
const streamHead = (type: string) => `HTTP/1.1 200 OK\r\ncontent-type: ${type}\r\ntransfer-encoding: chunked\r\n\r\n`;
const chunk = (s: string) => `${Buffer.byteLength(s).toString(16)}\r\n${s}\r\n`;
const LAST_CHUNK = "0\r\n\r\n";
const tokenLine = (i: number) => `${JSON.stringify({ response: `token ${i}`, done: false })}\n`;

/** A proxy to `baseUrl` whose accounting the test reads: requests begun and ended, and the metric's (route, status) pairs. */
function gate(baseUrl: string, opts: { timeoutMs?: number; machineAnswers?: boolean } = {}) {
  const ms = opts.timeoutMs ?? 30_000;
  const seen = { begun: 0, ended: 0, asked: 0, counts: [] as [string, number][] };
  const logger = memoryLogger();
  const proxy = new OllamaProxy({
    baseUrl,
    timeoutsMs: { generate: ms, pull: ms, default: ms },
    machineAnswers: async () => {
      seen.asked++;
      return opts.machineAnswers ?? true;
    },
    logger,
    activity: {
      begin: () => {
        seen.begun++;
        return () => void seen.ended++;
      },
    },
    counts: { proxied: (route, status) => void seen.counts.push([route, status]) },
  });
  return { proxy, seen, logger, inFlight: () => seen.begun - seen.ended };
}

const request = (path: string, init: RequestInit = {}) => new Request(`http://127.0.0.1${path}`, init);
const post = (path: string, body: string, init: RequestInit = {}) => ({
  req: request(path, { method: "POST", body, ...init }),
  over: { body: new TextEncoder().encode(body) },
});

/** Reads a body up to and including its next "\n" (or to its end), whatever pieces it comes in. */
function lines(body: ReadableStream<Uint8Array>) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  return {
    reader,
    async line(): Promise<string | null> {
      for (;;) {
        const nl = buf.indexOf("\n");
        if (nl >= 0) {
          const out = buf.slice(0, nl + 1);
          buf = buf.slice(nl + 1);
          return out;
        }
        const { value, done } = await reader.read();
        if (done) {
          const rest = buf;
          buf = "";
          return rest || null;
        }
        buf += decoder.decode(value, { stream: true });
      }
    },
    async rest(): Promise<string> {
      let out = buf;
      buf = "";
      for (let r = await reader.read(); !r.done; r = await reader.read()) out += decoder.decode(r.value, { stream: true });
      return out;
    },
  };
}

const rejection = (p: Promise<unknown>) =>
  p.then(
    () => new Error("it did not fail"),
    (err: unknown) => err,
  );

/** A loopback port nothing listens on: one just given up. */
function closedPort(): number {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = l.port;
  l.stop(true);
  return port;
}

test("a plain answer comes through as Ollama sent it, less the hop-by-hop and site-wide headers; the gateway's credentials never go up", async () => {
  const body = JSON.stringify({ error: "model 'nope' not found" });
  const extra =
    "x-ollama-extra: kept\r\nconnection: keep-alive, x-hop\r\nx-hop: dropped\r\nkeep-alive: timeout=5\r\n" +
    'set-cookie: session=theirs\r\nclear-site-data: "cookies"\r\n';
  const up = upstream((sock) => void sock.write(whole("404 Not Found", "application/json; charset=utf-8", body, extra)));
  const { proxy, seen } = gate(up.url);
  const headers = {
    authorization: "Bearer gateway-key",
    "x-api-key": "gateway-key",
    cookie: "og_session=abc",
    connection: "x-private",
    "x-private": "hop",
    "content-type": "text/plain",
    "user-agent": "forward-test/1",
    "x-request-id": "r-1",
  };
  const { req, over } = post("/api/show", '{"model":"nope"}', { headers });
  const res = await proxy.forward(req, "/api/show?verbose=1", { ...over, contentType: "application/json" });

  expect(res.status).toBe(404);
  expect(await res.text()).toBe(body);
  expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
  expect(res.headers.get("x-ollama-extra")).toBe("kept");
  for (const gone of ["connection", "x-hop", "keep-alive", "set-cookie", "clear-site-data"]) expect(res.headers.has(gone)).toBe(false);

  const [sent] = up.requests;
  expect(sent).toMatchObject({ method: "POST", path: "/api/show" });
  expect(new TextDecoder().decode(sent!.body)).toBe('{"model":"nope"}');
  expect(sent!.headers.get("user-agent")).toBe("forward-test/1");
  expect(sent!.headers.get("x-request-id")).toBe("r-1");
  expect(sent!.headers.get("content-type")).toBe("application/json");
  for (const gone of ["authorization", "x-api-key", "cookie", "x-private"]) expect(sent!.headers.has(gone)).toBe(false);
  expect(seen.counts).toEqual([["/api/show", 404]]);
  expect(seen.begun - seen.ended).toBe(0);
});

test("a streamed answer arrives line by line as Ollama sends it, and counts as work until its last byte", async () => {
  const up = upstream((sock) => void sock.write(streamHead("application/x-ndjson") + chunk(tokenLine(0))));
  const { proxy, seen, inFlight } = gate(up.url);
  const { req, over } = post("/api/chat", '{"model":"m"}');
  const responding = proxy.forward(req, "/api/chat", over);
  const [, sock] = (await once(up, "request")) as [Seen, Socket<Conn>];
  expect(inFlight()).toBe(1); // waiting for Ollama's headers is work too

  const res = await responding;
  expect(res.headers.get("content-type")).toBe("application/x-ndjson");
  const body = lines(res.body!);
  // Ollama has sent only the first line: a proxy that buffered would wait here forever.
  expect(await body.line()).toBe(tokenLine(0));
  expect(inFlight()).toBe(1);
  expect(seen.counts).toEqual([]);

  sock.write(chunk(tokenLine(1)));
  expect(await body.line()).toBe(tokenLine(1));
  expect(inFlight()).toBe(1);
  sock.write(LAST_CHUNK);
  expect(await body.line()).toBeNull();
  expect(inFlight()).toBe(0);
  expect(seen.counts).toEqual([["/api/chat", 200]]);
});

test("Ollama silent before its headers: 504 past the idle timeout, or the machine asleep when it no longer answers", async () => {
  const up = upstream(() => {}); // reads the request, never answers
  const awake = gate(up.url, { timeoutMs: 200 });
  const err = await rejection(awake.proxy.forward(request("/api/tags"), "/api/tags"));
  expect(err).toBeInstanceOf(UpstreamTimeoutError);
  expect((err as UpstreamTimeoutError).status).toBe(504);
  expect(awake.seen.counts).toEqual([["/api/tags", 504]]);
  expect(awake.inFlight()).toBe(0);

  const asleep = gate(up.url, { timeoutMs: 200, machineAnswers: false });
  const err2 = await rejection(asleep.proxy.forward(request("/api/tags"), "/api/tags"));
  expect(err2).toBeInstanceOf(MachineAsleepError);
  expect((err2 as MachineAsleepError).status).toBe(503);
  expect(asleep.seen.asked).toBe(1);
  expect(asleep.seen.counts).toEqual([["/api/tags", 503]]);
});

test("an NDJSON stream that goes silent ends with Ollama's error line, and its upstream connection is closed", async () => {
  const up = upstream((sock) => void sock.write(streamHead("application/x-ndjson") + chunk(tokenLine(0))));
  const { proxy, seen, inFlight, logger } = gate(up.url, { timeoutMs: 200 });
  const closed = once(up, "close");
  const { req, over } = post("/api/generate", '{"model":"m"}');
  const body = lines((await proxy.forward(req, "/api/generate", over)).body!);
  expect(await body.line()).toBe(tokenLine(0));
  const tail = JSON.parse((await body.line())!) as { error: string };
  expect(tail.error).toStartWith("ollama-gate: ");
  expect(tail.error).toContain("sent nothing");
  expect(await body.line()).toBeNull();
  await closed;
  expect(inFlight()).toBe(0);
  expect(seen.counts).toEqual([["/api/generate", 200]]);
  expect(logger.lines.some((l) => l.includes("upstream went silent"))).toBe(true);
});

test("a silent /v1/messages stream ends with Anthropic's error event", async () => {
  const first = 'event: message_start\ndata: {"type":"message_start"}\n\n';
  const up = upstream((sock) => void sock.write(streamHead("text/event-stream") + chunk(first)));
  const { proxy } = gate(up.url, { timeoutMs: 200 });
  const closed = once(up, "close");
  const { req, over } = post("/v1/messages", '{"model":"m","stream":true}');
  const text = await (await proxy.forward(req, "/v1/messages", over)).text();
  expect(text.startsWith(first)).toBe(true);
  const event = text.slice(first.length);
  expect(event).toStartWith("event: error\ndata: ");
  expect(event).toEndWith("\n\n");
  const data = JSON.parse(event.slice("event: error\ndata: ".length)) as { type: string; error: { type: string; message: string } };
  expect(data).toMatchObject({ type: "error", error: { type: "api_error" } });
  expect(data.error.message).toStartWith("ollama-gate: ");
  await closed;
});

test("an upstream that breaks off mid-stream: the client gets the error line, not a body that looks complete", async () => {
  const up = upstream((sock) => void sock.write(streamHead("application/x-ndjson") + chunk(tokenLine(0))));
  const { proxy, seen, inFlight } = gate(up.url);
  const { req, over } = post("/api/chat", '{"model":"m"}');
  const responding = proxy.forward(req, "/api/chat", over);
  const [, sock] = (await once(up, "request")) as [Seen, Socket<Conn>];
  const body = lines((await responding).body!);
  expect(await body.line()).toBe(tokenLine(0));
  sock.end(); // no last chunk: the answer is cut short
  const tail = JSON.parse((await body.line())!) as { error: string };
  expect(tail.error).toStartWith("ollama-gate: ");
  expect(tail.error).toContain("broke off");
  expect(await body.line()).toBeNull();
  expect(inFlight()).toBe(0);
  expect(seen.counts).toEqual([["/api/chat", 200]]);
});

test("a client that cancels the body cuts the upstream connection, and the request stops counting", async () => {
  const up = upstream((sock) => void sock.write(streamHead("application/x-ndjson") + chunk(tokenLine(0))));
  const { proxy, seen, inFlight } = gate(up.url);
  const { req, over } = post("/api/chat", '{"model":"m"}');
  const body = lines((await proxy.forward(req, "/api/chat", over)).body!);
  expect(await body.line()).toBe(tokenLine(0));
  const closed = once(up, "close");
  await body.reader.cancel();
  expect(await closed).toEqual([1]);
  expect(inFlight()).toBe(0);
  expect(seen.counts).toEqual([["/api/chat", 200]]);
});

test("a client gone before anything was sent: ClientGoneError, and nothing reaches Ollama", async () => {
  const up = upstream((sock, req) => void sock.write(whole("200 OK", "application/json", JSON.stringify({ path: req.path }))));
  const { proxy, seen, inFlight } = gate(up.url);
  const left = new AbortController();
  left.abort();
  const { over } = post("/api/chat", '{"model":"m"}');
  const err = await rejection(proxy.forward(request("/api/chat", { method: "POST", body: "{}", signal: left.signal }), "/api/chat", over));
  expect(err).toBeInstanceOf(ClientGoneError);
  expect((err as ClientGoneError).status).toBe(499);
  expect(inFlight()).toBe(0);
  expect(seen.counts).toEqual([["/api/chat", 499]]);
  // A request sent afterwards is the first Ollama ever saw, on the first connection it ever had.
  expect((await proxy.forward(request("/api/version"), "/api/version")).status).toBe(200);
  expect(up.requests.map((r) => [r.connection, r.path])).toEqual([[1, "/api/version"]]);
  expect(up.connections).toBe(1);
});

test("a client that leaves while Ollama has not answered: ClientGoneError, and the upstream connection is cut", async () => {
  const up = upstream(() => {}); // reads the request, never answers
  const { proxy, seen, inFlight } = gate(up.url);
  const leaving = new AbortController();
  const responding = rejection(proxy.forward(request("/api/tags", { signal: leaving.signal }), "/api/tags"));
  await once(up, "request");
  const closed = once(up, "close");
  leaving.abort();
  const err = await responding;
  expect(err).toBeInstanceOf(ClientGoneError);
  expect(await closed).toEqual([1]);
  expect(inFlight()).toBe(0);
  expect(seen.counts).toEqual([["/api/tags", 499]]);
});

test("connection refused: 503 when the machine answers (Ollama is down), the machine asleep when it does not", async () => {
  const port = closedPort();
  const down = gate(`http://127.0.0.1:${port}`);
  const err = await rejection(down.proxy.forward(request("/api/tags"), "/api/tags"));
  expect(err).toBeInstanceOf(UnavailableError);
  expect(err).not.toBeInstanceOf(MachineAsleepError);
  expect((err as UnavailableError).status).toBe(503);
  expect((err as UnavailableError).detail).toContain("refuses connections");
  expect((err as UnavailableError).headers["Retry-After"]).toBeDefined();
  expect(down.seen.counts).toEqual([["/api/tags", 503]]);
  expect(down.inFlight()).toBe(0);

  const asleep = gate(`http://127.0.0.1:${port}`, { machineAnswers: false });
  expect(await rejection(asleep.proxy.forward(request("/api/tags"), "/api/tags"))).toBeInstanceOf(MachineAsleepError);
});

/** Answers the first request of the first connection, closes it on the next one unanswered, answers on every later connection. */
const closesKeptConnection: Answer = (sock, req) => {
  if (req.connection === 1 && sock.data.served++ > 0) return void sock.end();
  sock.write(whole("200 OK", "application/json", JSON.stringify({ connection: req.connection, path: req.path })));
};

test("a kept connection closed before the answer: a GET is sent again on a new one", async () => {
  const up = upstream(closesKeptConnection);
  const { proxy, seen } = gate(up.url);
  expect(await (await proxy.forward(request("/api/version"), "/api/version")).json()).toEqual({ connection: 1, path: "/api/version" });
  const res = await proxy.forward(request("/api/tags"), "/api/tags");
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ connection: 2, path: "/api/tags" });
  expect(up.requests.map((r) => [r.connection, r.method, r.path])).toEqual([
    [1, "GET", "/api/version"],
    [1, "GET", "/api/tags"],
    [2, "GET", "/api/tags"],
  ]);
  expect(seen.counts).toEqual([
    ["/api/version", 200],
    ["/api/tags", 200],
  ]);
});

test("a kept connection closed before the answer: a POST is not sent again (502), as Ollama may have acted on it", async () => {
  const up = upstream(closesKeptConnection);
  const { proxy, seen, inFlight } = gate(up.url);
  expect(await (await proxy.forward(request("/api/version"), "/api/version")).json()).toEqual({ connection: 1, path: "/api/version" });
  const { req, over } = post("/api/copy", '{"source":"a","destination":"b"}');
  const err = await rejection(proxy.forward(req, "/api/copy", over));
  expect(err).toBeInstanceOf(UpstreamError);
  expect((err as UpstreamError).status).toBe(502);
  expect((err as UpstreamError).detail).toContain("not sent again");
  expect(up.requests.map((r) => [r.connection, r.method, r.path])).toEqual([
    [1, "GET", "/api/version"],
    [1, "POST", "/api/copy"],
  ]);
  expect(seen.counts).toEqual([
    ["/api/version", 200],
    ["/api/copy", 502],
  ]);
  expect(inFlight()).toBe(0);
});

test("background requests are counted in the metric but not as work; labels come from the endpoint table", async () => {
  const up = upstream((sock) => void sock.write(streamHead("application/x-ndjson") + chunk(tokenLine(0))));
  const { proxy, seen, inFlight } = gate(up.url);
  const res = await proxy.forward(request("/api/ps"), "/api/ps", { background: true });
  expect(seen.begun).toBe(0);
  const body = lines(res.body!);
  expect(await body.line()).toBe(tokenLine(0));
  expect(seen.begun).toBe(0);
  await body.reader.cancel();
  expect(inFlight()).toBe(0);
  expect(seen.counts).toEqual([["/api/ps", 200]]);

  // A blob's digest and a made-up path are folded into the table's labels: the series stay few.
  const blob = upstream((s) => void s.write(whole("200 OK", "application/octet-stream", "")));
  const other = gate(blob.url);
  await (await other.proxy.forward(request("/api/blobs/sha256-0123abcd", { method: "HEAD" }), "/api/blobs/sha256-0123abcd")).text();
  await (await other.proxy.forward(request("/api/made/up/x1"), "/api/made/up/x1?q=secret")).text();
  expect(other.seen.counts).toEqual([
    ["/api/blobs", 200],
    ["/api/other", 200],
  ]);
});
