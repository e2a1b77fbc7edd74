// Idle shutdown by default: a machine a client woke through /api/* goes back to sleep by itself, and the
// gateway says when (idle_shutdown_at) or why not (idle_shutdown_off). A lease still holds a machine, and a
// machine switched on by hand is still left alone, as the old service's clients expect.
import { afterEach, describe, expect, test } from "bun:test";
import { once } from "node:events";
import { join } from "node:path";
import { type FleetHarness, type Harness, json, manualClock, nextEvent, startFleetHarness, startHarness, tempDir } from "../helpers.ts";

let h: Harness | undefined;
let f: FleetHarness | undefined;
afterEach(async () => {
  await h?.close();
  await f?.close();
  h = f = undefined;
});

const MIN = 60_000;

async function generate(harness: Harness) {
  const res = await harness.api("/api/generate", { method: "POST", body: JSON.stringify({ model: "llama3.2:3b", prompt: "x" }) });
  expect(res.status).toBe(200);
  await res.text();
  while (harness.deps.activity.inFlight > 0) await once(harness.deps.activity, "all-ended");
}

describe("idle shutdown by default", () => {
  test("with IDLE_SHUTDOWN_MIN unset it is 30 min: /debug says so, and a machine a request woke sleeps 30 min after it", async () => {
    const clock = manualClock();
    h = await startHarness({ deps: { now: clock.now } });
    expect((await json(h.api("/debug"))).config.IDLE_SHUTDOWN_MIN).toBe(30);
    await generate(h); // wakes the machine; no lease
    const ended = clock.t;
    const machine = await json(h.api("/machines/default"));
    expect(machine).toMatchObject({ power_state: "on", woken_by_gateway: true, leases: 0, idle_shutdown_off: null });
    expect(Date.parse(machine.idle_shutdown_at)).toBe(ended + 30 * MIN);
    // /leases ("why is it on?") carries it too, beside its own fields.
    expect(await json(h.api("/leases"))).toMatchObject({ peticions_ollama: 0, idle_shutdown_at: machine.idle_shutdown_at, idle_shutdown_off: null });

    clock.advance(30 * MIN - 1000);
    await h.deps.monitor.poll();
    expect(h.sim.commands).toHaveLength(0);
    clock.advance(2000);
    const sent = nextEvent(h.deps, (e) => e.type === "shutdown_sent");
    await h.deps.monitor.poll();
    expect((await sent).data.reason).toBe("idle");
    await h.sim.waitFor("off");
    // What a person reads in the log is rounded: 30 minutes and a second is "30", not 30.016666666666666.
    const line = h.logs.find((l) => l.includes('"idle shutdown"'))!;
    expect(JSON.parse(line).idle_min).toBe(30);
  });

  test("with a machines file, each machine's idle_shutdown_min follows the same default", async () => {
    f = await startFleetHarness();
    expect(f.deps.fleet.units.map((u) => [u.name, u.config.power.idleShutdownMs])).toEqual([
      ["big", 30 * MIN],
      ["small", 30 * MIN],
    ]);
  });

  test("a lease (/arrancar) holds the machine: never idle, and the deadline says held", async () => {
    const clock = manualClock();
    h = await startHarness({ deps: { now: clock.now } });
    const { lease_id } = await json(h.api("/arrancar?wait=true", { method: "POST" }));
    await generate(h);
    clock.advance(600 * MIN);
    await h.deps.monitor.poll();
    expect(h.sim.commands).toHaveLength(0);
    expect(await json(h.api("/machines/default"))).toMatchObject({ leases: 1, idle_shutdown_at: null, idle_shutdown_off: "held" });
    // Released with the machine kept on by Keep on: still held, then free, from the release on.
    await h.api("/permanent_on_enable", { method: "POST" });
    await h.api(`/apagar?lease_id=${lease_id}`, { method: "POST" });
    expect((await json(h.api("/machines/default"))).idle_shutdown_off).toBe("held");
    await h.api("/permanent_on_disable", { method: "POST" });
    const free = await json(h.api("/machines/default"));
    expect(Date.parse(free.idle_shutdown_at)).toBe(clock.t + 30 * MIN);
  });

  test("a machine switched on by hand is left on, and says why; IDLE_SHUTDOWN_MIN=0 says off", async () => {
    const clock = manualClock();
    h = await startHarness({ on: true, deps: { now: clock.now } });
    await h.deps.monitor.tick();
    expect(await json(h.api("/machines/default"))).toMatchObject({
      woken_by_gateway: false,
      idle_shutdown_at: null,
      idle_shutdown_off: "switched_on_by_hand",
    });
    clock.advance(600 * MIN);
    await h.deps.monitor.poll();
    expect(h.sim.commands).toHaveLength(0);
    await h.close();

    h = await startHarness({ env: { IDLE_SHUTDOWN_MIN: "0" }, deps: { now: clock.now } });
    await generate(h);
    expect(await json(h.api("/machines/default"))).toMatchObject({ woken_by_gateway: true, idle_shutdown_at: null, idle_shutdown_off: "disabled" });
    clock.advance(600 * MIN);
    await h.deps.monitor.poll();
    expect(h.sim.commands).toHaveLength(0);
  });

  test("the demo's machines with a short setting: a chat wakes small through its plug, and small goes back to Off by itself", async () => {
    // 3 s of idleness, probed every 0.2 s: the demo's minute, made short, yet long enough that a loaded box
    // still reads small as on, with its deadline ahead, right after the chat.
    f = await startFleetHarness({ env: { IDLE_SHUTDOWN_MIN: "0.05", POLL_S: "0.2" } });
    const small = f.deps.fleet.byName.get("small")!;
    const off = new Promise<void>((resolve) =>
      f!.deps.events.subscribe((e) => e.machine === "small" && e.type === "power" && e.data.to === "off" && e.data.from && resolve()),
    );
    const res = await f.api("/api/chat", {
      method: "POST",
      body: JSON.stringify({ model: "qwen2.5:7b", messages: [{ role: "user", content: "hi" }], stream: false }),
    });
    expect(res.status).toBe(200);
    await res.json();
    expect(f.small.state).toBe("on");
    const listed = (await json(f.api("/machines"))).machines.find((m: { name: string }) => m.name === "small");
    expect(listed).toMatchObject({ power_state: "on", leases: 0, idle_shutdown_off: null });
    expect(Date.parse(listed.idle_shutdown_at)).toBeGreaterThan(Date.now());
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("small did not go back to Off within 15 s")), 15_000);
    });
    await Promise.race([off, deadline]).finally(() => clearTimeout(timer));
    await f.small.waitFor("off"); // the plug cut its power
    expect(small.monitor.state).toBe("off");
    expect(f.big.state).toBe("off"); // nothing woke big
    expect(f.deps.metrics.shutdowns.get({ machine: "small", reason: "idle" })).toBe(1);
  }, 30_000);
});

test("the demo sets about a minute, says so in a Try line, and names its dashboard", async () => {
  const { dir, cleanup } = tempDir();
  // An explicit environment, a temp directory, no .env: nothing of the user's reaches it.
  const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, TMPDIR: dir, PORT: "0", DEMO_BOOT_DELAY_MS: "50" };
  const proc = Bun.spawn([process.execPath, "--no-env-file", join(import.meta.dir, "..", "..", "src", "sim", "demo.ts")], {
    cwd: dir,
    env,
    stdout: "pipe",
    stderr: "ignore",
  });
  const reader = proc.stdout.getReader();
  let out = "";
  const readUntil = async (re: RegExp) => {
    for (let m = re.exec(out); !m; m = re.exec(out)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`demo output ended before ${re}:\n${out}`);
      out += new TextDecoder().decode(value);
    }
    return re.exec(out)!;
  };
  try {
    const [, url] = await readUntil(/gateway at (http:\/\/127\.0\.0\.1:\d+)/);
    const [, key] = await readUntil(/API key:\s+(\S+)/);
    await readUntil(/Press Ctrl\+C/);
    expect(out).toContain(`Dashboard: ${url}/ (log in with the key above; its Usage view: ${url}/ui#usage)`);
    expect(out).toMatch(/wait a minute: \w+ goes back to sleep by itself/);
    const headers = { "X-API-Key": key!, "Content-Type": "application/json" };
    const debug = (await (await fetch(`${url}/debug`, { headers })).json()) as { config: Record<string, unknown> };
    expect(debug.config.IDLE_SHUTDOWN_MIN).toBe(1);
    const body = JSON.stringify({ model: "qwen2.5:7b", messages: [{ role: "user", content: "hi" }], stream: false });
    expect((await fetch(`${url}/api/chat`, { method: "POST", headers, body })).status).toBe(200);
    const small = (await (await fetch(`${url}/machines/small`, { headers })).json()) as { idle_shutdown_at: string | null };
    const inMs = Date.parse(small.idle_shutdown_at ?? "") - Date.now();
    expect(inMs).toBeGreaterThan(50_000);
    expect(inMs).toBeLessThanOrEqual(60_000);
  } finally {
    proc.kill();
    await proc.exited;
    cleanup();
  }
}, 30_000);
