import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseConfig } from "../../src/config/config.ts";
import { bunCommand, childEnv, ROOT, tempDir } from "../helpers.ts";

const minimal = { EQUIPO_IA: "ia.lan", IA_MAC: "AA:BB:CC:DD:EE:FF", API_KEYS: "key-one-1" };

describe("parseConfig", () => {
  test("applies the documented defaults", () => {
    const r = parseConfig(minimal);
    if (!r.ok) throw new Error(r.errors.join("\n"));
    expect(r.config).toMatchObject({
      machine: {
        name: "default",
        host: "ia.lan",
        mac: "aa:bb:cc:dd:ee:ff",
        ollamaPort: 11434,
        ssh: { port: 22 },
        shutdownCommand: "shutdown -h now",
        wol: { address: "255.255.255.255", port: 9 },
        statusFile: "status/status.json",
        probeTimeoutMs: 2000,
      },
      apiKeys: ["key-one-1"],
      listen: { host: "0.0.0.0", port: 8000 },
    });
  });

  test.each(["aa:bb:cc:dd:ee:ff", "AA-BB-CC-DD-EE-FF", "aabbccddeeff"])("accepts the MAC form %s", (mac) => {
    const r = parseConfig({ ...minimal, IA_MAC: mac });
    expect(r.ok && r.config.machine.mac).toBe("aa:bb:cc:dd:ee:ff");
  });

  test("splits API_KEYS on commas and ignores blanks", () => {
    const r = parseConfig({ ...minimal, API_KEYS: " key-aaaa , ,key-bbbb,, " });
    expect(r.ok && r.config.apiKeys).toEqual(["key-aaaa", "key-bbbb"]);
  });

  test("refuses API keys shorter than 8 characters", () => {
    const r = parseConfig({ ...minimal, API_KEYS: "long-enough-key,short" });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.errors).toEqual(["API_KEYS: every API key must be at least 8 characters long"]);
  });

  test("the sudo password defaults to the SSH password, and empty values count as unset", () => {
    const r = parseConfig({ ...minimal, SSH_PASS: "pw", SSH_SUDO_PASS: "", SSH_PORT: "" });
    expect(r.ok && r.config.machine.ssh).toMatchObject({ password: "pw", sudoPassword: "pw", port: 22 });
  });

  test("lists one line per problem, naming the variable and never its value", () => {
    const r = parseConfig({
      IA_MAC: "not-a-mac",
      API_KEYS: " , ",
      PORT: "99999",
      SSH_PASS: "hunter2-secret",
      SSH_HOST_FINGERPRINT: "md5:hunter2-secret",
      SSH_KEY_PATH: "/nonexistent/key",
    });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const vars = r.errors.map((e) => e.split(":")[0]).sort();
    expect(vars).toEqual(["API_KEYS", "EQUIPO_IA", "IA_MAC", "PORT", "SSH_HOST_FINGERPRINT", "SSH_KEY_PATH"]);
    expect(r.errors.join("\n")).not.toContain("hunter2");
  });
});

describe("the gateway process", () => {
  const gateway = bunCommand(join(ROOT, "src", "index.ts"));

  test("exits before listening when the configuration is bad, with the listed errors", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const proc = Bun.spawn(gateway, {
        cwd: dir,
        env: childEnv({ IA_MAC: "zz", SSH_PASS: "s3cr3t-value", PORT: "70000" }, dir),
        stderr: "pipe",
        stdout: "pipe",
      });
      const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
      expect(code).toBe(2);
      expect(stderr).toContain("EQUIPO_IA: required");
      expect(stderr).toContain("IA_MAC: expected a MAC address");
      expect(stderr).toContain("API_KEYS: required");
      expect(stderr).toContain("PORT: expected a listening port between 0 and 65535");
      expect(stderr).not.toContain("s3cr3t-value");
    } finally {
      cleanup();
    }
  });

  test("`bun run start` serves GET / with a good configuration, and creates the status file", async () => {
    const { dir, cleanup } = tempDir();
    const proc = Bun.spawn(gateway, {
      cwd: dir,
      env: childEnv({ ...minimal, EQUIPO_IA: "127.0.0.1", HOST: "127.0.0.1", PORT: "0", STATUS_FILE: join(dir, "status", "status.json") }, dir),
      stderr: "pipe",
    });
    try {
      const url = await listeningUrl(proc.stderr);
      expect(await (await fetch(url + "/")).json()).toMatchObject({ api: "ollama-gate", status: "running" });
      // readFileSync reads to the end: the gateway's first probe may be replacing the file right now.
      expect(JSON.parse(readFileSync(join(dir, "status", "status.json"), "utf8"))).toMatchObject({ peticions_ollama: 0 });
    } finally {
      proc.kill();
      await proc.exited;
      cleanup();
    }
  });

  test("keeps serving when whoever read its log goes away (a closed stderr pipe)", async () => {
    const { dir, cleanup } = tempDir();
    const env = childEnv({ ...minimal, EQUIPO_IA: "127.0.0.1", HOST: "127.0.0.1", PORT: "0", STATUS_FILE: join(dir, "status.json") }, dir);
    const proc = Bun.spawn(gateway, { cwd: dir, env, stderr: "pipe" });
    try {
      let seen = "";
      // Leaving the loop closes the pipe's reading end: every later log line fails to be written.
      for await (const chunk of proc.stderr) {
        seen += new TextDecoder().decode(chunk);
        if (/"url":"(http:[^"]+)"/.test(seen)) break;
      }
      const url = /"url":"(http:[^"]+)"/.exec(seen)![1]!;
      for (let i = 0; i < 20; i++) {
        // Each request writes an access-log line into the closed pipe; without care, one of the first few kills the process.
        expect((await fetch(url + "/", { headers: { Connection: "close" } })).status).toBe(200);
      }
      expect(proc.exitCode).toBeNull();
    } finally {
      proc.kill();
      await proc.exited;
      cleanup();
    }
  });
});

/**
 * The URL from the gateway's "listening" line. The rest of its stderr is still read afterwards, so the
 * pipe stays open (what happens when it closes is a test of its own, above).
 */
async function listeningUrl(stream: ReadableStream<Uint8Array>): Promise<string> {
  const decoder = new TextDecoder();
  const reader = stream.getReader();
  let seen = "";
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    seen += decoder.decode(r.value);
    const m = /"url":"(http:\/\/[^"]+)"/.exec(seen);
    if (!m) continue;
    void (async () => {
      while (!(await reader.read().catch(() => ({ done: true }))).done) {}
    })();
    return m[1]!;
  }
  throw new Error(`the gateway never said where it listens:\n${seen}`);
}
