import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Server } from "bun";
import type { MachineConfig } from "../../../src/config/config.ts";
import { GatewayError, UnavailableError, UpstreamError } from "../../../src/core/errors.ts";
import { Machine, type MachineIo, realMachineIo } from "../../../src/core/machine/machine.ts";
import { MetadataCache } from "../../../src/core/machine/metadata-cache.ts";
import { callHttp, runCommand } from "../../../src/core/machine/power-methods.ts";
import { memoryLogger } from "../../../src/core/telemetry/logger.ts";
import { SimulatedMachine } from "../../../src/sim/machine.ts";
import { freePort } from "../../../src/sim/ports.ts";
import { SimSmartPlug } from "../../../src/sim/smart-plug.ts";

const SECRET = "tok-3f9a7c1e5b";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A real HTTP server on loopback; `handler` answers, every request is recorded with its body. */
function serve(handler: (req: Request) => Response | Promise<Response>) {
  const seen: { method: string; url: URL; headers: Headers; body: string }[] = [];
  const server: Server<unknown> = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: async (req) => {
      seen.push({ method: req.method, url: new URL(req.url), headers: req.headers, body: await req.text() });
      return handler(req);
    },
  });
  cleanups.push(() => server.stop(true));
  return { url: `http://127.0.0.1:${server.port}`, seen };
}

/** The rejection of `p`, which must be a GatewayError. */
async function failure(p: Promise<unknown>): Promise<GatewayError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GatewayError);
  return err as GatewayError;
}

describe("callHttp", () => {
  test("a 2xx answer resolves; method, headers and body arrive as configured", async () => {
    const s = serve(() => new Response("ok", { status: 204 }));
    await callHttp(
      { url: `${s.url}/hook/plug?x=1`, method: "PUT", headers: { "X-Token": SECRET, "Content-Type": "application/json" }, body: '{"on":true}' },
      2000,
    );
    expect(s.seen).toHaveLength(1);
    const r = s.seen[0]!;
    expect(r.method).toBe("PUT");
    expect(r.url.pathname).toBe("/hook/plug");
    expect(r.url.searchParams.get("x")).toBe("1");
    expect(r.headers.get("x-token")).toBe(SECRET);
    expect(r.headers.get("content-type")).toBe("application/json");
    expect(r.body).toBe('{"on":true}');
  });

  test("a 500 is a 502 UpstreamError that names neither the URL, nor a token in its query, nor a header", async () => {
    const s = serve(() => new Response(`internal error ${SECRET}`, { status: 500 }));
    const url = `${s.url}/relay/0?turn=on&auth_key=${SECRET}`;
    const err = await failure(callHttp({ url, method: "POST", headers: { Authorization: "Bearer hdr-secret-77" }, body: "b0dy-secret" }, 2000));
    expect(err).toBeInstanceOf(UpstreamError);
    expect(err.status).toBe(502);
    expect(err.message).toContain("500");
    for (const leak of [url, s.url, "127.0.0.1", SECRET, "hdr-secret-77", "b0dy-secret"]) expect(err.message).not.toContain(leak);
  });

  test("a redirect is not followed: it is an error like any non-2xx", async () => {
    const target = serve(() => new Response("moved here"));
    const s = serve(() => new Response(null, { status: 302, headers: { Location: `${target.url}/elsewhere` } }));
    const err = await failure(callHttp({ url: `${s.url}/?k=${SECRET}`, method: "GET", headers: { "X-Token": SECRET } }, 2000));
    expect(err.status).toBe(502);
    expect(err.message).toContain("302");
    expect(target.seen).toHaveLength(0);
  });

  test("a server that never answers: the error comes within the time limit and says so", async () => {
    const s = serve(() => new Promise<Response>(() => {}));
    const started = performance.now();
    const err = await failure(callHttp({ url: `${s.url}/?token=${SECRET}`, method: "POST", headers: {} }, 200));
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(150);
    expect(elapsed).toBeLessThan(2000);
    expect(err).toBeInstanceOf(UpstreamError);
    expect(err.message).toBe("the power URL did not answer within 200 ms");
  });

  test("nothing listening: could not be reached, without the URL", async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/?token=${SECRET}`;
    const err = await failure(callHttp({ url, method: "GET", headers: {} }, 2000));
    expect(err).toBeInstanceOf(UpstreamError);
    expect(err.message).toStartWith("the power URL could not be reached");
    expect(err.message).not.toContain(SECRET);
    expect(err.message).not.toContain(String(port));
  });
});

describe("runCommand", () => {
  test("exit 0 resolves", async () => {
    await runCommand(["true"], 5000);
  });

  test("exit 1 is a 502 naming the program and the code", async () => {
    const err = await failure(runCommand(["false"], 5000));
    expect(err).toBeInstanceOf(UpstreamError);
    expect(err.status).toBe(502);
    expect(err.message).toBe('the power command "false" failed with exit code 1');
  });

  test("a missing program cannot be started", async () => {
    const err = await failure(runCommand(["/nonexistent/ollama-gate-plug", SECRET], 5000));
    expect(err).toBeInstanceOf(UpstreamError);
    expect(err.message).toContain('"/nonexistent/ollama-gate-plug" could not be started');
    expect(err.message).not.toContain(SECRET);
  });

  test("a command over its time limit is killed, and the error says it timed out", async () => {
    const started = performance.now();
    const err = await failure(runCommand(["sleep", "5"], 200));
    expect(performance.now() - started).toBeLessThan(2000);
    expect(err).toBeInstanceOf(UpstreamError);
    expect(err.message).toBe('the power command "sleep" timed out after 200 ms and was killed');
  });

  test("neither an argument nor what the command wrote to stderr appears in the error", async () => {
    const err = await failure(runCommand(["sh", "-c", 'echo "denied for $0" >&2; exit 3', SECRET], 5000));
    expect(err.message).toBe('the power command "sh" failed with exit code 3');
    expect(err.message).not.toContain(SECRET);
  });

  test("a command that writes much to stderr does not block on the pipe", async () => {
    await runCommand(["sh", "-c", "head -c 300000 /dev/zero >&2"], 10_000);
  });

  test("an empty argv is refused", async () => {
    expect((await failure(runCommand([], 1000))).message).toBe("the power command is empty");
  });
});

describe("Machine power methods", () => {
  function machineConfig(over: Partial<MachineConfig> = {}): MachineConfig {
    const dir = mkdtempSync(join(tmpdir(), "power-methods-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    return {
      name: "plugged",
      host: "127.0.0.1",
      ollamaPort: 11434,
      ssh: { port: 22 },
      shutdownCommand: "shutdown -h now",
      wol: { address: "127.255.255.255", port: 9 },
      statusFile: join(dir, "status.json"),
      metadataCacheFile: join(dir, "metadata_cache.json"),
      probePort: 11434,
      models: [],
      priority: 0,
      powerOn: { kind: "command", argv: ["true"] },
      powerOff: { kind: "command", argv: ["true"] },
      powerTimeoutMs: 5000,
      probeTimeoutMs: 1000,
      proxyTimeoutsMs: { generate: 60_000, pull: 60_000, default: 60_000 },
      power: {
        pollMs: 1000,
        autoWake: true,
        wakeTimeoutMs: 60_000,
        wolRetryMs: 10_000,
        leaseTtlS: 0,
        idleShutdownMs: 0,
        idleShutdownAny: false,
        maxLeases: 100,
      },
      queue: { maxQueue: 64, timeoutMs: 300_000 },
      preload: { models: [], keepAlive: "5m" },
      ...over,
    };
  }

  function build(config: MachineConfig, io: Partial<MachineIo> = {}) {
    const logger = memoryLogger();
    const machine = new Machine(config, logger, { cache: new MetadataCache(config.metadataCacheFile, logger), io: { ...realMachineIo, ...io } });
    return { machine, logger };
  }

  test("power_on http switches a smart plug on, and the simulated machine behind it boots; power_off command runs", async () => {
    const sim = await new SimulatedMachine({ bootDelayMs: 50 }).start();
    cleanups.push(() => sim.stop());
    const plug = new SimSmartPlug({ on: () => sim.boot(), off: () => void sim.powerOff() });
    cleanups.push(() => plug.stop());
    const url = `${plug.url}/relay/0?turn=on&auth_key=${SECRET}`;
    const { machine, logger } = build(
      machineConfig({
        powerOn: { kind: "http", http: { url, method: "POST", headers: { "X-Api-Key": SECRET } } },
        powerOff: { kind: "command", argv: ["true"] },
      }),
    );

    expect(machine.wolTarget).toBe("http");
    expect(machine.shutdownProblem()).toBeNull();
    await machine.wake();
    expect(plug.calls).toHaveLength(1);
    expect(plug.calls[0]).toMatchObject({ method: "POST", path: "/relay/0", query: { turn: "on", auth_key: SECRET } });
    expect(plug.calls[0]!.headers["x-api-key"]).toBe(SECRET);
    expect(plug.ison).toBe(true);
    await sim.waitFor("on");

    const line = logger.lines.find((l) => l.includes("machine powered on"));
    expect(line).toBeDefined();
    expect(JSON.parse(line!)).toMatchObject({ machine: "plugged", via: "http" });
    expect(logger.lines.join("\n")).not.toContain(SECRET);
    expect(logger.lines.join("\n")).not.toContain(plug.url);

    expect(await machine.shutdown()).toEqual({ via: "command" });
  });

  test("power_off http cuts the plug and the machine goes dark; a failing plug is a 502", async () => {
    const sim = await new SimulatedMachine().start({ on: true });
    cleanups.push(() => sim.stop());
    const plug = new SimSmartPlug({ on: () => sim.boot(), off: () => void sim.powerOff() });
    cleanups.push(() => plug.stop());
    const { machine } = build(
      machineConfig({ powerOff: { kind: "http", http: { url: `${plug.url}/relay/0?turn=off`, method: "GET", headers: {} } } }),
    );

    plug.failNext(503);
    const err = await failure(machine.shutdown());
    expect(err).toBeInstanceOf(UpstreamError);
    expect(err.message).toBe("the power URL answered 503");
    expect(sim.state).toBe("on");

    expect(await machine.shutdown()).toEqual({ via: "http" });
    await sim.waitFor("off");
    expect(plug.calls.map((c) => c.query.turn)).toEqual(["off", "off"]);
  });

  test("power_off none: shutdownProblem says so and shutdown() is a 503", async () => {
    const { machine } = build(machineConfig({ powerOff: { kind: "none" } }));
    const message = "this machine has power_off: none; it is never powered off by the gateway";
    expect(machine.shutdownProblem()).toBe(message);
    const err = await failure(machine.shutdown());
    expect(err).toBeInstanceOf(UnavailableError);
    expect(err.status).toBe(503);
    expect(err.message).toBe(message);
  });

  test("power_on command: a failure names the program only", async () => {
    const { machine, logger } = build(machineConfig({ powerOn: { kind: "command", argv: ["false", SECRET] } }));
    expect(machine.wolTarget).toBe("command");
    const err = await failure(machine.wake());
    expect(err.message).toBe('the power command "false" failed with exit code 1');
    expect(logger.lines.some((l) => l.includes("machine powered on"))).toBe(false);
  });

  test("power_on wol sends the magic packet, and refuses without a MAC", async () => {
    const sent: unknown[] = [];
    const sendMagicPacket = async (t: unknown) => void sent.push(t);
    const withMac = build(machineConfig({ powerOn: { kind: "wol" }, mac: "52:54:00:12:34:56" }), { sendMagicPacket });
    await withMac.machine.wake();
    expect(sent).toEqual([{ mac: "52:54:00:12:34:56", address: "127.255.255.255", port: 9 }]);
    expect(withMac.machine.wolTarget).toBe("127.255.255.255:9");
    expect(withMac.logger.lines.some((l) => l.includes("magic packet sent"))).toBe(true);
    // The packet's own line says it; no second "powered on" line for a packet that may not have woken anything.
    expect(withMac.logger.lines.some((l) => l.includes("machine powered on"))).toBe(false);

    const noMac = build(machineConfig({ powerOn: { kind: "wol" } }), { sendMagicPacket });
    expect(await failure(noMac.machine.wake())).toBeInstanceOf(UnavailableError);
    expect(sent).toHaveLength(1);
  });

  test("probeHost probes probePort, not the SSH port", async () => {
    const probed: number[] = [];
    const { machine } = build(machineConfig({ probePort: 11434, ssh: { port: 2222 } }), {
      probeTcp: async (_host, port) => (probed.push(port), { ok: false, ms: 0, error: "stub" }),
    });
    await machine.probeHost();
    expect(probed).toEqual([11434]);
  });
});
