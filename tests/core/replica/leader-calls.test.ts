// What a replica that does not lead asks the leader (core/replica/leader-calls.ts): bounded on both sides.
import { describe, expect, test } from "bun:test";
import { UnavailableError } from "../../../src/core/errors.ts";
import { LeaderCalls } from "../../../src/core/replica/leader-calls.ts";
import { memoryLogger } from "../../../src/core/telemetry/logger.ts";

/** A store that takes every call and never answers, as one with no leader reading its list. */
function silentStore() {
  const pushed: unknown[][] = [];
  return {
    pushed,
    key: (...parts: string[]) => `t:${parts.join(":")}`,
    send: async () => null,
    eval: async (_script: string, _keys: string[], args: (string | number)[]) => {
      pushed.push(args);
      return 1;
    },
    publish: async () => 1,
    subscribe: () => {},
    reachable: true,
  };
}

describe("calls for the leader", () => {
  test("at most 1,000 wait for their answer in one process; the next is told to retry at once, and stop() answers them all", async () => {
    const store = silentStore();
    const calls = new LeaderCalls({ store, machine: "m", leadership: { leading: false, owner: "gw-a#1" }, ttlMs: 1000, logger: memoryLogger() });
    const waiting = Array.from({ length: 1000 }, () => calls.call("wake", "test"));
    for (const w of waiting) w.catch(() => {});
    const refused = await calls.call("wake", "test").catch((e) => e);
    expect(refused).toBeInstanceOf(UnavailableError);
    expect((refused as UnavailableError).headers["Retry-After"]).toBe("5");
    expect(store.pushed.length).toBe(1000);
    calls.stop();
    const settled = await Promise.allSettled(waiting);
    expect(settled.every((s) => s.status === "rejected")).toBe(true);
  });
});
