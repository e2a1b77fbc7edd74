import { expect, test } from "bun:test";
import { EventLog } from "../../../src/core/telemetry/events.ts";
import { makeRedactor, memoryLogger } from "../../../src/core/telemetry/logger.ts";

const secret = 'pa"ss\\wörd-$x`';

test("a secret never reaches a log line, even where JSON escapes it", () => {
  const log = memoryLogger([secret]);
  log.error("ssh failed", { detail: `sudo said ${secret}`, err: new Error(`boom ${secret}`) });
  expect(log.lines).toHaveLength(1);
  expect(log.lines[0]).not.toContain(secret);
  expect(log.lines[0]).not.toContain(JSON.stringify(secret).slice(1, -1));
  expect(log.lines[0]).toContain("***");
});

test("a line without an error is redacted too", () => {
  const log = memoryLogger([secret]);
  log.info("said", { detail: `it said ${secret}`, n: 1 });
  expect(log.lines[0]).not.toContain(secret);
  expect(log.lines[0]).not.toContain(JSON.stringify(secret).slice(1, -1));
  expect(JSON.parse(log.lines[0]!).detail).toBe("it said ***");
});

test("event details pass through the same redactor", () => {
  const events = new EventLog(Date.now, 10, makeRedactor([secret]));
  const e = events.emit("shutdown_failed", "default", { detail: `it printed ${secret}` });
  expect(JSON.stringify(e)).not.toContain(JSON.stringify(secret).slice(1, -1));
  expect(e.data.detail).toBe("it printed ***");
});

test("a line is one JSON object: plain fields as they are, an error (also nested) with its name and message", () => {
  const log = memoryLogger();
  log.info("request", { method: "POST", status: 200, ms: 1.5, key: undefined, gone: null });
  log.warn("failed", { err: new TypeError("bad"), nested: { cause: new Error("deeper") } });
  const [plain, failed] = log.lines.map((l) => JSON.parse(l));
  expect(plain).toEqual({ time: expect.any(String), level: "info", msg: "request", method: "POST", status: 200, ms: 1.5, gone: null });
  expect(new Date(plain.time).toISOString()).toBe(plain.time);
  expect(failed.err).toMatchObject({ name: "TypeError", message: "bad" });
  expect(failed.nested.cause).toMatchObject({ name: "Error", message: "deeper" });
});
