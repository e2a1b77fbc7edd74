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

test("event details pass through the same redactor", () => {
  const events = new EventLog(Date.now, 10, makeRedactor([secret]));
  const e = events.emit("shutdown_failed", "default", { detail: `it printed ${secret}` });
  expect(JSON.stringify(e)).not.toContain(JSON.stringify(secret).slice(1, -1));
  expect(e.data.detail).toBe("it printed ***");
});
