import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp } from "../src/app.ts";
import { parseConfig } from "../src/config/config.ts";
import { secretsOf } from "../src/config/view.ts";
import type { GateEvent } from "../src/core/telemetry/events.ts";
import { memoryLogger } from "../src/core/telemetry/logger.ts";
import { type AppDeps, buildDeps, type DepsOptions, prepareFleet, startFleet } from "../src/deps.ts";
import { serve } from "../src/http/server.ts";
import { simEnv } from "../src/sim/env.ts";
import { fakeModel } from "../src/sim/fake-ollama.ts";
import { simMachinesFile } from "../src/sim/fleet.ts";
import { type SimMachineOptions, SimulatedMachine } from "../src/sim/machine.ts";
import { SimSmartPlug } from "../src/sim/smart-plug.ts";

export const KEY = "test-key-9f8e7d6c5b4a";
export const SSH_PASS = "ssh-pass-'quoted' $HOME";
export const SUDO_PASS = 'sudo-pass-"x" `id` $(whoami)';

export interface Harness {
  sim: SimulatedMachine;
  deps: AppDeps;
  logs: string[];
  /** Resolves with the first log line (already written or still to come) that matches. */
  logLine: (match: (line: string) => boolean) => Promise<string>;
  url: string;
  dir: string;
  /** The HTTP server, for tests that stop and restart the gateway. */
  server: ReturnType<typeof serve>;
  /** fetch against the gateway with the API key. */
  api: (path: string, init?: RequestInit) => Promise<Response>;
  close: () => Promise<void>;
}

export interface HarnessOptions {
  machine?: SimMachineOptions;
  on?: boolean;
  env?: Record<string, string | undefined>;
  deps?: DepsOptions;
  /** Leave the power monitor's timer off; the test calls deps.monitor.tick() itself. */
  manualMonitor?: boolean;
}

export function tempDir(prefix = "ollama-gate-"): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

let scratch = "";
/** An empty temp directory for a child's working directory and HOME when its test has none; gone at exit. */
export function scratchDir(): string {
  if (!scratch) {
    const { dir, cleanup } = tempDir("ollama-gate-child-");
    scratch = dir;
    process.on("exit", cleanup);
  }
  return scratch;
}

/**
 * The whole environment of a process a test starts: PATH to find bun and the tools, a temp HOME and TMPDIR,
 * and only the variables the test means (`extra`; an undefined value is left out). Nothing of the user's
 * shell or `.env` (issue 22): spread no process.env into a child's env.
 */
export function childEnv(extra: Record<string, string | undefined> = {}, home = scratchDir()): Record<string, string> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, TMPDIR: tmpdir() };
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** The repository's root, for paths to its files; a child's working directory is a temp dir, never this. */
export const ROOT = join(import.meta.dir, "..");

/** `bun <script> <args…>`: bun reads a `.env` from its working directory by itself unless told not to. */
export function bunCommand(script: string, ...args: string[]): string[] {
  return [process.execPath, "--no-env-file", script, ...args];
}

/** A gateway on a real loopback port, in front of a simulated machine. */
export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const sim = await new SimulatedMachine({
    sshUser: "ia",
    sshPassword: SSH_PASS,
    sudoPassword: SUDO_PASS,
    bootDelayMs: 100,
    ollama: { chunkDelayMs: 2 },
    ...opts.machine,
  }).start({ on: opts.on });
  const { dir, cleanup } = tempDir();
  const env = simEnv(sim, {
    API_KEYS: KEY,
    SSH_USER: "ia",
    SSH_PASS,
    SSH_SUDO_PASS: SUDO_PASS,
    STATUS_FILE: join(dir, "status.json"),
    ...opts.env,
  });
  const parsed = parseConfig(env);
  if (!parsed.ok) throw new Error(parsed.errors.join("\n"));
  const logger = memoryLogger(secretsOf(parsed.config));
  const deps = buildDeps(parsed.config, { logger, fastPollMs: 40, ...opts.deps });
  if (!opts.manualMonitor) deps.monitor.start();
  const server = serve(createApp(deps), { hostname: "127.0.0.1", port: 0 });
  const url = `http://127.0.0.1:${server.port}`;
  return {
    sim,
    deps,
    logs: logger.lines,
    logLine: logger.waitFor,
    url,
    dir,
    server,
    api: apiWithKey(url),
    close: async () => {
      await deps.monitor.stop(); // a probe under way would write into the directory removed below
      server.stop(true);
      deps.usageStore.close();
      await sim.stop();
      cleanup();
    },
  };
}

export interface FleetHarness extends Omit<Harness, "sim" | "server"> {
  /** Woken by magic packet, shut down over SSH; holds llama3.1:70b; the default machine. */
  big: SimulatedMachine;
  /** Switched by a smart plug over HTTP, no SSH; holds qwen2.5:7b. */
  small: SimulatedMachine;
  plug: SimSmartPlug;
}

/** Two simulated machines behind one gateway, described by a machines file, both asleep unless `on` says. */
export async function startFleetHarness(opts: { on?: ("big" | "small")[]; env?: Record<string, string> } = {}): Promise<FleetHarness> {
  const model = (name: string) => fakeModel(name, 4_000_000_000, "llama", "7B");
  const base = { sshUser: "ia", sshPassword: SSH_PASS, sudoPassword: SUDO_PASS, bootDelayMs: 100 };
  const big = await new SimulatedMachine({ ...base, ollama: { chunkDelayMs: 2, models: [model("llama3.1:70b")] } }).start({
    on: opts.on?.includes("big"),
  });
  const small = await new SimulatedMachine({ ...base, mac: "52:54:00:00:00:02", ollama: { chunkDelayMs: 2, models: [model("qwen2.5:7b")] } }).start({
    on: opts.on?.includes("small"),
  });
  const plug = new SimSmartPlug({ on: () => small.boot(), off: () => void small.powerOff() });
  const { dir, cleanup } = tempDir();
  const file = join(dir, "machines.json");
  const members = [
    { name: "big", sim: big, models: ["llama3.1:70b"] },
    { name: "small", sim: small, plug, models: ["qwen2.5:7b"] },
  ];
  await Bun.write(file, JSON.stringify(simMachinesFile(members)));
  const env = {
    API_KEYS: KEY,
    MACHINES_FILE: file,
    STATUS_FILE: join(dir, "status.json"),
    SIM_SSH_PASS: SSH_PASS,
    SIM_SUDO_PASS: SUDO_PASS,
    ...opts.env,
  };
  const parsed = parseConfig(env);
  if (!parsed.ok) throw new Error(parsed.errors.join("\n"));
  const logger = memoryLogger(secretsOf(parsed.config));
  const deps = buildDeps(parsed.config, { logger, fastPollMs: 40 });
  await prepareFleet(deps);
  startFleet(deps);
  const server = serve(createApp(deps), { hostname: "127.0.0.1", port: 0 });
  const url = `http://127.0.0.1:${server.port}`;
  return {
    big,
    small,
    plug,
    deps,
    logs: logger.lines,
    logLine: logger.waitFor,
    url,
    dir,
    api: apiWithKey(url),
    close: async () => {
      for (const u of deps.fleet.units) await u.monitor.stop();
      server.stop(true);
      plug.stop();
      await big.stop();
      await small.stop();
      cleanup();
    },
  };
}

/** fetch against a gateway at `url`, with the API key unless the request brings its own. */
function apiWithKey(url: string) {
  return (path: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    if (!headers.has("authorization") && !headers.has("x-api-key")) headers.set("X-API-Key", KEY);
    return fetch(url + path, { ...init, headers });
  };
}

export async function json(res: Response | Promise<Response>): Promise<any> {
  return (await res).json();
}

/** Resolves with the first gateway event (from now on) that matches. */
export function nextEvent(deps: AppDeps, match: (e: GateEvent) => boolean): Promise<GateEvent> {
  return new Promise((resolve) => {
    const unsubscribe = deps.events.subscribe((e) => {
      if (!match(e)) return;
      unsubscribe();
      resolve(e);
    });
  });
}

/** A clock the tests move by hand: the power rules (idle windows, lease expiry) read it; sockets and timers stay real. */
export function manualClock() {
  const clock = { t: Date.parse("2026-11-25T10:00:00Z"), now: () => clock.t, advance: (ms: number) => (clock.t += ms) };
  return clock;
}

/** Resolves once `check` holds (polled every few ms, for state that sends no event); throws after `ms`. */
export async function until(check: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("timed out");
    await Bun.sleep(5);
  }
}
