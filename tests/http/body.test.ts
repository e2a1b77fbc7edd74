// Request bodies held in memory, in a tiny Hono app: bodyLimit refuses from the Content-Length alone, before
// anything is read; readWhole reserves memory first (twice the body: the server holds its own copy), counts a
// body of unknown length as it comes, cuts one that comes too slowly, and gives every byte back.
import { describe, expect, test } from "bun:test";
import { Hono } from "hono";
import { memoryLogger } from "../../src/core/telemetry/logger.ts";
import { type BodyLimits, bodyLimit, holderOf, NotAnObject, readWhole } from "../../src/http/body.ts";
import { errorHandler } from "../../src/http/errors.ts";
import { actingFor } from "../../src/lib/actor.ts";
import { ByteBudget, ShareBudget } from "../../src/lib/byte-budget.ts";

function limitsOf(maxBytes: number, pool = 1 << 20, floor = { bytesPerSecond: 1024, graceMs: 5_000, windowMs: 5_000 }): BodyLimits {
  return { maxBytes, small: new ShareBudget(new ByteBudget(pool), pool), large: new ShareBudget(new ByteBudget(pool), pool), floor };
}

function gateway(limits: BodyLimits, opts: { objectOnly?: boolean } = {}) {
  const app = new Hono();
  const handler = errorHandler(memoryLogger(), (s) => s);
  // As json-body.ts does: a body that cannot be a JSON object is the caller's to answer.
  app.onError((err, c) => (err instanceof NotAnObject ? c.json({ detail: "not an object" }, 422) : handler(err, c)));
  const held: number[] = [];
  app.use(
    "*",
    bodyLimit((path) => (path.startsWith("/api/") ? null : { maxBytes: 1024, what: "this route" })),
  );
  app.post("*", async (c) => {
    const { bytes, reservation } = await readWhole(c.req.raw, limits, "the test route", { ...opts, holder: "key test" });
    held.push(limits.small.inUse + limits.large.inUse);
    reservation.release();
    return c.json({ length: bytes.length, text: new TextDecoder().decode(bytes) });
  });
  return { app, held };
}

const post = (body: string | ReadableStream<Uint8Array>, headers: Record<string, string> = {}) =>
  ({ method: "POST", body, headers, duplex: "half" }) as RequestInit;
const sized = (text: string) => post(text, { "content-length": String(Buffer.byteLength(text)) });

/** A body of unknown length (chunked): its chunks, then the end, or a stall when `stall` is set. */
function chunked(chunks: string[], opts: { stall?: boolean; fail?: boolean } = {}) {
  const enc = new TextEncoder();
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(ctl) {
      if (i < chunks.length) return ctl.enqueue(enc.encode(chunks[i++]!));
      if (opts.fail) return ctl.error(new Error("connection reset"));
      if (opts.stall) return new Promise(() => {});
      ctl.close();
    },
  });
}

const json = async (res: Response) => (await res.json()) as Record<string, unknown>;

describe("bodyLimit", () => {
  test("a Content-Length over the route's limit is refused with 413 before the handler reads a byte", async () => {
    const { app, held } = gateway(limitsOf(1 << 20));
    const res = await app.request("/status", post("x", { "content-length": "1025" }));
    expect(res.status).toBe(413);
    expect((await json(res)).detail).toBe("The request body is larger than 1 KB, the limit for this route");
    expect(held).toEqual([]);
    expect((await app.request("/status", sized("x".repeat(1024)))).status).toBe(200);
  });

  test("routes with no limit, and bodies with no length, pass it (they are bounded as they are read)", async () => {
    const { app } = gateway(limitsOf(1 << 20));
    expect((await app.request("/api/blobs/x", post("x", { "content-length": "5000" }))).status).not.toBe(413);
    expect((await app.request("/status", post(chunked(["abc"])))).status).toBe(200);
  });
});

describe("readWhole", () => {
  test("a body of known length is read whole; twice its size is held meanwhile, and all of it given back", async () => {
    const limits = limitsOf(4096);
    const { app, held } = gateway(limits);
    const res = await app.request("/api/x", sized("hello"));
    expect(await json(res)).toEqual({ length: 5, text: "hello" });
    expect(held).toEqual([10]);
    expect(limits.small.inUse + limits.large.inUse).toBe(0);
  });

  test("a body of unknown length is counted as it comes and cut at the limit: 413", async () => {
    const limits = limitsOf(8);
    const { app } = gateway(limits);
    const ok = await app.request("/api/x", post(chunked(["abc", "def"])));
    expect(await json(ok)).toEqual({ length: 6, text: "abcdef" });
    const over = await app.request("/api/x", post(chunked(["abcde", "fghij", "never read"], { stall: true })));
    expect(over.status).toBe(413);
    expect((await json(over)).detail).toBe("The request body is larger than 0.0078125 KB, the limit for the test route");
    expect(limits.small.inUse + limits.large.inUse).toBe(0);
  });

  test("a declared length over the limit is refused before any memory is reserved", async () => {
    const limits = limitsOf(4);
    const res = await gateway(limits).app.request("/api/x", sized("hello"));
    expect(res.status).toBe(413);
  });

  test("objectOnly: a body that cannot be a JSON object is refused on its first chunk", async () => {
    const { app } = gateway(limitsOf(1 << 20), { objectOnly: true });
    const res = await app.request("/api/x", post(chunked(["  [1,", "2]"], { stall: true })));
    expect(res.status).toBe(422);
    expect((await app.request("/api/x", { ...sized("[1]") })).status).toBe(422);
    expect((await app.request("/api/x", post(chunked([" {", '"a":1}'])))).status).toBe(200);
  });

  test("when the pool is full, another body is turned away at once with 503 and a Retry-After", async () => {
    const limits = limitsOf(1 << 20, 100);
    const hog = limits.small.tryReserve("key other", 100)!;
    const res = await gateway(limits).app.request("/api/x", sized("hello"));
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("2");
    expect(String((await json(res)).detail)).toContain("busy with other large request bodies");
    hog.release();
    expect(limits.small.inUse).toBe(0);
  });

  test("a body that stops coming is cut with 408 once it falls under the rate floor", async () => {
    const limits = limitsOf(1 << 20, 1 << 20, { bytesPerSecond: 1 << 20, graceMs: 50, windowMs: 50 });
    const res = await gateway(limits).app.request("/api/x", post(chunked(["{"], { stall: true })));
    expect(res.status).toBe(408);
    expect(String((await json(res)).detail)).toContain("came slower than");
    expect(limits.small.inUse + limits.large.inUse).toBe(0);
  });

  test("a client that hangs up mid-body is a client gone (499), not a gateway failure", async () => {
    const res = await gateway(limitsOf(1 << 20)).app.request("/api/x", post(chunked(["{"], { fail: true })));
    expect(res.status).toBe(499);
  });
});

test("holderOf: a body counts against its key's share, or its address's when it came with none", async () => {
  const app = new Hono();
  app.get("/", (c) => c.text(holderOf(c)));
  app.get("/as-key", (c) => actingFor("alice", () => c.text(holderOf(c))));
  const env = { requestIP: () => ({ address: "2001:db8:1:2:3:4:5:6" }) };
  expect(await (await app.request("/", {}, env)).text()).toBe("address 2001:db8:1:2::/64");
  expect(await (await app.request("/as-key", {}, env)).text()).toBe("key alice");
  expect(holderOf()).toBe("address unknown");
});
