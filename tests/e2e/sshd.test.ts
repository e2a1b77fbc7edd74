/**
 * Interop with a real OpenSSH server (Debian's openssh-server), not the ssh2-based simulator: proves the
 * gateway can read an OpenSSH ed25519 key, pin or learn the host key as `ssh-keygen -lf` prints it, and
 * send the shutdown command with the sudo password on stdin.
 *
 * Safety: sshd runs with `ForceCommand <recorder>`, so whatever the gateway asks for is only written to a
 * file; no shell ever runs the shutdown command.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp } from "../../src/app.ts";
import { parseConfig } from "../../src/config/config.ts";
import { secretsOf } from "../../src/config/view.ts";
import { memoryLogger } from "../../src/core/telemetry/logger.ts";
import { buildDeps } from "../../src/deps.ts";
import { freePort } from "../../src/sim/ports.ts";
import { childEnv, scratchDir } from "../helpers.ts";

const SSHD = "/usr/sbin/sshd";
const API_KEY = "sshd-interop-key-5e4d3c2b1a";
const SUDO_SECRET = `sudo'pw "q" $HOME $(id) \`id\``;
const SENT_COMMAND = "sudo -S -p '' shutdown -h now";

function skipReason(): string | undefined {
  if (!existsSync(SSHD)) return `${SSHD} is missing (apt-get install openssh-server)`;
  if (process.getuid?.() !== 0) return "not running as root (sshd must run as root here)";
  if (!Bun.which("ssh-keygen")) return "ssh-keygen is missing (apt-get install openssh-client)";
  return undefined;
}
const SKIP = skipReason();
if (SKIP) console.warn(`tests/sshd.test.ts: skipping the real OpenSSH sshd tests: ${SKIP}`);

function run(cmd: string[]): string {
  const r = Bun.spawnSync(cmd, { cwd: scratchDir(), env: childEnv(), stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")} failed (exit ${r.exitCode}): ${r.stderr.toString()}`);
  return r.stdout.toString();
}

let dir = "";
let sshd: Bun.Subprocess<"ignore", "ignore", "pipe"> | undefined;
let sshdLog = "";
let sshPort = 0;
let ollamaPort = 0;
let hostFingerprint = "";
let commandsFile = "";
let stdinFile = "";
let clientKey = "";
let user = "";

/** Starts sshd and resolves once it logs that it listens; rejects if it exits or stays silent too long. */
async function startSshd(configFile: string, port: number): Promise<void> {
  const proc = Bun.spawn([SSHD, "-D", "-e", "-f", configFile], {
    cwd: dir,
    env: childEnv({}, dir),
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  sshd = proc;
  const marker = `Server listening on 127.0.0.1 port ${port}`;
  let onReady!: () => void;
  const listening = new Promise<void>((resolve) => (onReady = resolve));
  // Keep draining stderr for the whole run: a full pipe would stall sshd.
  void (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of proc.stderr) {
      sshdLog += decoder.decode(chunk, { stream: true });
      if (sshdLog.includes(marker)) onReady();
    }
  })();
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      listening,
      proc.exited.then((code) => Promise.reject(new Error(`sshd exited with ${code} before listening:\n${sshdLog}`))),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`sshd did not report "${marker}" within 10 s:\n${sshdLog}`)), 10_000);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A gateway pointed at the local sshd; each one gets its own status directory. */
async function startGateway(env: Record<string, string | undefined>) {
  const statusDir = mkdtempSync(join(dir, "gateway-"));
  const parsed = parseConfig({
    EQUIPO_IA: "127.0.0.1",
    IA_MAC: "02:00:5e:10:00:01",
    OLLAMA_PORT: String(ollamaPort),
    SSH_PORT: String(sshPort),
    SSH_USER: user,
    SSH_KEY_PATH: clientKey,
    SSH_SUDO_PASS: SUDO_SECRET,
    WOL_BROADCAST: "127.0.0.1",
    WOL_PORT: "9",
    API_KEYS: API_KEY,
    STATUS_FILE: join(statusDir, "status.json"),
    PROBE_TIMEOUT_MS: "1000",
    ...env,
  });
  if (!parsed.ok) throw new Error(parsed.errors.join("\n"));
  const logger = memoryLogger(secretsOf(parsed.config));
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: createApp(buildDeps(parsed.config, { logger })).fetch });
  return {
    logs: logger.lines,
    knownHostsFile: join(statusDir, "ssh_known_hosts.json"),
    shutdown: () => fetch(`http://127.0.0.1:${server.port}/shutdown`, { method: "POST", headers: { "X-API-Key": API_KEY } }),
    close: () => server.stop(true),
  };
}

const recordedCommands = () => readFileSync(commandsFile, "utf8");
const recordedStdin = () => readFileSync(stdinFile, "utf8");

describe.skipIf(Boolean(SKIP))(SKIP ? `real OpenSSH sshd (skipped: ${SKIP})` : "real OpenSSH sshd", () => {
  beforeAll(async () => {
    if (SKIP) return;
    // Not os.userInfo(): under Bun its username comes from $USER, which is empty or wrong in many CI shells.
    user = run(["id", "-un"]).trim();
    dir = mkdtempSync(join(tmpdir(), "ollama-gate-sshd-"));
    const hostKey = join(dir, "host_ed25519");
    clientKey = join(dir, "client_ed25519");
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ollama-gate test host", "-f", hostKey]);
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ollama-gate test client", "-f", clientKey]);
    // "256 SHA256:… comment (ED25519)": the second field is what an operator copies into SSH_HOST_FINGERPRINT.
    hostFingerprint = run(["ssh-keygen", "-lf", `${hostKey}.pub`])
      .trim()
      .split(/\s+/)[1]!;
    expect(hostFingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    writeFileSync(join(dir, "authorized_keys"), readFileSync(`${clientKey}.pub`, "utf8"), { mode: 0o600 });

    commandsFile = join(dir, "commands.log");
    stdinFile = join(dir, "stdin.log");
    const recorder = join(dir, "recorder.sh");
    writeFileSync(
      recorder,
      [
        "#!/bin/sh",
        "# Records what the client asked for and what it sent on stdin. It never runs the command.",
        `printf '%s\\n' "$SSH_ORIGINAL_COMMAND" >> '${commandsFile}'`,
        `cat >> '${stdinFile}'`,
        "exit 0",
        "",
      ].join("\n"),
    );
    chmodSync(recorder, 0o755);

    sshPort = await freePort();
    ollamaPort = await freePort(); // nothing listens there
    const configFile = join(dir, "sshd_config");
    writeFileSync(
      configFile,
      [
        "ListenAddress 127.0.0.1",
        `Port ${sshPort}`,
        `HostKey ${hostKey}`,
        `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PubkeyAuthentication yes",
        "PermitRootLogin prohibit-password",
        "StrictModes no",
        "UsePAM no",
        `PidFile ${join(dir, "sshd.pid")}`,
        `ForceCommand ${recorder}`,
        `AllowUsers ${user}`,
        "LogLevel VERBOSE",
        "",
      ].join("\n"),
    );
    mkdirSync("/run/sshd", { recursive: true, mode: 0o755 }); // sshd's privilege separation directory
    await startSshd(configFile, sshPort);
  });

  afterAll(async () => {
    if (sshd) {
      sshd.kill();
      await sshd.exited;
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(() => {
    writeFileSync(commandsFile, "");
    writeFileSync(stdinFile, "");
  });

  test("pinned host key: /shutdown runs sudo with the password on stdin, and the password leaks nowhere", async () => {
    const gw = await startGateway({ SSH_HOST_FINGERPRINT: hostFingerprint });
    try {
      const res = await gw.shutdown();
      const text = await res.text();
      expect(res.status, text).toBe(200);
      expect(JSON.parse(text)).toMatchObject({ success: true, shutdown_sent: true });

      expect(recordedCommands()).toBe(`${SENT_COMMAND}\n`);
      expect(recordedStdin()).toBe(`${SUDO_SECRET}\n`);

      expect(text).not.toContain(SUDO_SECRET);
      expect(gw.logs.some((l) => l.includes("shutdown command sent"))).toBe(true);
      for (const line of gw.logs) expect(line).not.toContain(SUDO_SECRET);
      expect(sshdLog).not.toContain(SUDO_SECRET);
      // A pinned key is never written to the trust-on-first-use record.
      expect(existsSync(gw.knownHostsFile)).toBe(false);
    } finally {
      gw.close();
    }
  });

  test("a host key that does not match SSH_HOST_FINGERPRINT is refused with 502 and runs nothing", async () => {
    const wrong = "SHA256:" + createHash("sha256").update("not the host key").digest("base64").replace(/=+$/, "");
    expect(wrong).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(wrong).not.toBe(hostFingerprint);
    const gw = await startGateway({ SSH_HOST_FINGERPRINT: wrong });
    try {
      const res = await gw.shutdown();
      const body = (await res.json()) as { detail: string };
      expect(res.status).toBe(502);
      expect(body.detail).toContain("host key");
      expect(body.detail).toContain(hostFingerprint);
      expect(body.detail).toContain("SSH_HOST_FINGERPRINT");
      expect(recordedCommands()).toBe("");
      expect(recordedStdin()).toBe("");
    } finally {
      gw.close();
    }
  });

  test("trust on first use: without SSH_HOST_FINGERPRINT the first shutdown records the key, the next one uses it", async () => {
    const gw = await startGateway({ SSH_HOST_FINGERPRINT: undefined });
    try {
      const first = await gw.shutdown();
      expect(first.status, await first.clone().text()).toBe(200);
      expect(await first.json()).toMatchObject({ success: true, shutdown_sent: true });
      expect(recordedCommands()).toBe(`${SENT_COMMAND}\n`);
      expect(JSON.parse(readFileSync(gw.knownHostsFile, "utf8"))).toEqual({ [`[127.0.0.1]:${sshPort}`]: hostFingerprint });

      const second = await gw.shutdown();
      expect(second.status, await second.clone().text()).toBe(200);
      expect(recordedCommands()).toBe(`${SENT_COMMAND}\n${SENT_COMMAND}\n`);
      expect(recordedStdin()).toBe(`${SUDO_SECRET}\n${SUDO_SECRET}\n`);
      for (const line of gw.logs) expect(line).not.toContain(SUDO_SECRET);
    } finally {
      gw.close();
    }
  });
});
