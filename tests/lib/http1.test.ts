import { afterEach, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import type { Socket, TCPSocketListener } from "bun";
import { Cancel, type CancelSignal } from "../../src/lib/cancel.ts";
import { Http1Client } from "../../src/lib/http1/client.ts";
import { decoderFor } from "../../src/lib/http1/decoders.ts";
import { InvalidRequestError, ProtocolError } from "../../src/lib/http1/message.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

interface Peer {
  /** Everything the client sent on this connection so far. */
  received: string;
  sock: Socket<Peer>;
}

/** A loopback server that answers at the socket level, so every framing can be tried. */
function rawServer(onRequest: (peer: Peer, request: string) => void, onDrain: (peer: Peer) => void = () => {}) {
  const conns: Peer[] = [];
  const listener: TCPSocketListener<Peer> = Bun.listen<Peer>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(sock) {
        sock.data = { received: "", sock };
        conns.push(sock.data);
      },
      drain: (sock) => onDrain(sock.data),
      data(sock, chunk) {
        const peer = sock.data;
        peer.received += dec.decode(chunk);
        // One request per head here; a test that sends a body says so in the head, and waits for it itself.
        const end = peer.received.indexOf("\r\n\r\n");
        if (end >= 0 && !peer.received.includes("content-length") && !peer.received.includes("chunked")) {
          const request = peer.received;
          peer.received = "";
          onRequest(peer, request);
        } else if (end >= 0 && (peer.received.endsWith("0\r\n\r\n") || bodyComplete(peer.received))) {
          const request = peer.received;
          peer.received = "";
          onRequest(peer, request);
        }
      },
    },
  });
  servers.push(listener);
  return { url: `http://127.0.0.1:${listener.port}`, port: listener.port, conns };
}

function bodyComplete(text: string): boolean {
  const m = /content-length: (\d+)/i.exec(text);
  return !!m && text.length - (text.indexOf("\r\n\r\n") + 4) >= Number(m[1]);
}

const servers: TCPSocketListener<Peer>[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.stop(true);
});

/** The two kinds of signal the client takes: the platform's, and the plain one the proxy uses. */
const CANCELLERS: [string, () => { signal: CancelSignal; abort: (reason: unknown) => void }][] = [
  ["AbortController", () => new AbortController()],
  [
    "Cancel",
    () => {
      const cancel = new Cancel();
      return { signal: cancel, abort: (reason: unknown) => cancel.abort(reason) };
    },
  ],
];

const text = async (body: ReadableStream<Uint8Array> | Uint8Array | null) => (body ? await new Response(body).text() : "");

describe("body decoders", () => {
  test("a chunked body decodes the same however its bytes are split, with extensions and trailers", () => {
    const wire = enc.encode("5;ext=1\r\nhello\r\n1\r\n \r\nB\r\nworld!!!!!!\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT");
    for (let split = 1; split < wire.length; split++) {
      const d = decoderFor({ kind: "chunked" });
      let out = "";
      let used = 0;
      for (const part of [wire.subarray(0, split), wire.subarray(split)]) {
        if (d.done) break;
        used += d.push(part, (p) => (out += dec.decode(p)));
      }
      expect({ split, out, done: d.done, rest: dec.decode(wire.subarray(used)) }).toEqual({
        split,
        out: "hello world!!!!!!",
        done: true,
        rest: "NEXT",
      });
    }
  });

  test("a bad chunk size or an overlong chunk is a protocol error", () => {
    for (const wire of ["zz\r\n", "3\r\nabcd\r\n", "1".repeat(20) + "\r\n"]) {
      expect(() => decoderFor({ kind: "chunked" }).push(enc.encode(wire), () => {})).toThrow(ProtocolError);
    }
  });
});

describe("Http1Client against a raw server", () => {
  test("reads length-delimited, chunked and until-close bodies, skips interim answers, and sends framing and Host", async () => {
    const seen: string[] = [];
    const srv = rawServer((peer, req) => {
      seen.push(req);
      const path = req.split(" ")[1];
      if (path === "/len") peer.sock.write("HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-type: text/plain\r\n\r\nhello");
      if (path === "/chunked")
        peer.sock.write("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
      if (path === "/close") {
        peer.sock.write("HTTP/1.1 200 OK\r\n\r\nuntil the end");
        peer.sock.end();
      }
      if (path === "/empty") peer.sock.write("HTTP/1.1 204 No Content\r\nx-a: 1\r\nx-a: 2\r\n\r\n");
    });
    const client = new Http1Client(srv.url);
    const len = await client.request({ method: "GET", target: "/len", headers: new Headers({ "x-mine": "yes", host: "evil" }) });
    expect([len.status, len.headers.get("content-type"), await text(len.body)]).toEqual([200, "text/plain", "hello"]);
    expect(len.body).toBeInstanceOf(Uint8Array); // small and of known length: handed over whole
    const ch = await client.request({ method: "POST", target: "/chunked", headers: new Headers(), body: enc.encode("{}") });
    expect([ch.status, await text(ch.body)]).toEqual([201, "abc"]);
    const cl = await client.request({ method: "GET", target: "/close", headers: new Headers() });
    expect(await text(cl.body)).toBe("until the end");
    const empty = await client.request({ method: "DELETE", target: "/empty", headers: new Headers() });
    expect([empty.status, empty.body, empty.headers.get("x-a")]).toEqual([204, null, "1, 2"]);
    expect(seen[0]).toStartWith(`GET /len HTTP/1.1\r\nhost: 127.0.0.1:${srv.port}\r\n`);
    expect(seen[0]).toContain("x-mine: yes\r\n");
    expect(seen[0]).not.toContain("evil");
    expect(seen[1]).toContain("content-length: 2\r\n\r\n{}");
  });

  test("headers given as pairs go out lower-cased, less the framing ones and Host in any case", async () => {
    // Answers the first bytes it gets, whatever framing they claim: a second length must show, not hang the test.
    const seen: string[] = [];
    const srv = Bun.listen<Peer>({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        data(sock, chunk) {
          seen.push(dec.decode(chunk));
          sock.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
        },
      },
    });
    servers.push(srv);
    const url = `http://127.0.0.1:${srv.port}`;
    const headers = [
      ["X-Mine", "yes"],
      ["Host", "evil"],
      ["Content-Length", "999"],
      ["TRANSFER-ENCODING", "chunked"],
    ] as const;
    const res = await new Http1Client(url).request({ method: "POST", target: "/", headers, body: enc.encode("{}") });
    expect([res.status, await text(res.body)]).toEqual([200, "ok"]);
    expect(seen[0]).toBe(`POST / HTTP/1.1\r\nhost: 127.0.0.1:${srv.port}\r\nx-mine: yes\r\ncontent-length: 2\r\n\r\n{}`);
  });

  test("keeps a connection alive for the next request, and sends a GET again on a new one when the server had dropped it", async () => {
    let dropNext = false;
    const srv = rawServer((peer) => {
      // The race a kept-alive connection runs: the server closed it just as the next request went out.
      if (dropNext && peer === srv.conns[0]) return void peer.sock.end();
      peer.sock.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    });
    const client = new Http1Client(srv.url);
    for (let i = 0; i < 3; i++) expect(await text((await client.request({ method: "GET", target: "/", headers: new Headers() })).body)).toBe("ok");
    expect(srv.conns).toHaveLength(1);
    dropNext = true;
    const again = await client.request({ method: "GET", target: "/", headers: new Headers() });
    expect([again.status, await text(again.body)]).toEqual([200, "ok"]);
    expect(srv.conns).toHaveLength(2);
  });

  test("a POST on a kept-alive connection the server reads and drops is not sent again: it may have been acted on", async () => {
    let posts = 0;
    const srv = rawServer((peer, req) => {
      if (!req.startsWith("POST ")) return void peer.sock.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
      posts++;
      peer.sock.end();
    });
    const client = new Http1Client(srv.url);
    expect((await client.request({ method: "GET", target: "/", headers: new Headers() })).status).toBe(200);
    const failed = await client.request({ method: "POST", target: "/api/pull", headers: new Headers(), body: enc.encode("{}") }).catch((e) => e);
    expect([failed.constructor.name, failed.message]).toEqual(["ClosedBeforeAnswer", "the upstream closed the connection before answering"]);
    expect(posts).toBe(1);
  });

  test("bytes already received on an idle kept-alive connection close it before it is reused, and no connection to that server is reused for a while", async () => {
    const srv = rawServer((peer, req) => {
      const path = req.split(" ")[1]!;
      peer.sock.write(`HTTP/1.1 200 OK\r\ncontent-length: ${path.length}\r\n\r\n${path}`);
    });
    const client = new Http1Client(srv.url);
    const get = async (target: string) => text((await client.request({ method: "GET", target, headers: new Headers() })).body);
    // Written as the answer is read, just before the next request goes out: in the client's kernel buffer, not yet read.
    expect(await get("/a")).toBe("/a");
    srv.conns[0]!.sock.write("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nstray");
    expect([await get("/b"), await get("/c"), await get("/d")]).toEqual(["/b", "/c", "/d"]);
    // A server that sent bytes outside an answer is out of step: from then on, a connection per request.
    expect(srv.conns).toHaveLength(4);
  });

  test("empty lines before a status line are skipped", async () => {
    const srv = rawServer((peer) => peer.sock.write("\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"));
    const client = new Http1Client(srv.url);
    for (let i = 0; i < 2; i++) expect(await text((await client.request({ method: "GET", target: "/", headers: new Headers() })).body)).toBe("ok");
  });

  test("a chunked body broken in the bytes that came with the head fails the answer, not just its body", async () => {
    for (const size of ["0123456789abcdef01234567", "-5"]) {
      const srv = rawServer((peer) => peer.sock.write(`HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n${size}\r\n`));
      const failed = await new Http1Client(srv.url).request({ method: "GET", target: "/", headers: new Headers() }).catch((e) => e);
      expect(failed).toBeInstanceOf(ProtocolError);
    }
  });

  test("only plain http:// origins are taken", () => {
    expect(() => new Http1Client("https://127.0.0.1:1")).toThrow("plain http:// only");
  });

  test("a streamed upload goes out chunked, byte for byte", async () => {
    let got = "";
    const srv = rawServer((peer, req) => {
      got = req;
      peer.sock.write("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
    });
    const parts = ["first,", "second,", "third"];
    const body = new ReadableStream<Uint8Array>({ pull: (c) => (parts.length ? c.enqueue(enc.encode(parts.shift()!)) : c.close()) });
    const res = await new Http1Client(srv.url).request({ method: "POST", target: "/up", headers: new Headers(), body });
    expect(res.status).toBe(200);
    expect(got).toContain("transfer-encoding: chunked\r\n\r\n6\r\nfirst,\r\n7\r\nsecond,\r\n5\r\nthird\r\n0\r\n\r\n");
  });

  test("a body in pieces goes out as one, small or large, with its whole length", async () => {
    const got: string[] = [];
    const srv = rawServer((peer, req) => {
      got.push(req);
      peer.sock.write("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
    });
    const client = new Http1Client(srv.url);
    await client.request({
      method: "POST",
      target: "/",
      headers: new Headers(),
      body: [enc.encode('{"a":1'), enc.encode(',"stream":false'), enc.encode("}")],
    });
    const big = "x".repeat(200_000);
    await client.request({ method: "POST", target: "/", headers: new Headers(), body: [enc.encode(big), enc.encode("!")] });
    expect(got[0]).toEndWith('content-length: 22\r\n\r\n{"a":1,"stream":false}');
    expect(got[1]).toEndWith(`content-length: 200001\r\n\r\n${big}!`);
  });

  test("a refused connection fails with ECONNREFUSED; a garbled answer with a protocol error", async () => {
    const gone = rawServer(() => {});
    const port = gone.port;
    servers.pop()!.stop(true);
    const refused = await new Http1Client(`http://127.0.0.1:${port}`).request({ method: "GET", target: "/", headers: new Headers() }).catch((e) => e);
    expect(refused.code).toBe("ECONNREFUSED");
    const srv = rawServer((peer) => peer.sock.write("SSH-2.0-OpenSSH\r\n\r\n"));
    const garbled = await new Http1Client(srv.url).request({ method: "GET", target: "/", headers: new Headers() }).catch((e) => e);
    expect(garbled).toBeInstanceOf(ProtocolError);
  });

  test.each(CANCELLERS)("an abort mid-body errors the body and closes the connection (%s)", async (_kind, canceller) => {
    const closed = Promise.withResolvers<void>();
    const srv = rawServer((peer) => {
      peer.sock.write("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n");
    });
    const ctl = canceller();
    const res = await new Http1Client(srv.url).request({ method: "GET", target: "/", headers: new Headers(), signal: ctl.signal });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    expect(dec.decode((await reader.read()).value)).toBe("first");
    const pending = reader.read();
    ctl.abort(new Error("client went away"));
    expect(pending).rejects.toThrow("client went away");
    // The server's side of the connection sees it end.
    const peer = srv.conns[0]!;
    const poll = setInterval(() => peer.sock.readyState !== 1 && closed.resolve(), 10);
    await closed.promise;
    clearInterval(poll);
  });

  test.each(CANCELLERS)(
    "a small body is awaited whole: an upstream that stalls in it leaves the answer pending until the caller gives up (%s)",
    async (_kind, canceller) => {
      const srv = rawServer((peer) => peer.sock.write("HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc"));
      const ctl = canceller();
      const pending = new Http1Client(srv.url).request({ method: "GET", target: "/", headers: new Headers(), signal: ctl.signal });
      let settled = false;
      void pending.finally(() => (settled = true)).catch(() => {});
      await Bun.sleep(50); // the head and three bytes are long there
      expect(settled).toBe(false);
      ctl.abort(new Error("gave up"));
      expect(pending).rejects.toThrow("gave up");
    },
  );

  test("cancelling a body after it has ended leaves the connection's next exchange alone", async () => {
    const srv = rawServer((peer, req) => {
      if (req.startsWith("GET /a ")) peer.sock.write("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n");
      else peer.sock.write("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\nb\r\n");
    });
    const client = new Http1Client(srv.url);
    const a = await client.request({ method: "GET", target: "/a", headers: new Headers() });
    // A's body is complete on the wire (its connection back in the pool) but still unread; B takes the connection.
    while (srv.conns[0]!.received !== "" || !a.body) await Bun.sleep(1);
    await Bun.sleep(20);
    const b = await client.request({ method: "GET", target: "/b", headers: new Headers() });
    expect(srv.conns).toHaveLength(1);
    await (a.body as ReadableStream<Uint8Array>).cancel(new Error("client A went away"));
    const reader = (b.body as ReadableStream<Uint8Array>).getReader();
    expect(dec.decode((await reader.read()).value)).toBe("b");
    expect(srv.conns[0]!.sock.readyState).toBe(1); // still open: A's cancel did not reach B's exchange
    reader.releaseLock();
  });

  test("an answer that comes before the upload is done ends the upload and the connection", async () => {
    const closed = Promise.withResolvers<void>();
    const srv = rawServer(
      () => {},
      () => {},
    );
    servers.at(-1)!.reload({
      socket: {
        open: (sock: Socket<Peer>) => (sock.data = { received: "", sock }),
        data: (sock: Socket<Peer>) => {
          if (!sock.data.received) sock.write("HTTP/1.1 413 Payload Too Large\r\ncontent-length: 2\r\n\r\nno");
          sock.data.received = "x";
        },
        close: () => closed.resolve(),
      },
    } as never);
    const endless = new ReadableStream<Uint8Array>({ pull: (c) => c.enqueue(new Uint8Array(65536)) });
    const res = await new Http1Client(srv.url).request({ method: "POST", target: "/up", headers: new Headers(), body: endless });
    expect([res.status, await text(res.body)]).toEqual([413, "no"]);
    await closed.promise; // the client closed it: the upload does not go on
  });

  test("a path or method that would break the request line is refused before anything is sent", async () => {
    const srv = rawServer(() => {});
    const client = new Http1Client(srv.url);
    for (const [method, target] of [
      ["GET", "/a b"],
      ["GET", "/a\r\nDELETE /x"],
      ["GET X", "/"],
      ["GET", "a"],
    ] as const) {
      expect(client.request({ method, target, headers: new Headers() })).rejects.toBeInstanceOf(InvalidRequestError);
    }
    expect(srv.conns).toHaveLength(0);
  });

  test("headers given as pairs are refused, before anything is sent, when one would break its line", async () => {
    // Answered at once, so a request that went out anyway ends (and fails the test) instead of hanging it.
    const srv = rawServer((peer) => peer.sock.write("HTTP/1.1 204 No Content\r\n\r\n"));
    const client = new Http1Client(srv.url);
    for (const pair of [
      ["x-a", "1\r\nx-injected: 2"],
      ["x-a", "1\nx"],
      ["x a", "1"],
      ["x-a\r\nx-b", "1"],
      ["x-a", "1\u010d\u010ax-injected: 2"], // Latin-1 would cut these to CR LF
    ] as const) {
      await expect(client.request({ method: "GET", target: "/", headers: [pair] })).rejects.toBeInstanceOf(InvalidRequestError);
    }
    expect(srv.conns).toHaveLength(0);
  });

  test("an aborted signal refuses at once; bytes after an answer without a body keep the connection from reuse", async () => {
    const srv = rawServer((peer) => peer.sock.write("HTTP/1.1 204 No Content\r\n\r\nstray"));
    const client = new Http1Client(srv.url);
    expect(client.request({ method: "GET", target: "/", headers: new Headers(), signal: AbortSignal.abort(new Error("gone")) })).rejects.toThrow(
      "gone",
    );
    expect((await client.request({ method: "GET", target: "/", headers: new Headers() })).status).toBe(204);
    expect((await client.request({ method: "GET", target: "/", headers: new Headers() })).status).toBe(204);
    expect(srv.conns).toHaveLength(2);
  });

  test("a body nobody reads stops the socket: past the kernel's buffers, the server cannot send more", async () => {
    // What the kernel may buffer on loopback (the server's send buffer and the client's receive buffer)
    // plus the client's read-ahead and one read: a client that reads on regardless takes more than that.
    const kernelMax = (f: string) => Number(readFileSync(`/proc/sys/net/ipv4/${f}`, "utf8").trim().split(/\s+/)[2]);
    const bound = kernelMax("tcp_rmem") + kernelMax("tcp_wmem") + 1048576;
    const total = 2 * bound + 16 * 1048576;
    let accepted = 0;
    const overrun = Promise.withResolvers<"overrun">();
    const chunk = new Uint8Array(65536).fill(97);
    const pump = (peer: Peer) => {
      while (accepted < total) {
        const n = peer.sock.write(chunk.subarray(0, Math.min(chunk.length, total - accepted)));
        accepted += n;
        if (accepted > bound) overrun.resolve("overrun");
        if (n < chunk.length) return; // the kernel's buffers are full: on with the next drain
      }
    };
    const srv = rawServer((peer) => {
      peer.sock.write(`HTTP/1.1 200 OK\r\ncontent-length: ${total}\r\n\r\n`);
      pump(peer);
    }, pump);
    const res = await new Http1Client(srv.url, { readAheadBytes: 32768 }).request({ method: "GET", target: "/", headers: new Headers() });
    // Proving that something does not happen needs a bound: a second is many times what an overrun takes.
    const outcome = await Promise.race([overrun.promise, Bun.sleep(1000).then(() => "held back")]);
    expect({ outcome, acceptedMB: Math.round(accepted / 1048576) }).toEqual({ outcome: "held back", acceptedMB: expect.any(Number) });
    // Reading it all then works: a slow reader is not a stalled one.
    let got = 0;
    expect(res.body).toBeInstanceOf(ReadableStream);
    for await (const piece of res.body as ReadableStream<Uint8Array>) got += piece.length;
    expect(got).toBe(total);
  });
});
