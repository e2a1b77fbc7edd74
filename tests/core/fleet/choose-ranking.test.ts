// chooseMachine's ranking among the machines that hold a request's model, every pair of kinds in both orders,
// the ties within each rank, and the spill-over to a sleeping machine when the awake ones' queue waits too long.
import { describe, expect, test } from "bun:test";
import { type Candidate, chooseMachine } from "../../../src/core/fleet/choose.ts";

const c = (name: string, more: Partial<Candidate> = {}): Candidate => ({
  name,
  state: "on",
  priority: 0,
  inFlight: 0,
  canWake: true,
  loaded: false,
  free: true,
  queued: 0,
  oldestWaitMs: 0,
  spillAfterMs: undefined,
  ...more,
});

/** One machine of each kind, best first. The busy one would spill at once if it could: it never may here. */
const KINDS: [string, Partial<Candidate>][] = [
  ["awake, model loaded, a free slot", { loaded: true }],
  ["awake, a free slot", {}],
  ["awake, no free slot", { free: false, queued: 3, oldestWaitMs: 60_000 }],
  ["waking", { state: "waking" }],
  ["asleep", { state: "off" }],
  ["awake, its Ollama silent", { state: "degraded" }],
  ["asleep, may not be woken", { state: "off", canWake: false }],
];

describe("ranks: each kind over every kind after it, in either order in the file", () => {
  const pairs = KINDS.flatMap(([better, b], i) => KINDS.slice(i + 1).map(([worse, w]) => [better, worse, b, w] as const));
  test.each(pairs)("%s over %s", (_better, _worse, b, w) => {
    // The worse one is otherwise as attractive as can be: fewer in flight, a higher priority.
    const winner = c("winner", { ...b, inFlight: 5 });
    const loser = c("loser", { ...w, priority: 99 });
    expect(chooseMachine([winner, loser])?.name).toBe("winner");
    expect(chooseMachine([loser, winner])?.name).toBe("winner");
  });

  test("a machine shutting down counts as asleep: woken after a waking one, before a silent one", () => {
    const down = c("down", { state: "shutting_down" });
    expect(chooseMachine([down, c("waking", { state: "waking" })])?.name).toBe("waking");
    expect(chooseMachine([c("silent", { state: "degraded" }), down])?.name).toBe("down");
    expect(chooseMachine([down, c("asleep", { state: "off", priority: 1 })])?.name).toBe("asleep");
  });

  test("nothing holds it: none", () => {
    expect(chooseMachine([])).toBeUndefined();
  });
});

describe("within a rank", () => {
  test.each<[string, Candidate[], string]>([
    ["loaded and free: the fewest in flight", [c("a", { loaded: true, inFlight: 2 }), c("b", { loaded: true, inFlight: 1 })], "b"],
    ["loaded and free, a tie: the first in the file", [c("a", { loaded: true }), c("b", { loaded: true })], "a"],
    ["free: the fewest in flight", [c("a", { inFlight: 3 }), c("b", { inFlight: 1 })], "b"],
    ["free, a tie: the first in the file", [c("a"), c("b")], "a"],
    ["busy: the shortest queue, whatever is in flight", [c("a", { free: false, queued: 4 }), c("b", { free: false, queued: 1, inFlight: 9 })], "b"],
    [
      "busy, queues alike: the fewest in flight",
      [c("a", { free: false, queued: 2, inFlight: 4 }), c("b", { free: false, queued: 2, inFlight: 3 })],
      "b",
    ],
    ["busy, a tie: the first in the file", [c("a", { free: false, queued: 1 }), c("b", { free: false, queued: 1 })], "a"],
    ["waking: the highest priority", [c("a", { state: "waking" }), c("b", { state: "waking", priority: 2 })], "b"],
    ["asleep: the highest priority", [c("a", { state: "off", priority: 1 }), c("b", { state: "off", priority: 5 })], "b"],
    ["asleep, a tie: the first in the file", [c("a", { state: "off" }), c("b", { state: "off" })], "a"],
    ["silent: the highest priority", [c("a", { state: "degraded" }), c("b", { state: "degraded", priority: 1 })], "b"],
    [
      "may not be woken: the highest priority",
      [c("a", { state: "off", canWake: false }), c("b", { state: "off", canWake: false, priority: 1 })],
      "b",
    ],
    ["loaded beats less work", [c("a", { inFlight: 0 }), c("b", { loaded: true, inFlight: 7 })], "b"],
  ])("%s", (_name, candidates, expected) => {
    expect(chooseMachine(candidates)?.name).toBe(expected);
  });
});

describe("spill-over", () => {
  /** An awake machine with no free slot whose queue's head has waited `waitedMs`. */
  const busy = (name: string, waitedMs: number, spillAfterMs: number | undefined, more: Partial<Candidate> = {}) =>
    c(name, { free: false, queued: 1, oldestWaitMs: waitedMs, spillAfterMs, ...more });
  const asleep = (name: string, more: Partial<Candidate> = {}) => c(name, { state: "off", ...more });

  test.each<[string, Candidate[], string]>([
    ["its head waited longer than spill_after_s: a sleeping holder is woken for it", [busy("a", 1500, 1000), asleep("b")], "b"],
    ["spill_after_s 0: as soon as anyone waits", [busy("a", 0.5, 0), asleep("b")], "b"],
    ["not yet that long: the queue", [busy("a", 500, 1000), asleep("b")], "a"],
    ["exactly that long is not longer: the queue", [busy("a", 1000, 1000), asleep("b")], "a"],
    ["no spill_after_s: the queue, however long", [busy("a", 3_600_000, undefined), asleep("b")], "a"],
    ["nobody waits (every slot runs): the queue", [busy("a", 0, 0, { queued: 0 }), asleep("b")], "a"],
    ["another awake holder has a free slot: that one, no wake", [busy("a", 9000, 1000), c("b", { inFlight: 3 }), asleep("c")], "b"],
    [
      "one already waking takes it rather than a second wake",
      [busy("a", 9000, 1000), asleep("b", { priority: 9 }), c("w", { state: "waking" })],
      "w",
    ],
    ["among sleeping holders, the highest priority", [busy("a", 9000, 1000), asleep("b", { priority: 1 }), asleep("c", { priority: 4 })], "c"],
    ["one shutting down may be woken", [busy("a", 9000, 1000), c("d", { state: "shutting_down" })], "d"],
    ["a sleeping one the gateway may not wake is no way out: the queue", [busy("a", 9000, 1000), asleep("b", { canWake: false })], "a"],
    ["a silent one is no way out: the queue", [busy("a", 9000, 1000), c("s", { state: "degraded" })], "a"],
    ["no other holder: the queue", [busy("a", 9000, 1000)], "a"],
    // The best queue decides: the shorter one here, which has waited past its own spill_after_s.
    ["the shortest queue's setting decides (it spills)", [busy("a", 9000, undefined, { queued: 5 }), busy("b", 2000, 1000), asleep("c")], "c"],
    ["the shortest queue's setting decides (it never spills)", [busy("a", 9000, 1000, { queued: 5 }), busy("b", 2000, undefined), asleep("c")], "b"],
  ])("%s", (_name, candidates, expected) => {
    expect(chooseMachine(candidates)?.name).toBe(expected);
  });
});
