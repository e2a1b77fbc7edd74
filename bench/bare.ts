// The bare proxy: the least a Bun proxy in front of Ollama does — `Bun.serve`, and every request forwarded
// through the gateway's own HTTP/1.1 client (src/lib/http1) to the upstream — and nothing of the gateway: no
// Hono, no keys, no routing, no accounting, no timers. `bun bench/bare.ts <upstream port>`; prints its URL.
import { Http1Client } from "../src/lib/http1/client.ts";

const client = new Http1Client(`http://127.0.0.1:${Number(process.argv[2])}`);
/** Headers that belong to one hop: each side of a proxy sets its own (the client adds Host and the framing). */
const HOP = new Set(["connection", "keep-alive", "transfer-encoding", "content-length", "te", "trailer", "upgrade", "proxy-connection"]);

async function forward(req: Request): Promise<Response> {
  try {
    const up = await client.request({
      method: req.method,
      target: req.url.slice(req.url.indexOf("/", 8)),
      headers: [...req.headers].filter(([k]) => !HOP.has(k)),
      body: req.body ? new Uint8Array(await req.arrayBuffer()) : null,
    });
    for (const k of HOP) up.headers.delete(k);
    return new Response(up.body, { status: up.status, headers: up.headers });
  } catch (err) {
    return Response.json({ detail: `upstream: ${(err as Error).message}` }, { status: 502 });
  }
}

// idleTimeout 0, as the fake Ollama: a benchmark connection may sit idle between runs.
const server = Bun.serve({ hostname: "127.0.0.1", port: 0, idleTimeout: 0, fetch: forward });
console.log(JSON.stringify({ msg: "bare proxy listening", url: `http://127.0.0.1:${server.port}` }));
