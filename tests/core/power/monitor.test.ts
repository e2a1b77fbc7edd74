// The power monitor on its own: a real Machine whose side effects (probes, magic packets, shutdown calls) are
// fakes, a real status file in a temp dir, and a clock moved by hand. The timer loop is never started: each
// test calls tick() where the loop would, so every transition happens exactly when the test says.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { MachineConfig, PowerOff, PowerOn } from "../../../src/config/config.ts";
import { PowerOnFailedError, UnavailableError } from "../../../src/core/errors.ts";
import { Machine, type MachineIo } from "../../../src/core/machine/machine.ts";
import { MetadataCache } from "../../../src/core/machine/metadata-cache.ts";
import { PowerMonitor } from "../../../src/core/power/monitor.ts";
import { PowerState, ShutdownReason } from "../../../src/core/power/states.ts";
import { StatusStore } from "../../../src/core/power/status-store.ts";
import { EventType } from "../../../src/core/telemetry/events.ts";
import { memoryLogger } from "../../../src/core/telemetry/logger.ts";

const WAKE_TIMEOUT_MS = 120_000;
const WOL_RETRY_MS = 10_000;

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** What the fake machine is doing, as the test sets it; and every call the monitor made on it. */
interface Hardware {
  host: boolean;
  ollama: boolean;
  packets: number;
  shutdowns: number;
  /** Makes the next power-on (plug, command) or power-off call fail with this message. */
  failWake?: string;
  failShutdown?: string;
}

function build(opts: { powerOn?: PowerOn; powerOff?: PowerOff; hw?: Partial<Hardware>; status?: Record<string, unknown> } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "monitor-test-"));
  dirs.push(dir);
  const hw: Hardware = { host: false, ollama: false, packets: 0, shutdowns: 0, ...opts.hw };
  let t = Date.parse("2025-01-15T10:00:00.000Z");
  const clock = { now: () => t, advance: (ms: number) => void (t += ms) };
  const io: MachineIo = {
    probeTcp: async () => (hw.host ? { ok: true, ms: 1 } : { ok: false, ms: 1, error: "refused" }),
    fetchTags: async () => (hw.host && hw.ollama ? { ok: true, ms: 1, models: [], raw: { models: [] } } : { ok: false, ms: 1, error: "refused" }),
    sendMagicPacket: async () => void hw.packets++,
    sshShutdown: async () => ({ via: "sudo" }) as never,
    callHttp: async () => {
      throw new Error("not used");
    },
    runCommand: async (argv) => {
      if (argv[0] === "power-on") {
        if (hw.failWake) throw new Error(hw.failWake);
        hw.packets++;
      } else {
        if (hw.failShutdown) throw new Error(hw.failShutdown);
        hw.shutdowns++;
      }
    },
  };
  const config = {
    name: "gpu",
    host: "127.0.0.1",
    mac: "00:11:22:33:44:55",
    ollamaPort: 11434,
    ssh: { port: 22 },
    shutdownCommand: "shutdown -h now",
    wol: { address: "127.255.255.255", port: 9 },
    statusFile: join(dir, "status.json"),
    metadataCacheFile: join(dir, "metadata_cache.json"),
    probePort: 22,
    models: [],
    priority: 0,
    powerOn: opts.powerOn ?? { kind: "wol" },
    powerOff: opts.powerOff ?? { kind: "command", argv: ["power-off"] },
    powerTimeoutMs: 5000,
    probeTimeoutMs: 1000,
    proxyTimeoutsMs: { generate: 60_000, pull: 60_000, default: 60_000 },
    power: {
      pollMs: 30_000,
      autoWake: true,
      wakeTimeoutMs: WAKE_TIMEOUT_MS,
      wolRetryMs: WOL_RETRY_MS,
      leaseTtlS: 0,
      idleShutdownMs: 0,
      idleShutdownAny: false,
      maxLeases: 100,
    },
    queue: { maxQueue: 64, timeoutMs: 300_000 },
    preload: { models: [], keepAlive: "5m" },
  } satisfies MachineConfig;
  const logger = memoryLogger();
  const machine = new Machine(config, logger, { cache: new MetadataCache(config.metadataCacheFile, logger), io });
  const store = new StatusStore({ file: config.statusFile, logger, now: () => new Date(t) });
  const events: { type: string; data: Record<string, unknown> }[] = [];
  const telemetry = { ready: [] as number[], shutdowns: [] as string[], packets: 0, actions: [] as string[] };
  const housekeeping: number[] = [];
  const monitor = new PowerMonitor({
    machine,
    store,
    events: { emit: (type, data = {}) => void events.push({ type, data }) },
    logger,
    telemetry: {
      packetSent: () => void telemetry.packets++,
      shutdownSent: (reason) => void telemetry.shutdowns.push(reason),
      readyAfter: (s) => void telemetry.ready.push(s),
      powerAction: (action, via, ok) => void telemetry.actions.push(`${action} ${via} ${ok ? "ok" : "failed"}`),
    },
    timing: config.power,
    now: clock.now,
    fastPollMs: 1000,
    housekeeping: async (at) => void housekeeping.push(at),
  });
  const ofType = (type: string) => events.filter((e) => e.type === type).map((e) => e.data);
  const powerMoves = () => ofType(EventType.power).map((d) => `${d.from}->${d.to} (${d.reason})`);
  return { hw, clock, monitor, store, events, ofType, powerMoves, telemetry, logger, housekeeping };
}

/** A promise's outcome without awaiting it: still pending, or what it settled with. */
async function peek<T>(p: Promise<T>): Promise<{ settled: false } | { settled: true; value: T }> {
  const pending = Symbol();
  const value = await Promise.race([p, new Promise<typeof pending>((r) => setTimeout(() => r(pending), 20))]);
  return value === pending ? { settled: false } : { settled: true, value: value as T };
}

describe("the first probe", () => {
  test("the state is a guess until the first probe, which says what it found and writes it to the status file", async () => {
    const m = build();
    expect(m.monitor.known).toBe(false);
    await m.monitor.tick();
    expect(m.monitor.known).toBe(true);
    expect(m.monitor.state).toBe(PowerState.off);
    expect(m.powerMoves()).toEqual(["null->off (first probe)"]);
    const s = await m.store.read();
    expect(s.power_state).toBe(PowerState.off);
    expect([s.phisical_on, s.logical_on]).toEqual([false, false]);
  });

  test("a machine that answers without Ollama is degraded; Ollama's answer then makes it on", async () => {
    const m = build({ hw: { host: true } });
    await m.monitor.tick();
    expect(m.monitor.state).toBe(PowerState.degraded);
    const s = await m.store.read();
    expect([s.phisical_on, s.logical_on]).toEqual([true, false]);
    m.hw.ollama = true;
    await m.monitor.tick();
    expect(m.monitor.state).toBe(PowerState.on);
    expect(m.powerMoves()).toEqual(["null->degraded (first probe)", "degraded->on (probe)"]);
    expect((await m.store.read()).logical_on).toBe(true);
  });

  test("after a restart, a machine the status file says the gateway woke is still the gateway's to put to sleep", async () => {
    const woken = build({ hw: { host: true, ollama: true } });
    await woken.store.update(() => ({ woken_by_gateway: true }));
    await woken.monitor.tick();
    expect(woken.monitor.state).toBe(PowerState.on);
    expect(woken.monitor.woken).toBe(true);

    const notWoken = build({ hw: { host: true, ollama: true } });
    await notWoken.monitor.tick();
    expect(notWoken.monitor.woken).toBe(false);
  });

  test("a probe that sees what it saw before changes nothing, but puts back flags someone edited in the file", async () => {
    const m = build({ hw: { host: true, ollama: true } });
    await m.monitor.tick();
    await m.store.update(() => ({ phisical_on: false, logical_on: false }));
    await m.monitor.tick();
    expect(m.powerMoves()).toEqual(["null->on (first probe)"]);
    const s = await m.store.read();
    expect([s.phisical_on, s.logical_on]).toEqual([true, true]);
  });
});

describe("waking: off -> waking -> on", () => {
  test("a wake sends one packet and stores the attempt; the machine is on once Ollama answers, and woken by the gateway", async () => {
    const m = build();
    await m.monitor.tick();
    expect(await m.monitor.requestWake("request")).toBe(true);
    expect(m.monitor.state).toBe(PowerState.waking);
    expect(m.hw.packets).toBe(1);
    expect(m.ofType(EventType.wakeSent)).toEqual([{ attempt: 1, elapsed_s: 0, via: "wol" }]);
    expect((await m.store.read()).last_wake_at).toBe(new Date(m.clock.now()).toISOString());

    // The host boots first: still waking (not degraded) while Ollama starts.
    m.clock.advance(5_000);
    m.hw.host = true;
    await m.monitor.tick();
    expect(m.monitor.state).toBe(PowerState.waking);

    m.clock.advance(3_000);
    m.hw.ollama = true;
    await m.monitor.tick();
    expect(m.monitor.state).toBe(PowerState.on);
    expect(m.monitor.woken).toBe(true);
    expect(m.monitor.readyAt).toBe(m.clock.now());
    expect(m.telemetry.ready).toEqual([8]);
    const s = await m.store.read();
    expect(s.woken_by_gateway).toBe(true);
    expect(s.last_ready_at).toBe(new Date(m.clock.now()).toISOString());
    expect(m.powerMoves()).toEqual(["null->off (first probe)", "off->waking (request)", "waking->on (Ollama answers)"]);
  });

  test("a wake is sent only from off: on, degraded and waking machines get none", async () => {
    for (const hw of [{ host: true, ollama: true }, { host: true }]) {
      const m = build({ hw });
      await m.monitor.tick();
      expect(await m.monitor.requestWake("request")).toBe(false);
      expect(m.hw.packets).toBe(0);
    }
    const m = build();
    await m.monitor.tick();
    await m.monitor.requestWake("request");
    expect(await m.monitor.requestWake("again")).toBe(false);
    expect(m.hw.packets).toBe(1);
  });

  test("probeAndWake probes first: a machine that came up by itself is not sent a packet", async () => {
    const m = build();
    await m.monitor.tick();
    m.hw.host = m.hw.ollama = true;
    expect(await m.monitor.probeAndWake("request")).toBe(false);
    expect(m.hw.packets).toBe(0);
    expect(m.monitor.state).toBe(PowerState.on);
  });

  test("a dark machine gets the packet again every WOL retry interval, a few times at most", async () => {
    const m = build();
    await m.monitor.tick();
    await m.monitor.requestWake("request");
    m.clock.advance(WOL_RETRY_MS - 1);
    await m.monitor.tick();
    expect(m.hw.packets).toBe(1); // not yet due
    for (let i = 0; i < 6; i++) {
      m.clock.advance(WOL_RETRY_MS);
      await m.monitor.tick();
    }
    // The first packet and three resends; past those, a wake that has not worked will not.
    expect(m.hw.packets).toBe(4);
    expect(m.ofType(EventType.wakeSent).map((d) => d.attempt)).toEqual([1, 2, 3, 4]);
    expect(m.monitor.state).toBe(PowerState.waking);
  });

  test("a machine whose host already answers is booting: no packet is sent again", async () => {
    const m = build();
    await m.monitor.tick();
    await m.monitor.requestWake("request");
    m.hw.host = true;
    m.clock.advance(3 * WOL_RETRY_MS);
    await m.monitor.tick();
    expect(m.hw.packets).toBe(1);
  });

  test("a plug or command is never sent again: it has answered", async () => {
    const m = build({ powerOn: { kind: "command", argv: ["power-on"] } });
    await m.monitor.tick();
    await m.monitor.requestWake("request");
    m.clock.advance(3 * WOL_RETRY_MS);
    await m.monitor.tick();
    expect(m.hw.packets).toBe(1);
    expect(m.monitor.state).toBe(PowerState.waking);
  });

  test("after WAKE_TIMEOUT the wake is given up: an event, the state the probe sees, and those waiting answered false", async () => {
    const m = build();
    await m.monitor.tick();
    await m.monitor.requestWake("request");
    const waiting = m.monitor.waitReady(60_000);
    m.clock.advance(WAKE_TIMEOUT_MS - 1);
    await m.monitor.tick();
    expect(m.monitor.state).toBe(PowerState.waking);
    expect(await peek(waiting)).toEqual({ settled: false });

    m.clock.advance(1);
    await m.monitor.tick();
    expect(m.monitor.state).toBe(PowerState.off);
    expect(await waiting).toBe(false);
    const [timeout] = m.ofType(EventType.wakeTimeout);
    expect(timeout).toMatchObject({ waited_s: WAKE_TIMEOUT_MS / 1000, elapsed_s: WAKE_TIMEOUT_MS / 1000 });
    expect(timeout!.packets).toBe(timeout!.attempt);
    expect(m.powerMoves().at(-1)).toBe("waking->off (wake timed out)");
    // Given up: the next request may try again.
    expect(await m.monitor.requestWake("request")).toBe(true);
  });

  test("a wake given up while the host answers leaves the machine degraded", async () => {
    const m = build();
    await m.monitor.tick();
    await m.monitor.requestWake("request");
    m.hw.host = true;
    m.clock.advance(WAKE_TIMEOUT_MS);
    await m.monitor.tick();
    expect(m.monitor.state).toBe(PowerState.degraded);
  });

  test("a plug or command that fails is final: back to off, and those waiting get a 502 at once", async () => {
    const m = build({ powerOn: { kind: "command", argv: ["power-on"] }, hw: { failWake: "relay stuck" } });
    await m.monitor.tick();
    const before = m.monitor.wakeFailure.count;
    expect(await m.monitor.requestWake("request")).toBe(true);
    expect(m.monitor.state).toBe(PowerState.off);
    expect(m.ofType(EventType.wakeFailed)).toEqual([{ attempt: 1, elapsed_s: 0, via: "command", detail: "relay stuck" }]);
    expect(m.telemetry.actions).toEqual(["wake command failed"]);
    const err = await m.monitor.waitReady(60_000, before).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PowerOnFailedError);
    expect((err as PowerOnFailedError).status).toBe(502);
    expect((err as PowerOnFailedError).detail).toContain("relay stuck");
  });
});

describe("ensureReady", () => {
  test("a machine that is on is ready at once, without a probe", async () => {
    const m = build({ hw: { host: true, ollama: true } });
    await m.monitor.tick();
    m.hw.ollama = false; // a probe now would see it degraded
    expect(await m.monitor.ensureReady(1000)).toBe(true);
    expect(m.monitor.state).toBe(PowerState.on);
  });

  test("before the first probe it probes, and a machine found on needs no wake", async () => {
    const m = build({ hw: { host: true, ollama: true } });
    expect(await m.monitor.ensureReady(1000)).toBe(true);
    expect(m.hw.packets).toBe(0);
  });

  test("a sleeping machine is woken, and the request goes on once it is on", async () => {
    const m = build();
    await m.monitor.tick();
    const ready = m.monitor.ensureReady(60_000);
    await m.logger.waitFor((l) => l.includes("magic packet sent"));
    expect(await peek(ready)).toEqual({ settled: false });
    m.hw.host = m.hw.ollama = true;
    await m.monitor.tick();
    expect(await ready).toBe(true);
    expect(m.hw.packets).toBe(1);
  });

  test("its own wait is bounded: false when the machine is not on in time", async () => {
    const m = build();
    await m.monitor.tick();
    expect(await m.monitor.ensureReady(30)).toBe(false);
    expect(m.monitor.state).toBe(PowerState.waking);
  });

  test("a power-on that fails is thrown as a 502", async () => {
    const m = build({ powerOn: { kind: "command", argv: ["power-on"] }, hw: { failWake: "no relay" } });
    await m.monitor.tick();
    await expect(m.monitor.ensureReady(60_000)).rejects.toBeInstanceOf(PowerOnFailedError);
  });
});

describe("shutting down", () => {
  async function onAndWoken(opts: Parameters<typeof build>[0] = {}) {
    const m = build(opts);
    await m.monitor.tick();
    await m.monitor.requestWake("request");
    m.hw.host = m.hw.ollama = true;
    await m.monitor.tick();
    return m;
  }

  test("shutdown sends the command once, stores when and why, and the state goes off once the machine goes dark", async () => {
    const m = await onAndWoken();
    await m.monitor.lock.run(() => m.monitor.shutdownLocked(ShutdownReason.idle));
    expect(m.monitor.state).toBe(PowerState.shuttingDown);
    expect(m.hw.shutdowns).toBe(1);
    expect(m.ofType(EventType.shutdownSent)).toEqual([{ reason: ShutdownReason.idle }]);
    expect(m.telemetry.shutdowns).toEqual([ShutdownReason.idle]);
    expect((await m.store.read()).last_shutdown_at).toBe(new Date(m.clock.now()).toISOString());

    // Still answering for a while: it stays shutting down.
    m.clock.advance(10_000);
    await m.monitor.tick();
    expect(m.monitor.state).toBe(PowerState.shuttingDown);

    m.hw.host = m.hw.ollama = false;
    await m.monitor.tick();
    expect(m.monitor.state).toBe(PowerState.off);
    expect(m.monitor.woken).toBe(false);
    expect((await m.store.read()).woken_by_gateway).toBe(false);
    expect(m.powerMoves().slice(-2)).toEqual(["on->shutting_down (idle)", "shutting_down->off (the machine went dark)"]);
  });

  test("a wake asked for during a shutdown waits for the machine to go dark, then wakes it", async () => {
    const m = await onAndWoken();
    await m.monitor.lock.run(() => m.monitor.shutdownLocked(ShutdownReason.release));
    const packets = m.hw.packets;
    expect(await m.monitor.requestWake("request")).toBe(false);
    expect(m.hw.packets).toBe(packets);
    m.hw.host = m.hw.ollama = false;
    await m.monitor.tick();
    expect(m.monitor.state).toBe(PowerState.waking);
    expect(m.hw.packets).toBe(packets + 1);
    expect(m.powerMoves().at(-1)).toBe("off->waking (request during shutdown)");
  });

  test("a machine still answering long after the command ignored it: the state goes back to what the probe sees", async () => {
    const m = await onAndWoken();
    await m.monitor.lock.run(() => m.monitor.shutdownLocked(ShutdownReason.forced));
    m.clock.advance(180_000);
    await m.monitor.tick();
    expect(m.monitor.state).toBe(PowerState.on);
    expect(m.powerMoves().at(-1)).toBe("shutting_down->on (still answering long after the shutdown command)");
  });

  test("a shutdown command that fails puts the state back and says why", async () => {
    const m = await onAndWoken({ hw: { failShutdown: "permission denied" } });
    const err = await m.monitor.lock.run(() => m.monitor.shutdownLocked(ShutdownReason.idle)).catch((e: unknown) => e);
    expect((err as Error).message).toBe("permission denied");
    expect(m.monitor.state).toBe(PowerState.on);
    expect(m.ofType(EventType.shutdownFailed)).toEqual([{ reason: ShutdownReason.idle, detail: "permission denied" }]);
    expect(m.ofType(EventType.shutdownSent)).toEqual([]);
    expect(m.powerMoves().at(-1)).toBe("shutting_down->on (shutdown failed)");
  });

  test("power_off none: never switched off, refused with 503 before any state change", async () => {
    const m = await onAndWoken({ powerOff: { kind: "none" } });
    expect(m.monitor.canPowerOff).toBe(false);
    const err = await m.monitor.lock.run(() => m.monitor.shutdownLocked(ShutdownReason.idle)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect(m.monitor.state).toBe(PowerState.on);
    expect(m.hw.shutdowns).toBe(0);
  });
});

describe("tick and the loop's housekeeping", () => {
  test("tick's follow-up runs after the probe, with what it saw and the time; poll runs the housekeeping", async () => {
    const m = build({ hw: { host: true, ollama: true } });
    const seen: string[] = [];
    const probe = await m.monitor.tick(async (p, now) => {
      seen.push(`${m.monitor.state} ${p.ollama.ok} ${now === m.clock.now()}`);
    });
    expect(probe.host.ok).toBe(true);
    expect(seen).toEqual([`${PowerState.on} true true`]);
    expect(m.housekeeping).toEqual([]);
    await m.monitor.poll();
    expect(m.housekeeping).toEqual([m.clock.now()]);
  });

  test("a wake asked for while a tick holds the lock waits for it", async () => {
    const m = build();
    await m.monitor.tick();
    let release!: () => void;
    const held = m.monitor.tick(() => new Promise<void>((r) => (release = r)));
    const wake = m.monitor.requestWake("request");
    expect(await peek(wake)).toEqual({ settled: false });
    expect(m.hw.packets).toBe(0);
    release();
    await held;
    expect(await wake).toBe(true);
    expect(m.hw.packets).toBe(1);
  });

  test("time in each state follows the clock", async () => {
    const m = build();
    await m.monitor.tick();
    m.clock.advance(4_000);
    await m.monitor.requestWake("request");
    m.clock.advance(6_000);
    m.hw.host = m.hw.ollama = true;
    await m.monitor.tick();
    m.clock.advance(2_000);
    expect(m.monitor.timeIn()).toMatchObject({ off: 4, waking: 6, on: 2 });
  });
});
