// The per-request object the pipeline's steps share: the path the rules read (decoded, no /k/<key>), the
// pinned machine, and the target forwarded upstream (as the client wrote it, less the key and the pin).
import { expect, test } from "bun:test";
import { upstreamTarget } from "../../src/http/key-path.ts";
import { newCall } from "../../src/routes/ollama/pipeline.ts";

const call = (path: string) => newCall(new Request(`http://gateway${path}`), undefined);

test("a /k/<key>/ prefix and a /machines/{name} pin are read once, when the call is made", () => {
  const c = call("/k/sk-secret-1/machines/big%20one/api/chat?x=1");
  expect(c.path).toBe("/machines/big one/api/chat"); // decoded, as Hono read it
  expect(c.unpinned).toBe("/api/chat");
  expect(c.pin).toBe("big one");
  expect(c.key).toBeNull();
  expect(c.req).toBe(c.raw);
  expect(upstreamTarget(c)).toBe("/api/chat?x=1");
});

test("the target stays percent-encoded: an encoded line break never becomes one upstream", () => {
  const c = call("/api/show%0D%0AX-Injected:%201");
  expect(upstreamTarget(c)).toBe("/api/show%0D%0AX-Injected:%201");
  expect(call("/v1/models/hf.co%2Fuser%2Fm").unpinned).toBe("/v1/models/hf.co%2Fuser%2Fm");
});

test("the key in an encoded /k/ prefix is cut from the target too", () => {
  const c = call("/%6B/sk-secret-1/api/tags");
  expect(upstreamTarget(c)).toBe("/api/tags");
  expect(upstreamTarget(c)).not.toContain("sk-secret");
  expect(call("/api/tags").pin).toBeUndefined();
});
