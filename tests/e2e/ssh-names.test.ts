// The SSH hints name the settings as the configuration writes them (issue 22, item 4): for a machine of the
// machines file, where the SSH_* variables must be unset, its ssh.user, ssh.key_path and ssh.password.
// Real logins to a simulated machine's SSH server on loopback.
import { afterEach, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createApp } from "../../src/app.ts";
import { parseConfig } from "../../src/config/config.ts";
import { secretsOf } from "../../src/config/view.ts";
import { memoryLogger } from "../../src/core/telemetry/logger.ts";
import { buildDeps, prepareFleet, startFleet } from "../../src/deps.ts";
import { serve } from "../../src/http/server.ts";
import { SimulatedMachine } from "../../src/sim/machine.ts";
import { json, KEY, SSH_PASS, tempDir } from "../helpers.ts";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A gateway whose one machine, `big`, is described by a machines file with these ssh settings; it is on. */
async function gatewayWithSsh(ssh: Record<string, unknown>, env: Record<string, string> = {}) {
  const sim = await new SimulatedMachine({ sshUser: "ia", sshPassword: SSH_PASS, bootDelayMs: 50 }).start({ on: true });
  cleanups.push(() => sim.stop());
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const file = join(dir, "machines.json");
  const machine = { name: "big", host: sim.host, mac: sim.mac, ollama_port: sim.ports.ollama, probe_timeout_ms: 1000 };
  const wol = { broadcast: "127.0.0.1", port: sim.ports.wol };
  writeFileSync(file, JSON.stringify({ machines: [{ ...machine, wol, ssh: { port: sim.ports.ssh, ...ssh } }] }));
  const parsed = parseConfig({ API_KEYS: KEY, MACHINES_FILE: file, STATUS_FILE: join(dir, "status.json"), ...env });
  if (!parsed.ok) throw new Error(parsed.errors.join("\n"));
  const deps = buildDeps(parsed.config, { logger: memoryLogger(secretsOf(parsed.config)), fastPollMs: 40 });
  await prepareFleet(deps);
  startFleet(deps);
  const server = serve(createApp(deps), { hostname: "127.0.0.1", port: 0 });
  cleanups.push(async () => {
    for (const u of deps.fleet.units) await u.monitor.stop();
    server.stop(true);
  });
  const res = await fetch(`http://127.0.0.1:${server.port}/machines/big/shutdown`, { method: "POST", headers: { "X-API-Key": KEY } });
  return { status: res.status, detail: String((await json(res)).detail), sim };
}

const NOT_THE_VARIABLES = ["SSH_USER", "SSH_PASS", "SSH_KEY_PATH"];

test("a failed login names the machine's ssh keys in the file, not the SSH_* variables", async () => {
  const r = await gatewayWithSsh({ user: "ia", password: "${BIG_SSH_PASS}" }, { BIG_SSH_PASS: "not-the-password-4d1c" });
  expect(r.status).toBe(502);
  expect(r.detail).toContain('SSH authentication failed for user "ia"');
  expect(r.detail).toContain("(check ssh.user and ssh.key_path or ssh.password of machines[0] (big) in MACHINES_FILE)");
  for (const v of NOT_THE_VARIABLES) expect(r.detail).not.toContain(v);
  expect(r.detail).not.toContain("not-the-password");
  expect(r.sim.commands).toHaveLength(0);
});

test("no way to log in, or a key_path that holds no key, is said the same way", async () => {
  const none = await gatewayWithSsh({ user: "ia" });
  expect(none.status).toBe(503);
  expect(none.detail).toBe("SSH is not configured: set ssh.key_path (preferred) or ssh.password of machines[0] (big) in MACHINES_FILE");

  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const notAKey = join(dir, "id_ed25519");
  writeFileSync(notAKey, "this is not a private key\n");
  const bad = await gatewayWithSsh({ user: "ia", key_path: notAKey });
  expect(bad.detail).toStartWith("ssh.key_path of machines[0] (big) in MACHINES_FILE does not hold a usable private key");
  for (const v of NOT_THE_VARIABLES) expect(bad.detail).not.toContain(v);
});
