// `npm run sim` (issue 22, item 5): the simulator writes a configuration, and the real gateway, started the
// way the README says (`cd DIR && npm start`), wakes and shuts down its simulated machines with it. Every
// process gets an explicit environment and runs in a temp directory; the sim is given a base port found free.
import { afterEach, expect, test } from "bun:test";
import dgram from "node:dgram";
import { readFileSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { bunCommand, childEnv, ROOT, tempDir } from "../helpers.ts";

const SIM = join(ROOT, "src", "sim", "cli.ts");
const NPM = Bun.which("npm");
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Collects a process's output and resolves when a pattern shows up in it (or rejects when the stream ends). */
function watch(stream: ReadableStream<Uint8Array>) {
  let text = "";
  const waiters: (() => void)[] = [];
  const done = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      text += decoder.decode(chunk);
      for (const w of waiters.splice(0)) w();
    }
  })();
  const until = async (re: RegExp): Promise<RegExpExecArray> => {
    for (;;) {
      const m = re.exec(text);
      if (m) return m;
      const more = new Promise<void>((resolve) => waiters.push(resolve));
      if ((await Promise.race([more.then(() => "more"), done.then(() => "end")])) === "end" && !re.test(text)) {
        throw new Error(`output ended before ${re}:\n${text}`);
      }
    }
  };
  return { until, text: () => text };
}

function spawn(cmd: string[], cwd: string, env: Record<string, string>, signal: NodeJS.Signals = "SIGTERM") {
  const proc = Bun.spawn(cmd, { cwd, env, stdout: "pipe", stderr: "pipe" });
  cleanups.push(async () => {
    proc.kill(signal);
    await proc.exited;
  });
  return { proc, out: watch(proc.stdout as ReadableStream<Uint8Array>), err: watch(proc.stderr as ReadableStream<Uint8Array>) };
}

const canBind = (port: number, udp = false) =>
  new Promise<boolean>((resolve) => {
    if (udp) {
      const s = dgram.createSocket("udp4");
      s.once("error", () => (s.close(), resolve(false)));
      s.bind(port, "127.0.0.1", () => s.close(() => resolve(true)));
      return;
    }
    const srv = createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });

/** A base port whose six ports are free now, away from the default (17400) a developer's own sim may hold. */
async function freeBase(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const base = 20_000 + 10 * Math.floor(Math.random() * 1000);
    const ports = [0, 1, 2, 3, 4, 5].map((k) => base + k);
    if ((await Promise.all([...ports.map((p) => canBind(p)), canBind(base + 3, true)])).every(Boolean)) return base;
  }
  throw new Error("no free base port found");
}

function sandbox() {
  const { dir, cleanup } = tempDir("ollama-gate-sim-");
  cleanups.push(cleanup);
  // npm's update check would reach the registry: off.
  return { dir, env: childEnv({ npm_config_update_notifier: "false" }, dir) };
}

test.skipIf(!NPM)(
  "npm run sim writes a configuration; `cd DIR && npm start` runs the real gateway with it, which wakes and shuts down the simulated machines",
  async () => {
    const { dir, env } = sandbox();
    const base = await freeBase();
    const cfg = join(dir, "cfg");
    const sim = spawn(bunCommand(SIM, "--dir", cfg, "--base-port", String(base)), dir, { ...env, DEMO_BOOT_DELAY_MS: "200" }, "SIGINT");
    await sim.out.until(/Ready: .*Press Ctrl\+C to stop\./);
    const [, admin] = (await sim.out.until(/admin\s+you\s+(\S+)/))!;
    const [, inference] = (await sim.out.until(/inference\s+chat-app\s+(\S+)/))!;
    expect(sim.out.text()).toContain(`cd ${cfg} && npm start`);
    expect(statSync(join(cfg, ".env")).mode & 0o777).toBe(0o600);
    const dotenv = readFileSync(join(cfg, ".env"), "utf8");
    const passwords = [...dotenv.matchAll(/^SIM_(?:SSH|SUDO)_PASS=(.+)$/gm)].map((m) => m[1]!);
    expect(passwords).toHaveLength(2);

    // What the README says to run, in the directory it names: npm's scripts, Bun reading the .env there.
    const check = Bun.spawnSync([NPM!, "run", "--silent", "check"], { cwd: cfg, env, stdout: "pipe", stderr: "pipe" });
    const checked = check.stdout.toString() + check.stderr.toString();
    expect({ code: check.exitCode, checked }).toEqual({ code: 0, checked: expect.stringContaining("big (default)") });
    for (const secret of [admin!, inference!, ...passwords]) expect(checked).not.toContain(secret);

    const gateway = spawn([NPM!, "start"], cfg, env);
    await gateway.err.until(/ollama-gate listening/);
    const url = `http://127.0.0.1:${base}`;
    const post = (path: string, key: string, body?: unknown) =>
      fetch(`${url}${path}`, {
        method: "POST",
        headers: { "X-API-Key": key, "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });

    // A chat for small's model: the plug switches on, small boots, the answer comes back.
    const chat = await post("/api/chat", inference!, { model: "qwen2.5:7b", messages: [{ role: "user", content: "hi" }], stream: false });
    expect(chat.status).toBe(200);
    expect(((await chat.json()) as { model: string }).model).toBe("qwen2.5:7b");
    await sim.out.until(/\[sim plug\] relay switched on/);

    // big: a magic packet wakes it; the SSH password and the pinned host key in the files shut it down.
    const wake = await post("/machines/big/wake?wait=true&timeout_s=20", admin!);
    expect(wake.status).toBe(200);
    expect(((await wake.json()) as { power_state: string }).power_state).toBe("on");
    await sim.out.until(/\[sim big\] magic packet for 52:54:00:12:34:56 from 127\.0\.0\.1: booting/);
    const off = await post("/machines/big/shutdown", admin!);
    expect({ status: off.status, body: await off.json() }).toMatchObject({ status: 200, body: { shutdown_sent: true } });
    await sim.out.until(/\[sim big\] off/);
    // The written machines have power_watts: /energy has kWh for both (none was on for long: a little, not null).
    const energy = (await (await fetch(`${url}/energy`, { headers: { "X-API-Key": admin! } })).json()) as { machines: { kwh: number | null }[] };
    expect(energy.machines.map((m) => typeof m.kwh)).toEqual(["number", "number"]);

    gateway.proc.kill("SIGTERM");
    expect(await gateway.proc.exited).toBe(0);
    sim.proc.kill("SIGINT");
    expect(await sim.proc.exited).toBe(0);
    for (const secret of [admin!, inference!, ...passwords]) expect(gateway.out.text() + gateway.err.text()).not.toContain(secret);
  },
  60_000,
);

test("a second run keeps the files (they are the user's); a busy fixed port stops the sim with a line naming it and --base-port", async () => {
  const { dir, env } = sandbox();
  const base = await freeBase();
  const cfg = join(dir, "cfg");
  const args = bunCommand(SIM, "--dir", cfg, "--base-port", String(base));
  const first = spawn(args, dir, env, "SIGINT");
  await first.out.until(/Ready: /);
  const edited = `${readFileSync(join(cfg, "machines.yaml"), "utf8")}# my edit\n`;
  await Bun.write(join(cfg, "machines.yaml"), edited);

  // Its ports are held by the first run: the second says which, and how to choose others.
  const busy = Bun.spawnSync(args, { cwd: dir, env, stdout: "pipe", stderr: "pipe" });
  expect(busy.exitCode).toBe(1);
  // (big's and small's Ollama and SSH ports are bound only while they are on.)
  expect(busy.stderr.toString()).toContain(`${base + 5}/tcp (the smart plug), ${base + 3}/udp (big's Wake-on-LAN listener) are in use`);
  expect(busy.stderr.toString()).toContain("--base-port N or SIM_BASE_PORT=N");
  first.proc.kill("SIGINT");
  expect(await first.proc.exited).toBe(0);

  const again = spawn(args, dir, env, "SIGINT");
  await again.out.until(/Ready: /);
  expect(again.out.text()).toContain("kept from an earlier run");
  expect(again.out.text()).not.toMatch(/admin\s+you\s+sim-/); // the keys were shown once, the first time
  expect(readFileSync(join(cfg, "machines.yaml"), "utf8")).toBe(edited);
});
