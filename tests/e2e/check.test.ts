// `check` and `--help` (issue 22, item 4): each runs the real entry point in a process of its own, in a temp
// directory, with an explicit environment. The configured PORT is held by the test the whole time: a
// process that tried to listen would stop with "port in use" (exit 1), so exit 0 shows it never tried.
import { afterEach, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import dgram from "node:dgram";
import { existsSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { bunCommand, childEnv, ROOT, tempDir } from "../helpers.ts";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const INDEX = join(ROOT, "src", "index.ts");
const DEMO = join(ROOT, "src", "sim", "demo.ts");

/** Runs a command to its end (killed past a deadline: a gateway that started instead never ends). */
async function run(cmd: string[], cwd: string, env: Record<string, string>) {
  const proc = Bun.spawn(cmd, { cwd, env, stdout: "pipe", stderr: "pipe" });
  const deadline = setTimeout(() => proc.kill(), 20_000);
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(deadline);
  return { out, err, code };
}

/** A loopback TCP listener that counts who connects: the SSH port, Ollama's, a plug, a webhook receiver. */
async function tcpCounter() {
  let connections = 0;
  const server: Server = createServer((s) => {
    connections++;
    s.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return { port: (server.address() as { port: number }).port, count: () => connections };
}

async function udpCounter() {
  let packets = 0;
  const socket = dgram.createSocket("udp4");
  socket.on("message", () => packets++);
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  cleanups.push(() => socket.close());
  return { port: socket.address().port, count: () => packets };
}

/** A temp working directory, and the explicit environment every child gets: nothing of the user's. */
function sandbox() {
  const { dir, cleanup } = tempDir("ollama-gate-check-");
  cleanups.push(cleanup);
  return { dir, base: childEnv({}, dir) };
}

// Every secret below holds "planted": the output must hold that word nowhere.
const SECRETS = {
  BIG_SSH_PASS: "planted-ssh-pass-1",
  FAMILY_KEY: "planted-family-key-2",
  API_KEYS: "planted-env-key-3",
  NTFY_TOKEN: "tk_planted-ntfy-token-4",
};

test("check reads env, .env and both files, prints what it understood without a secret, and starts, probes and sends nothing", async () => {
  const { dir, base } = sandbox();
  const ssh = await tcpCounter();
  const ollama = await tcpCounter();
  const plug = await tcpCounter();
  const hook = await tcpCounter();
  const wol = await udpCounter();
  const held = await tcpCounter(); // the gateway's PORT
  writeFileSync(
    join(dir, "machines.yaml"),
    `machines:
  - name: big
    host: 127.0.0.1
    mac: "52:54:00:12:34:56"
    ollama_port: ${ollama.port}
    ssh: { user: ia, port: ${ssh.port}, password: "\${BIG_SSH_PASS}" }
    wol: { broadcast: 127.0.0.1, port: ${wol.port} }
    idle_shutdown_min: 20
    keep_on: [{ cron: "0 8 * * 1-5", for_min: 600, name: workday }]
  - name: small
    host: 127.0.0.1
    ollama_port: ${ollama.port}
    models: ["qwen2.5:7b"]
    power_on: { http: { url: "http://127.0.0.1:${plug.port}/relay/0?turn=on&token=planted-plug-token-5", method: POST } }
    power_off: { command: [/usr/bin/env, planted-command-arg-6] }
`,
  );
  const chatHash = createHash("sha256").update("planted-hashed-key-7").digest("hex");
  writeFileSync(
    join(dir, "keys.yaml"),
    `keys:
  - { name: ops, key: planted-file-key-8, role: admin }
  - { name: family, key: "\${FAMILY_KEY}", role: user }
  - { name: chat-app, key_sha256: ${chatHash}, role: inference, machines: [small], models: ["qwen*"] }
`,
  );
  // The .env in the working directory: Bun reads it, as it does for a start.
  const dotenv = {
    ...SECRETS,
    HOST: "127.0.0.1",
    PORT: String(held.port),
    MACHINES_FILE: join(dir, "machines.yaml"),
    KEYS_FILE: join(dir, "keys.yaml"),
    STATUS_FILE: join(dir, "status", "status.json"),
    TZ: "Europe/Madrid",
    // Discord's shape (its token in the path) and ntfy's (the topic is the password), on loopback: a test
    // names no other address, even one it never sends to.
    WEBHOOK_URLS: `http://127.0.0.1:${hook.port}/api/webhooks/123456/planted-discord-token-9,http://127.0.0.1:${hook.port}/hook?secret=planted-hook-10`,
    NTFY_URL: `http://127.0.0.1:${hook.port}/planted-topic-11`,
    MQTT_URL: `mqtts://ha:planted-mqtt-12@127.0.0.1:${hook.port}`, // nothing connects to it: check starts nothing
    IDLE_SHUTDOWN_MINS: "1", // a slip: the default stays, and check says so
  };
  writeFileSync(
    join(dir, ".env"),
    Object.entries(dotenv)
      .map(([k, v]) => `${k}=${v}\n`)
      .join(""),
  );

  // Without --no-env-file: the .env in its (temp) working directory is part of what is checked.
  const { out, err, code } = await run([process.execPath, INDEX, "check"], dir, base);
  expect({ code, err }).toEqual({ code: 0, err: "" });
  expect(out).toContain(`Listens on: http://127.0.0.1:${held.port}`);
  expect(out).toContain("Machines: 2, from MACHINES_FILE");
  expect(out).toContain("big (default): 127.0.0.1");
  expect(out).toContain(`magic packet for 52:54:00:12:34:56 to 127.0.0.1:${wol.port}/udp`);
  expect(out).toContain(`SSH ia@127.0.0.1:${ssh.port} (password)`);
  expect(out).toContain("switched off after 20 min idle");
  expect(out).toContain('kept on "workday" (0 8 * * 1-5, for 600 min)');
  expect(out).toContain("time zone Europe/Madrid");
  expect(out).toContain(`wake:     HTTP POST to 127.0.0.1:${plug.port}`);
  expect(out).toContain("shutdown: command env (its arguments not shown)");
  expect(out).toMatch(/Keys: 4, from API_KEYS \(1\) and KEYS_FILE/);
  expect(out).toMatch(/admin\s+2: api-key-1, ops/);
  expect(out).toMatch(/user\s+1: family/);
  expect(out).toMatch(/inference\s+1: chat-app \[machines small; models qwen\*\]/);
  expect(out).toContain(`webhook 1 to 127.0.0.1:${hook.port}, webhook 2 to 127.0.0.1:${hook.port}, ntfy to 127.0.0.1:${hook.port} (with a token)`);
  expect(out).toContain(`Home Assistant: MQTT to 127.0.0.1:${hook.port} (TLS), topics ollama-gate/…, discovery homeassistant/…`);
  expect(out).toContain("commands as the role admin (whoever may publish on the broker may shut machines down)");
  expect(out).toContain("unknown variable IDLE_SHUTDOWN_MINS (did you mean IDLE_SHUTDOWN_MIN?)");
  expect(out).not.toContain("planted");
  // Nothing was started: no connection, no packet, no status directory.
  expect([ssh.count(), ollama.count(), plug.count(), hook.count(), wol.count(), held.count()]).toEqual([0, 0, 0, 0, 0, 0]);
  expect(existsSync(join(dir, "status"))).toBe(false);
});

test("check prints every problem it finds, no secret among them, and exits 2", async () => {
  const { dir, base } = sandbox();
  const held = await tcpCounter();
  writeFileSync(
    join(dir, "machines.yaml"),
    'machines:\n  - name: big\n    host: 127.0.0.1\n    ollama_prot: 11434\n    ssh: { user: ia, password: "${UNSET_PASS}" }\n',
  );
  const env = { ...base, API_KEYS: "planted-env-key-3", MACHINES_FILE: join(dir, "machines.yaml"), HOST: "127.0.0.1", PORT: String(held.port) };
  const { out, err, code } = await run(bunCommand(INDEX, "check"), dir, env);
  expect(code).toBe(2);
  expect(out).toBe("");
  expect(err).toContain(`invalid machines file ${join(dir, "machines.yaml")} (see "Several machines" in README.md)`);
  expect(err).toContain("ollama_prot");
  expect(err).toContain("UNSET_PASS");
  expect(err).not.toContain("planted");
  expect(held.count()).toBe(0);
});

test("--help and -h print the gateway's usage and exit 0 without starting; an unknown word is the usage on stderr, exit 2", async () => {
  const { dir, base } = sandbox();
  const held = await tcpCounter();
  // A configuration that would start: were --help ignored, the gateway would try the held port and exit 1.
  const env = {
    ...base,
    EQUIPO_IA: "127.0.0.1",
    IA_MAC: "52:54:00:12:34:56",
    API_KEYS: "planted-env-key-3",
    HOST: "127.0.0.1",
    PORT: String(held.port),
  };
  for (const flag of ["--help", "-h"]) {
    const { out, err, code } = await run(bunCommand(INDEX, flag), dir, env);
    expect({ flag, code, err }).toEqual({ flag, code: 0, err: "" });
    expect(out).toContain("Usage:");
    for (const word of ["[start]", "check", "healthcheck", ".env.example", 'README "Configuration"']) expect(out).toContain(word);
  }
  const wrong = await run(bunCommand(INDEX, "chekc"), dir, env);
  expect(wrong.code).toBe(2);
  expect(wrong.out).toBe("");
  expect(wrong.err).toContain('unknown command or option "chekc"');
  expect(wrong.err).toContain("Usage:");
  expect(held.count()).toBe(0);
  expect(existsSync(join(dir, "status"))).toBe(false);
});

test("the demo's --help prints its usage, DEMO_BOOT_DELAY_MS included, and starts nothing; an unknown word exits 2", async () => {
  const { dir, base } = sandbox();
  const held = await tcpCounter();
  // PORT named and held: a demo that started would say the port is taken and exit 1.
  const env = { ...base, PORT: String(held.port) };
  const { out, err, code } = await run(bunCommand(DEMO, "--help"), dir, env);
  expect({ code, err }).toEqual({ code: 0, err: "" });
  expect(out).toContain("Usage:");
  expect(out).toContain("DEMO_BOOT_DELAY_MS");
  expect(out).toContain("npm run sim");
  const wrong = await run(bunCommand(DEMO, "--bogus"), dir, env);
  expect(wrong.code).toBe(2);
  expect(wrong.err).toContain('unknown argument "--bogus"');
  expect(wrong.out).toBe("");
  expect(held.count()).toBe(0);
});
