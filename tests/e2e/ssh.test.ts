import { afterEach, describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { GatewayError } from "../../src/core/errors.ts";
import { sshShutdown } from "../../src/core/machine/ssh.ts";
import { freePort } from "../../src/sim/ports.ts";
import { generateEd25519, SimSshServer } from "../../src/sim/ssh-server.ts";
import { type Harness, json, KEY, SSH_PASS, SUDO_PASS, startHarness, tempDir } from "../helpers.ts";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const shutdown = () => h!.api("/shutdown", { method: "POST" });

describe("shutdown over SSH, through the gateway", () => {
  test("falls back to the bare command when sudo fails, as the old service did", async () => {
    h = await startHarness({ on: true, machine: { sudoPassword: "something-else", plainShutdownAllowed: true } });
    expect(await json(shutdown())).toMatchObject({ shutdown_sent: true });
    expect(h.sim.commands.map((c) => c.command)).toEqual(["sudo -S -p '' shutdown -h now", "shutdown -h now"]);
    expect(h.sim.commands[1]!.stdin).toBe("");
    await h.sim.waitFor("off");
  });

  test("a command that fails both ways is a 502 that leaves the power flags as they were", async () => {
    h = await startHarness({ on: true, machine: { sudoPassword: "something-else" } });
    await h.api("/status");
    await h.api("/permanent_on_enable", { method: "POST" });
    const res = await shutdown();
    expect(res.status).toBe(502);
    const body = await json(res);
    expect(body.detail).toContain("shutdown command failed");
    expect(body.detail).toContain("Access denied");
    expect(await h.deps.store.read()).toMatchObject({ phisical_on: true, logical_on: true, permanent_on: true });
    expect(h.sim.state).toBe("on");
  });

  test("a failed shutdown on /apagar still counts the release", async () => {
    h = await startHarness({ on: true, machine: { sudoPassword: "nope" } });
    await h.api("/arrancar", { method: "POST" });
    const res = await h.api("/apagar", { method: "POST" });
    expect(res.status).toBe(502);
    expect((await h.deps.store.read()).peticions_ollama).toBe(0);
  });

  test("an authentication failure is a 502 that says so", async () => {
    h = await startHarness({ on: true, machine: { sshPassword: "the-real-one" } });
    const res = await shutdown();
    expect(res.status).toBe(502);
    expect((await json(res)).detail).toContain("SSH authentication failed");
    expect(h.sim.commands).toHaveLength(0);
  });

  test("SSH not configured is a 503 with a clear detail", async () => {
    h = await startHarness({ on: true, env: { SSH_USER: undefined, SSH_PASS: undefined, SSH_SUDO_PASS: undefined } });
    const res = await shutdown();
    expect(res.status).toBe(503);
    expect((await json(res)).detail).toContain("SSH is not configured");
  });

  test("logs in with a private key from SSH_KEY_PATH, preferred over the password", async () => {
    const { dir, cleanup } = tempDir();
    const pair = generateEd25519();
    const keyPath = join(dir, "id_ed25519");
    await Bun.write(keyPath, pair.private);
    try {
      h = await startHarness({
        on: true,
        machine: { sshPassword: undefined, authorizedKey: pair.public },
        env: { SSH_KEY_PATH: keyPath, SSH_PASS: "wrong-password" },
      });
      expect(await json(shutdown())).toMatchObject({ shutdown_sent: true });
      expect(h.sim.commands[0]!.stdin).toBe(SUDO_PASS + "\n");
    } finally {
      cleanup();
    }
  });

  test("a pinned fingerprint that matches is accepted; any other key is refused", async () => {
    const hostKey = generateEd25519().private;
    const pinned = new SimSshServer({ user: "x", hostKey, run: () => ({ code: 0 }) }).hostFingerprint;
    h = await startHarness({ on: true, machine: { sshHostKey: hostKey }, env: { SSH_HOST_FINGERPRINT: pinned } });
    expect(await json(shutdown())).toMatchObject({ shutdown_sent: true });
    await h.close();

    h = await startHarness({ on: true, env: { SSH_HOST_FINGERPRINT: pinned } });
    const refused = await shutdown();
    expect(refused.status).toBe(502);
    const { detail } = await json(refused);
    expect(detail).toContain("does not match SSH_HOST_FINGERPRINT");
    expect(detail).toContain(h.sim.ssh.hostFingerprint);
    expect(h.sim.commands).toHaveLength(0);
  });
});

describe("trust on first use", () => {
  test("records the first host key, then refuses a different one with a way to accept it", async () => {
    const { dir, cleanup } = tempDir();
    const port = await freePort();
    const knownHostsFile = join(dir, "ssh_known_hosts.json");
    const target = {
      host: "127.0.0.1",
      port,
      user: "ia",
      password: SSH_PASS,
      sudoPassword: SUDO_PASS,
      hostKeys: { knownHostsFile },
      connectTimeoutMs: 3000,
    };
    const serve = async () => {
      const s = new SimSshServer({ user: "ia", password: SSH_PASS, run: () => ({ code: 0 }) });
      await s.listen(port);
      return s;
    };
    try {
      const first = await serve();
      expect(await sshShutdown(target, "shutdown -h now")).toMatchObject({ via: "sudo", exitCode: 0 });
      expect(await Bun.file(knownHostsFile).json()).toEqual({ [`[127.0.0.1]:${port}`]: first.hostFingerprint });
      await first.close();

      const reinstalled = await serve();
      const err = await sshShutdown(target, "shutdown -h now").catch((e) => e);
      expect(err).toBeInstanceOf(GatewayError);
      expect(err.status).toBe(502);
      expect(err.detail).toContain("changed");
      expect(err.detail).toContain(`SSH_HOST_FINGERPRINT=${reinstalled.hostFingerprint}`);
      expect(reinstalled.execs).toHaveLength(0);
      await reinstalled.close();
    } finally {
      cleanup();
    }
  });

  test("a damaged record is moved aside, visibly, and trust starts over", async () => {
    const { dir, cleanup } = tempDir();
    const port = await freePort();
    const knownHostsFile = join(dir, "ssh_known_hosts.json");
    await Bun.write(knownHostsFile, "{not json");
    const server = new SimSshServer({ user: "ia", password: SSH_PASS, run: () => ({ code: 0 }) });
    await server.listen(port);
    try {
      const target = { host: "127.0.0.1", port, user: "ia", password: SSH_PASS, hostKeys: { knownHostsFile } };
      expect(await sshShutdown(target, "shutdown -h now")).toMatchObject({ exitCode: 0 });
      expect(readdirSync(dir).some((f) => f.startsWith("ssh_known_hosts.json.corrupt-"))).toBe(true);
      expect(await Bun.file(knownHostsFile).json()).toEqual({ [`[127.0.0.1]:${port}`]: server.hostFingerprint });
    } finally {
      await server.close();
      cleanup();
    }
  });

  test("a connection to a port where nothing listens is a 502, not a hang", async () => {
    const { dir, cleanup } = tempDir();
    const target = { host: "127.0.0.1", port: await freePort(), user: "ia", password: "x", hostKeys: { knownHostsFile: join(dir, "k.json") } };
    const err = await sshShutdown(target, "shutdown -h now").catch((e) => e);
    expect(err.status).toBe(502);
    expect(err.detail).toContain("refused");
    cleanup();
  });
});

test("a server that never completes the handshake is a 502 timeout", async () => {
  const { dir, cleanup } = tempDir();
  // Accepts TCP connections and never says a word, like a half-booted machine.
  const silent = await Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  try {
    const target = {
      host: "127.0.0.1",
      port: silent.port,
      user: "ia",
      password: "x",
      connectTimeoutMs: 300,
      hostKeys: { knownHostsFile: join(dir, "k.json") },
    };
    const err = await sshShutdown(target, "shutdown -h now").catch((e) => e);
    expect(err.status).toBe(502);
    expect(err.detail).toContain("timed out after 0.3 s");
  } finally {
    silent.stop(true);
    cleanup();
  }
});

test("a server that hangs up during the handshake is a 502, not a request that waits for ever", async () => {
  const { dir, cleanup } = tempDir();
  const rude = await Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    // Says hello, then hangs up as soon as the client starts the key exchange.
    socket: { open: (sock) => void sock.write("SSH-2.0-OpenSSH_9.2\r\n"), data: (sock) => void sock.end() },
  });
  try {
    const target = {
      host: "127.0.0.1",
      port: rude.port,
      user: "ia",
      password: "x",
      connectTimeoutMs: 5000,
      hostKeys: { knownHostsFile: join(dir, "k.json") },
    };
    const err = await sshShutdown(target, "shutdown -h now").catch((e) => e);
    expect(err.status).toBe(502);
    expect(err.detail).toMatch(/closed before login|failed|lost/);
  } finally {
    rude.stop(true);
    cleanup();
  }
});

test("no secret reaches a response or a log line, even on failures", async () => {
  h = await startHarness({ on: true, machine: { sudoPassword: "nope" } });
  const bodies: string[] = [];
  for (const [method, path] of [
    ["GET", "/debug"],
    ["GET", "/status"],
    ["POST", "/arrancar"],
    ["POST", "/apagar"],
    ["POST", "/shutdown"],
    ["GET", "/test"],
  ] as const) {
    bodies.push(await (await h.api(path, { method })).text());
  }
  bodies.push(await (await fetch(h.url + "/status", { headers: { "X-API-Key": KEY + "x" } })).text());
  const everything = bodies.join("\n") + h.logs.join("\n");
  for (const secret of [KEY, SSH_PASS, SUDO_PASS]) expect(everything).not.toContain(secret);
  expect(h.logs.length).toBeGreaterThan(5);
});
